import type { Socket } from 'node:net';
import { PermissionError, SystemError } from '@ipcx/core';
import { peerCredentials, type PeerCredentials } from '@ipcx/native';

export type { PeerCredentials };

/**
 * Decides whether a Unix socket peer may connect, from its credentials (taken by the kernel at connect time,
 * SO_PEERCRED). May be async; a refused peer is disconnected before anything it sent is read.
 */
export type Authorize = (peer: PeerCredentials) => boolean | Promise<boolean>;

/** The default `authorize`: only processes running as this process's user (same uid) may connect. */
export const sameUser: Authorize = (peer) => peer.uid === process.getuid?.();

/** The credentials of the process at the other end of a connected Unix socket made by node:net. */
export function credentialsOf(socket: Socket): PeerCredentials {
  const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) throw new SystemError('reading peer credentials (the socket has no descriptor)');
  return peerCredentials(fd);
}

/** Runs `authorize` on a peer; resolves to the credentials or rejects with `PermissionError`. */
export async function vet(peer: PeerCredentials, authorize: Authorize, what: string): Promise<PeerCredentials> {
  if (!(await authorize(peer))) {
    throw new PermissionError(`${what} refused peer pid ${peer.pid} (uid ${peer.uid}, gid ${peer.gid})`);
  }
  return peer;
}
