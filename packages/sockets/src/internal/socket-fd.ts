import type { Socket } from 'node:net';

/**
 * The descriptor of a node:net socket's handle (libuv's), or -1 while it has none (still connecting, closed).
 * The stream channels read and write it directly on their fast paths, only in states where libuv holds
 * nothing of its own for it (see StreamSpin and FrameWriter).
 */
export function socketFd(socket: Socket): number {
  if (socket.connecting) return -1;
  const fd = (socket as unknown as { _handle?: { fd?: unknown } | null })._handle?.fd;
  return typeof fd === 'number' ? fd : -1;
}
