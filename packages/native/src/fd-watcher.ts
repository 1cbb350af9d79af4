/**
 * FdWatcher: readiness notifications for any descriptor, from libuv's uv_poll on the event loop — no
 * thread, no busy loop. Works for message queue descriptors, eventfds, sockets, pipes and FIFOs.
 *
 * Rules from libuv: one watcher per descriptor at a time (a second gets EEXIST), and close the watcher
 * before closing its descriptor. Readiness is level-triggered: read until EAGAIN, or the callback fires
 * again on the next loop turn.
 */
import { native, type NativeFdWatcher } from './binding.js';
import { validateFd, validateFunction } from './internal/validate.js';
import { errnoError } from './errors.js';

export interface FdEvents {
  readable: boolean;
  writable: boolean;
  /** Set when polling failed (e.g. EBADF); the watcher should be closed. */
  error?: Error;
}

export interface FdWatchEvents {
  readable?: boolean;
  writable?: boolean;
}

export class FdWatcher {
  readonly fd: number;
  #native: NativeFdWatcher | undefined;

  /**
   * @example
   * const w = new FdWatcher(fd, ({ readable }) => { if (readable) drain(fd); });
   * w.start({ readable: true });
   * // … later
   * w.close();
   */
  constructor(fd: number, onEvent: (events: FdEvents) => void) {
    this.fd = validateFd(fd);
    validateFunction(onEvent, 'onEvent');
    this.#native = new native.FdWatcher(fd, (error, events) => {
      onEvent(
        error === null
          ? { readable: (events & 1) !== 0, writable: (events & 2) !== 0 }
          : { readable: false, writable: false, error },
      );
    });
  }

  /** Starts (or changes) what is watched. An active watcher keeps the event loop alive unless unref()'d. */
  start(events: FdWatchEvents): void {
    const mask = (events.readable ? 1 : 0) | (events.writable ? 2 : 0);
    if (mask === 0) {
      this.stop();
      return;
    }
    this.#handle('start').start(mask);
  }

  /** Stops watching; start() may be called again. */
  stop(): void {
    this.#native?.stop();
  }

  /** Stops for good and releases the libuv handle. Idempotent. Does not close the descriptor. */
  close(): void {
    this.#native?.close();
    this.#native = undefined;
  }

  get closed(): boolean {
    return this.#native === undefined;
  }

  /** Lets the process exit while this watcher is active. */
  unref(): this {
    this.#native?.unref();
    return this;
  }

  ref(): this {
    this.#native?.ref();
    return this;
  }

  [Symbol.dispose](): void {
    this.close();
  }

  #handle(op: string): NativeFdWatcher {
    if (this.#native === undefined) {
      throw errnoError('EBADF', `uv_poll_${op}`, 'FdWatcher is closed');
    }
    return this.#native;
  }
}
