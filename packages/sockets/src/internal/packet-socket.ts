import { chmodSync, existsSync } from 'node:fs';
import { dirname } from 'node:path';
import { AlreadyExistsError, NotFoundError, fromSystemError } from '@ipcx/core';
import { socket as sock, type SocketType } from '@ipcx/native';
import type { ResolvedAddress } from '../address.js';
import { connectError, removeStaleSocket } from './connect.js';

function nativeAddress(address: ResolvedAddress): string | { abstract: string } {
  return address.kind === 'abstract' ? { abstract: address.name } : address.name;
}

/** Probes a socket file with a socket of `type`: the errno code of connect, or undefined if it connected. */
function probe(type: SocketType): (path: string) => Promise<string | undefined> {
  return async (path) => {
    const fd = sock(type);
    try {
      sock.connect(fd, path);
      return undefined;
    } catch (error) {
      return (error as NodeJS.ErrnoException).code ?? 'EIO';
    } finally {
      sock.close(fd);
    }
  };
}

/**
 * A new socket of `type` bound to `address`, the file chmod'ed to `mode` at once. A stale socket file (nobody
 * answers) is replaced; a live one, or a path that is not a socket, is `AlreadyExistsError`.
 */
export async function bindPacketSocket(type: SocketType, address: ResolvedAddress, mode: number): Promise<number> {
  for (let attempt = 0; ; attempt++) {
    const fd = sock(type);
    try {
      sock.bind(fd, nativeAddress(address));
      if (address.kind === 'path') chmodSync(address.name, mode);
      return fd;
    } catch (error) {
      sock.close(fd);
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' && address.kind === 'path' && !existsSync(dirname(address.name))) {
        throw new NotFoundError(`directory ${dirname(address.name)} for socket ${address.display}`, { cause: error });
      }
      if (code !== 'EADDRINUSE') throw fromSystemError(`bind ${type} socket ${address.display}`, error);
      if (address.kind === 'abstract') throw new AlreadyExistsError(`abstract socket ${address.display}`, { cause: error });
      if (attempt >= 2) throw new AlreadyExistsError(`socket ${address.display}`, { cause: error });
      await removeStaleSocket(address.name, probe(type));
    }
  }
}

/** Connects a new socket of `type` to `address` (immediate for Unix sockets); returns the descriptor. */
export function connectPacketSocket(type: SocketType, address: ResolvedAddress): number {
  const fd = sock(type);
  try {
    sock.connect(fd, nativeAddress(address));
    return fd;
  } catch (error) {
    sock.close(fd);
    // EPROTOTYPE (a stream server listens there) falls through to fromSystemError.
    throw connectError(address.display, error);
  }
}

export { nativeAddress };
