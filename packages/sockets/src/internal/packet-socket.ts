import { chmodSync } from 'node:fs';
import { socket as sock, type SocketType } from '@ipcx/native';
import type { ResolvedAddress } from '../address.js';
import { bindReplacingStale, connectError } from './connect.js';

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
export function bindPacketSocket(type: SocketType, address: ResolvedAddress, mode: number): Promise<number> {
  return bindReplacingStale(
    address,
    `bind ${type} socket`,
    () => {
      const fd = sock(type);
      try {
        sock.bind(fd, nativeAddress(address));
        if (address.kind === 'path') chmodSync(address.name, mode);
        return fd;
      } catch (error) {
        sock.close(fd);
        throw error;
      }
    },
    probe(type),
  );
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
