import net, { type Socket } from 'node:net';
import { socket as sock } from '@ipcx/native';
import { socketFd } from './socket-fd.js';

/** Bytes of the buffer directly read sockets read into. */
const READ_BUFFER_BYTES = 64 * 1024;

/**
 * The one read buffer of every directly read socket of this thread. Sharing it is safe: libuv reads one socket
 * at a time, on this thread, and hands each read to its callback before the next, and the callback keeps
 * nothing of it (frames are decoded as transient, partial frames copied). A server with thousands of clients
 * holds 64 KiB, not 64 KiB per client.
 */
let sharedBuffer: Buffer | undefined;

/** Sockets that ipcx made (connected, accepted, opened) and nobody else holds: a channel may re-wrap them. */
const owned = new WeakSet<Socket>();

/** Marks a socket ipcx created itself, so that the channel it is handed to may replace it (see `readDirectly`). */
export function ownSocket<S extends Socket>(socket: S): S {
  owned.add(socket);
  return socket;
}

/**
 * Moves a connected socket that ipcx owns onto a new `net.Socket` over a duplicate of its descriptor, created
 * with node:net's `onread` option: each read lands in one reused 64 KiB buffer (shared by every such socket of
 * the thread) and is handed to `onRead` at once, without node:net's Readable (no chunk Buffer per read, no
 * 'data' event, no read-more tick before the receiver's microtask). The original is destroyed (its descriptor
 * closed; the connection stays open through the duplicate). `onRead` returning false stops reading until
 * `resume()`; 'end', 'error' and 'close' come as before, from the new socket.
 *
 * Measured with a subscriber process woken once a millisecond (issue 15, alternating A/B rounds): its loop body
 * runs 15-20 µs sooner (p50) than through 'data' events.
 *
 * Returns undefined, leaving the socket as it is, when it is not one ipcx owns, or is in any state where
 * node:net already holds bytes of it (read but not yet consumed, or queued for writing) or has none (closed,
 * connecting, no descriptor).
 */
export function readDirectly(socket: Socket, onRead: (length: number, buffer: Buffer) => boolean): Socket | undefined {
  if (!owned.has(socket)) return undefined;
  if (socket.destroyed || socket.readableLength !== 0 || socket.writableLength !== 0) return undefined;
  // Not `writableEnded`: a read-only socket (a FIFO's reading end) reports its writable side ended from the start.
  if (socket.readableEnded || socket.listenerCount('data') > 0) return undefined;
  const fd = socketFd(socket);
  if (fd < 0) return undefined;
  let copy: number;
  try {
    copy = sock.duplicate(fd);
  } catch {
    return undefined; // out of descriptors: keep reading through the original
  }
  let direct: Socket;
  try {
    // `onread` is a documented option of the Socket constructor that @types/node lists for connect only.
    const options: net.SocketConstructorOpts & { onread: net.OnReadOpts } = {
      fd: copy,
      readable: true,
      writable: socket.writable,
      onread: {
        buffer: (sharedBuffer ??= Buffer.allocUnsafeSlow(READ_BUFFER_BYTES)),
        callback: onRead as net.OnReadOpts['callback'],
      },
    };
    direct = new net.Socket(options);
  } catch {
    sock.close(copy);
    return undefined;
  }
  // The duplicate shares the kernel's TCP_NODELAY, which ipcx sets on every TCP socket, but node:net caches the
  // option per Socket: tell the new one, or a later `setNoDelay(false)` would be skipped. (No-op on a Unix socket.)
  direct.setNoDelay(true);
  owned.delete(socket);
  socket.destroy();
  return direct;
}
