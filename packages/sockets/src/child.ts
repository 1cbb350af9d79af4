import type { ChildProcess } from 'node:child_process';
import net, { Socket } from 'node:net';
import { NotFoundError, PeerGoneError } from '@ipcx/core';
import { checkInteger } from '@ipcx/core/transport';
import { ownSocket } from './internal/direct-read.js';
import { StreamChannel, type StreamChannelOptions } from './stream-channel.js';

/** Options of `childChannel` and `parentChannel`. */
export interface ChildChannelOptions<T = unknown> extends StreamChannelOptions<T> {
  /** The stdio slot of the pipe: the index in `spawn`'s `stdio` array, the fd number in the child. Default 3. */
  fd?: number | undefined;
}

/** The other process of a parent/child channel. */
export interface ProcessPeer {
  readonly pid: number;
}

/**
 * The parent's end of a channel over an extra stdio pipe of a spawned child: spawn it with `'pipe'` at the
 * slot (fd 3 by default). Node makes such a pipe a Unix socket pair, so one slot carries both directions,
 * with the framing of the README; stdin, stdout, stderr and Node's own IPC channel stay free, and the child
 * need not be a Node process. The child ending the pipe (or exiting) ends `receive` with `ClosedError`.
 *
 * @example
 * ```ts
 * const child = spawn(process.execPath, ['worker.js'], { stdio: ['inherit', 'inherit', 'inherit', 'pipe'] });
 * await using channel = childChannel(child);
 * await channel.send({ job: 1 });
 * console.log(await channel.receive({ timeout: 5000 }));
 * ```
 */
export function childChannel<T = unknown>(
  child: ChildProcess,
  options: ChildChannelOptions<T> = {},
): StreamChannel<T, ProcessPeer> {
  const fd = checkInteger('fd', options.fd, { default: 3, min: 0 });
  const stream = child.stdio[fd];
  if (!(stream instanceof Socket)) {
    throw new NotFoundError(`a pipe at stdio[${fd}] of the child (spawn it with 'pipe' in that slot)`);
  }
  if (child.pid === undefined) throw new PeerGoneError('child process (it failed to spawn)');
  return new StreamChannel<T, ProcessPeer>(stream, options, { pid: child.pid });
}

/**
 * The child's end of `childChannel`: wraps the inherited pipe at `fd` (default 3). The channel keeps the
 * process alive while open; close it (or let the parent close its end) to exit. The channel takes the pipe
 * over: it reads it through a duplicate descriptor (close-on-exec) and closes `fd` itself, so do not pass
 * `fd` on to a process of your own (see "Receiving skips node:net's Readable stream" in the README).
 *
 * @example
 * ```ts
 * const channel = parentChannel();
 * for await (const job of channel) await channel.send({ done: job });
 * ```
 */
export function parentChannel<T = unknown>(options: ChildChannelOptions<T> = {}): StreamChannel<T, ProcessPeer> {
  const fd = checkInteger('fd', options.fd, { default: 3, min: 3 });
  let socket: Socket;
  try {
    socket = ownSocket(new net.Socket({ fd, readable: true, writable: true }));
  } catch (error) {
    throw new NotFoundError(`a pipe from the parent at fd ${fd}`, { cause: error });
  }
  return new StreamChannel<T, ProcessPeer>(socket, options, { pid: process.ppid });
}
