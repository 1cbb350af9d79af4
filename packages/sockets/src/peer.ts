import type { Socket } from 'node:net';
import { PermissionError, SystemError, type WaitOptions } from '@ipcx/core';
import { waitFor } from '@ipcx/core/transport';
import { peerCredentials, type PeerCredentials } from '@ipcx/native';

export type { PeerCredentials };

/**
 * Decides whether a Unix socket peer may connect, from its credentials (taken by the kernel at connect time,
 * SO_PEERCRED). May be async; a refused peer is disconnected before anything it sent is read.
 */
export type Authorize = (peer: PeerCredentials) => boolean | Promise<boolean>;

/** The default `authorize`: only processes running as this process's user (same uid) may connect. */
export const sameUser: Authorize = (peer) => peer.uid === process.getuid?.();

/**
 * The default `authorize` of a client (`UnixSocket.connect`, `SeqPacketSocket.connect`): the server runs as this
 * process's user or as root. A server of another user that took the name first (squatting a path in a shared
 * directory) is refused with `PermissionError` before anything is sent to it.
 */
export const sameUserOrRoot: Authorize = (peer) => peer.uid === process.getuid?.() || peer.uid === 0;

/** The credentials of the process at the other end of a connected Unix socket made by node:net. */
export function credentialsOf(socket: Socket): PeerCredentials {
  const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0)
    throw new SystemError('reading peer credentials (the socket has no descriptor)');
  return peerCredentials(fd);
}

/** Runs `authorize` on a peer; resolves to the credentials or rejects with `PermissionError`. */
export async function vet(
  peer: PeerCredentials,
  authorize: Authorize,
  what: string,
  wait?: WaitOptions,
): Promise<PeerCredentials> {
  // An async authorize runs under the caller's timeout and signal: a check that hangs must not hang a connect.
  const allowed =
    wait === undefined
      ? await authorize(peer)
      : await waitFor<boolean>(`authorize for ${what}`, wait, (settle) => {
          Promise.resolve(authorize(peer)).then(settle.resolve, settle.reject);
          return () => {};
        });
  if (!allowed) {
    throw new PermissionError(`${what} refused peer pid ${peer.pid} (uid ${peer.uid}, gid ${peer.gid})`);
  }
  return peer;
}

/** What is left of `wait`'s timeout `started` (performance.now()) ago, with its signal; undefined for none. */
export function remaining(wait: WaitOptions | undefined, started: number): WaitOptions | undefined {
  if (wait === undefined) return undefined;
  const left: WaitOptions = {};
  if (wait.signal !== undefined) left.signal = wait.signal;
  if (wait.timeout !== undefined) left.timeout = Math.max(0, wait.timeout - (performance.now() - started));
  return left;
}
