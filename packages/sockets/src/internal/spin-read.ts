import type { Socket } from 'node:net';
import { SpinPolicy } from '@ipcx/core/transport';
import { socket as sock } from '@ipcx/native';
import { socketFd } from './socket-fd.js';

/** Bytes read per attempt while a stream receive spins (a burst larger than this is read by libuv). */
const SCRATCH_BYTES = 64 * 1024;

/**
 * The spin of a stream channel's receive: reads its node:net socket natively (recv with MSG_DONTWAIT on the
 * descriptor libuv polls) and hands the bytes to the channel's own data handler, the same one libuv's reads
 * go to, so they go through the same frame decoder in order.
 *
 * Why bytes never reorder: libuv reads the descriptor only in its poll phase, on this thread, and hands what it
 * read to the channel at once: through `onread` on a directly read socket, through 'data' on a flowing socket
 * with nothing buffered (`readableLength` 0). The spin reads only in that state (`caughtUp`), synchronously
 * inside `receive()`; whatever libuv reads later comes after. A paused socket (the channel's read-ahead is
 * full) or one still holding bytes is not read.
 */
export class StreamSpin {
  readonly policy: SpinPolicy;
  #scratch: Buffer | undefined;
  /** False once the descriptor turned out not to be a socket (a FIFO, a pipe) or the stream ended. */
  #usable = true;

  constructor(
    private readonly socket: Socket,
    max: number,
    private readonly onData: (chunk: Buffer) => void,
    private readonly onError: (error: Error) => void,
    /** True while every byte read from the socket so far was handed to the channel, and reading is on. */
    private readonly caughtUp: () => boolean,
  ) {
    this.policy = new SpinPolicy(max);
  }

  /**
   * Spins until `arrived()` or the budget is spent; true if it did. Bytes read are handed to `onData` as they
   * come (a frame split over several reads is completed by later ones). The end of the stream stops it
   * (libuv reads the end too, and reports it); an error is handed to `onError`, as a read by libuv would be.
   */
  run(arrived: () => boolean): boolean {
    const socket = this.socket;
    if (!this.#usable || socket.destroyed || !this.caughtUp()) return false;
    const fd = socketFd(socket);
    if (fd < 0) return false;
    const budget = this.policy.budget();
    if (budget === 0) return false;
    const scratch = (this.#scratch ??= Buffer.allocUnsafeSlow(SCRATCH_BYTES));
    const end = performance.now() + budget / 1000;
    for (;;) {
      const left = (end - performance.now()) * 1000;
      let n: number;
      try {
        n = sock.spinReceive(fd, scratch, Math.max(left, 0));
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOTSOCK') this.#usable = false;
        else this.onError(error as Error);
        return false;
      }
      if (n === 0) {
        this.#usable = false; // the peer closed: libuv reads the end (EOF stays readable) and reports it
        return false;
      }
      if (n > 0) {
        // `onData` takes the bytes as transient: whatever it keeps, it copies before the next read.
        this.onData(scratch.subarray(0, n));
        if (arrived()) {
          this.policy.hit();
          return true;
        }
        if (socket.destroyed || !this.caughtUp()) return false;
      }
      if (n < 0 || performance.now() >= end) {
        this.policy.miss();
        return false;
      }
    }
  }
}
