import { BadFrameError, type IpcError } from '@ipcx/core';
import { NO_MESSAGE, type Inbox, type WaitForNext } from '@ipcx/core/transport';
import type { WaitResult } from './waker.js';

/** What a ring's read returns when no frame waits: core's `NO_MESSAGE`, so a read is also a `poll`. */
export type Nothing = typeof NO_MESSAGE;

/** What the receive pump needs of a receiving end (ShmChannel, FanIn). */
export interface ReceivePumpEnd<T> {
  readonly inbox: Inbox<T>;
  closed(): boolean;
  /** The next message, NO_MESSAGE, or throws (a frame that does not decode, the end of the channel). */
  read(): T | Nothing;
  /** A BadFrameError that ends the channel (a corrupt ring) rather than failing one receive. */
  fatal(error: BadFrameError): boolean;
  /** Parks until a frame may wait, the receivers gave up or the end closed; 'timed-out' after one interval. */
  waitForFrame(): Promise<WaitResult>;
  /** After a park timed out: false when the peer is gone (the end already failed its receives). */
  alive(): boolean;
}

/**
 * Serves the receives that found nothing (`inbox.waiting`), in order, from the ring: reads, parks when it is
 * empty, and stops when nobody waits, the end closes or the peer is gone. One loop at a time per end.
 */
export class ReceivePump<T> {
  #running = false;

  constructor(private readonly end: ReceivePumpEnd<T>) {}

  start(): Promise<void> {
    if (this.#running) return Promise.resolve();
    this.#running = true;
    return this.#pump();
  }

  /**
   * `for await`'s step once the end read nothing: waits in the inbox for a result that `received` (or, on an
   * error, `end`) makes, and runs the loop that serves it.
   */
  waitForNext(...[received, end]: Parameters<WaitForNext<T>>): ReturnType<WaitForNext<T>> {
    const result = this.end.inbox.receive('receive', undefined, received, end);
    void this.start();
    return result;
  }

  /**
   * The loop. Its `finally` clears `#running` in the same step as its last look at `inbox.waiting` (it is in
   * the loop's own async function), so a receive that starts to wait after that look starts a new loop. Cleared
   * after an `await` of the loop, that left a window in which such a receive found the old loop still marked
   * running, and waited for ever.
   */
  async #pump(): Promise<void> {
    const end = this.end;
    const inbox = end.inbox;
    try {
      while (inbox.waiting > 0 && !end.closed()) {
        let value: T | Nothing;
        try {
          value = end.read();
        } catch (error) {
          // A frame that does not decode fails the receive that waited for it, as on the direct path; the
          // channel goes on. The end of the channel (closed, peer gone, a corrupt ring) ends every receive.
          if (error instanceof BadFrameError && !end.fatal(error)) {
            inbox.rejectOne(error);
            continue;
          }
          inbox.end(error as IpcError);
          return;
        }
        if (value !== NO_MESSAGE) {
          inbox.push(value);
          continue;
        }
        if ((await end.waitForFrame()) === 'timed-out' && !end.alive()) return;
      }
    } finally {
      this.#running = false;
    }
  }
}
