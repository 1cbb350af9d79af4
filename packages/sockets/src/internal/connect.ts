import { existsSync } from 'node:fs';
import { lstat, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import net, { type Server, type Socket } from 'node:net';
import { AlreadyExistsError, NotFoundError, type IpcError, type WaitOptions } from '@ipcx/core';
import { fromSystemError, waitFor } from '@ipcx/core/transport';
import { errnoError } from '@ipcx/core/transport';
import type { ResolvedAddress } from '../address.js';
import { ownSocket } from './direct-read.js';

/** Maps a failed connect to a typed error: nobody there is `NotFoundError`, a full backlog `FullError`. */
export function connectError(what: string, error: unknown): IpcError {
  // ENOENT and ECONNREFUSED (a socket file nobody listens on, an abstract name nobody holds, a closed TCP port)
  // are NotFoundError; EAGAIN (a full backlog) is FullError.
  return errnoError(error, `connect to ${what}`);
}

/**
 * Opens a `net` connection and resolves once it is connected; `{ signal, timeout }` end the attempt (the
 * half-open socket is destroyed). Rejects with a typed error (see `connectError`).
 */
export function connectSocket(
  what: string,
  options: net.NetConnectOpts,
  wait: WaitOptions | undefined,
): Promise<Socket> {
  return waitFor<Socket>(`connect to ${what}`, wait, (settle) => {
    const socket = net.connect(options);
    const cleanup = (): void => {
      socket.off('connect', onConnect);
      socket.off('error', onError);
    };
    const onConnect = (): void => {
      cleanup();
      settle.resolve(ownSocket(socket));
    };
    const onError = (error: Error): void => {
      cleanup();
      socket.destroy();
      settle.reject(connectError(what, error));
    };
    socket.once('connect', onConnect);
    socket.once('error', onError);
    return () => {
      cleanup();
      socket.destroy();
    };
  });
}

/** `server.listen(options)` as a promise: resolves when listening, rejects with the raw errno error. */
export function listenOnce(server: Server, options: net.ListenOptions, afterBind?: () => void): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const onError = (error: Error): void => {
      server.off('listening', onListening);
      reject(error);
    };
    const onListening = (): void => {
      server.off('error', onError);
      resolve();
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen(options);
    // For a Unix path, bind(2) and listen(2) ran synchronously inside listen(): act on the file before any
    // connection is accepted (e.g. chmod it to the requested mode).
    if (server.listening) afterBind?.();
  });
}

/**
 * A bind found `path` in use. If it is a socket file nobody answers on (its server died without removing
 * it: connect gets ECONNREFUSED), remove it so the caller can bind again; if a server answers, or the path
 * is not a socket at all, it is `AlreadyExistsError`. `probe` tries a connection with a socket of the
 * right type and resolves to the errno code it got, or undefined when it connected.
 */
export async function removeStaleSocket(
  path: string,
  probe: (path: string) => Promise<string | undefined>,
): Promise<void> {
  let stat;
  try {
    stat = await lstat(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return; // gone meanwhile: just bind again
    throw fromSystemError(`inspect ${path}`, error);
  }
  if (!stat.isSocket()) throw new AlreadyExistsError(`${path} (and it is not a socket)`);
  const code = await probe(path);
  if (code === 'ENOENT') return;
  if (code !== 'ECONNREFUSED') {
    throw new AlreadyExistsError(`socket ${path} (a server is listening on it)`, {
      cause: code === undefined ? undefined : Object.assign(new Error(code), { code }),
    });
  }
  try {
    await unlink(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw fromSystemError(`remove stale socket ${path}`, error);
  }
}

/** Probes a Unix stream socket file: the errno code of a connect, or undefined when a server accepted it. */
export function probeStream(path: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    const socket = net.connect({ path });
    const timer = setTimeout(() => {
      socket.destroy();
      resolve('ETIMEDOUT'); // something holds the socket but does not accept: treat as alive
    }, 1000);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.destroy();
      resolve(undefined);
    });
    socket.once('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      resolve(error.code ?? 'EIO');
    });
  });
}

/**
 * Binds a Unix socket with `attempt` (which rejects with the raw errno error), replacing a stale socket file:
 * EADDRINUSE on a path nobody answers on (`probe`: connect gets ECONNREFUSED) removes the file and tries
 * again; a live server's path, a path that is not a socket, or an abstract name in use is `AlreadyExistsError`.
 * A missing directory is `NotFoundError` (libuv reports it as EACCES, the kernel as ENOENT).
 */
export async function bindReplacingStale<R>(
  address: ResolvedAddress,
  what: string,
  attempt: () => R | Promise<R>,
  probe: (path: string) => Promise<string | undefined>,
): Promise<R> {
  for (let tries = 0; ; tries++) {
    try {
      return await attempt();
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if ((code === 'EACCES' || code === 'ENOENT') && address.kind === 'path' && !existsSync(dirname(address.name))) {
        throw new NotFoundError(`directory ${dirname(address.name)} for socket ${address.display}`, { cause: error });
      }
      if (code !== 'EADDRINUSE') throw fromSystemError(`${what} ${address.display}`, error);
      if (address.kind === 'abstract')
        throw new AlreadyExistsError(`abstract socket ${address.display}`, { cause: error });
      if (tries >= 2) throw new AlreadyExistsError(`socket ${address.display}`, { cause: error });
      await removeStaleSocket(address.name, probe);
    }
  }
}
