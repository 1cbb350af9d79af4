import type { WaitOptions } from './channel.js';
import { checkInteger } from './options.js';
import { MAX_TIMEOUT_MS, waitFor, type Settle } from './wait.js';

/** The default `lingerTimeout` (ms): how long a graceful close waits for the peer to take what is left. */
export const DEFAULT_LINGER_TIMEOUT = 2000;

/**
 * Reads a `lingerTimeout` option (ms a graceful `close()` waits for the peer to take what is left, then the sends
 * still waiting reject with `ClosedError`: `drainedWithin`): `DEFAULT_LINGER_TIMEOUT` when undefined, else an
 * integer from 0 to MAX_TIMEOUT_MS.
 * @throws InvalidOptionError / OptionTypeError (code IPCX_ERR_INVALID_OPTION) on anything else.
 */
export function lingerOption(value: unknown): number {
  return checkInteger('lingerTimeout', value, { default: DEFAULT_LINGER_TIMEOUT, min: 0, max: MAX_TIMEOUT_MS });
}

interface Entry<P> {
  readonly payload: P;
  readonly settle: Settle<void>;
}

/**
 * The sends of one end that found no room, oldest first: the one pending-send queue of every transport.
 *
 * A transport sends at once while the queue is empty and there is room; otherwise it `enqueue`s the payload (a
 * copy, with whatever it needs: a destination, descriptors, a priority) and the caller's promise settles when the
 * transport hands the payload on (`flush`, or `oldest` + `resolveOldest` for a pump that waits), when
 * `{ signal, timeout }` ends the wait (the entry is removed: nothing is sent late), or when `rejectAll` fails
 * every waiting send (close, destroy, the peer gone). `drainedWithin()` is what a graceful `close()` awaits.
 * Building block for transport authors.
 *
 * @example
 * ```ts
 * send(message, options) {
 *   const bytes = encode(message);
 *   if (this.#queue.size === 0 && this.#tryWrite(bytes)) return Promise.resolve();
 *   return this.#queue.enqueue(copyBytes(bytes), options);
 * }
 * #onWritable() { this.#queue.flush((bytes) => this.#tryWrite(bytes)); }
 * ```
 */
export class SendQueue<P> {
  readonly #entries = new Set<Entry<P>>();
  #drained: { promise: Promise<void>; resolve: () => void } | undefined;

  /**
   * `onCancel` runs after a waiting send left the queue because its signal or timeout fired (a transport that
   * polls for room stops polling when nobody waits any more).
   */
  constructor(private readonly onCancel?: () => void) {}

  /** Sends waiting now. */
  get size(): number {
    return this.#entries.size;
  }

  /** Queues a send and returns its promise; `what` names the wait in `TimeoutError` / `AbortedError`. */
  enqueue(payload: P, options?: WaitOptions, what = 'send'): Promise<void> {
    return waitFor<void>(what, options, (settle) => {
      const entry: Entry<P> = { payload, settle };
      this.#entries.add(entry);
      return () => {
        if (!this.#entries.delete(entry)) return;
        this.#checkDrained();
        this.onCancel?.();
      };
    });
  }

  /**
   * Hands waiting sends to `write`, oldest first, while it returns true (sent: that send resolves). A `write`
   * that returns false stops the flush (no room: the send stays first); one that throws rejects that send only
   * and the flush goes on. Returns how many left the queue.
   */
  flush(write: (payload: P) => boolean): number {
    let count = 0;
    for (const entry of this.#entries) {
      let sent: boolean;
      try {
        sent = write(entry.payload);
      } catch (error) {
        this.#entries.delete(entry);
        entry.settle.reject(error);
        count++;
        continue;
      }
      if (!sent) break;
      this.#entries.delete(entry);
      entry.settle.resolve();
      count++;
    }
    if (count > 0) this.#checkDrained();
    return count;
  }

  /** The payload of the oldest waiting send, or undefined when none waits (for a pump that waits for room). */
  oldest(): P | undefined {
    for (const entry of this.#entries) return entry.payload;
    return undefined;
  }

  /** True while `payload` (as returned by `oldest`) still waits: false once it was cancelled or settled. */
  has(payload: P): boolean {
    for (const entry of this.#entries) if (entry.payload === payload) return true;
    return false;
  }

  /** The oldest send went out: resolves it. */
  resolveOldest(): void {
    this.#settleOldest((entry) => entry.settle.resolve());
  }

  /** The oldest send cannot go out: rejects it with `error`. */
  rejectOldest(error: unknown): void {
    this.#settleOldest((entry) => entry.settle.reject(error));
  }

  /** Rejects every waiting send with `error` (close, destroy, the peer gone, the connection failed). */
  rejectAll(error: unknown): void {
    if (this.#entries.size === 0) return;
    const entries = [...this.#entries];
    this.#entries.clear();
    for (const entry of entries) entry.settle.reject(error);
    this.#checkDrained();
  }

  /** Resolves once no send waits (each went out, was cancelled or was rejected); at once when none waits. */
  drained(): Promise<void> {
    if (this.#entries.size === 0) return Promise.resolve();
    if (this.#drained === undefined) {
      let resolve!: () => void;
      const promise = new Promise<void>((r) => (resolve = r));
      this.#drained = { promise, resolve };
    }
    return this.#drained.promise;
  }

  /**
   * What a graceful `close()` awaits: resolves once no send waits, or after `lingerMs` (docs/API.md's
   * `lingerTimeout`), when the sends still waiting reject with `error()` so that close never hangs on a peer
   * that does not read. The timer keeps the process alive (for at most `lingerMs`), so that `await close()`
   * settles before the process may exit.
   */
  async drainedWithin(lingerMs: number, error: () => unknown): Promise<void> {
    if (this.#entries.size === 0) return;
    let timer: NodeJS.Timeout | undefined;
    const lingered = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, lingerMs);
    });
    try {
      await Promise.race([this.drained(), lingered]);
    } finally {
      clearTimeout(timer);
    }
    this.rejectAll(error());
  }

  #settleOldest(settle: (entry: Entry<P>) => void): void {
    for (const entry of this.#entries) {
      this.#entries.delete(entry);
      settle(entry);
      break;
    }
    this.#checkDrained();
  }

  #checkDrained(): void {
    if (this.#entries.size > 0 || this.#drained === undefined) return;
    const { resolve } = this.#drained;
    this.#drained = undefined;
    resolve();
  }
}
