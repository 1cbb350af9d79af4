import type { WaitOptions } from './channel.js';
import { DEFAULT_SPIN_MICROSECONDS } from './spin.js';
import {
  AbortedError,
  InvalidOptionError,
  OptionTypeError,
  TimeoutError,
  isIpcError,
  type IpcError,
} from './errors.js';

/** The longest timeout a wait takes (a Node timer's limit). */
export const MAX_TIMEOUT_MS = 0x7fff_ffff;

/**
 * Checks the `timeout` of a wait's options: a number from 0 to MAX_TIMEOUT_MS, or undefined.
 * @throws OptionTypeError (a TypeError) on anything else.
 */
export function checkWaitOptions(options: WaitOptions | undefined): void {
  const timeout = options?.timeout;
  if (timeout !== undefined && !(typeof timeout === 'number' && timeout >= 0 && timeout <= MAX_TIMEOUT_MS)) {
    // Node's timers take at most 2^31 - 1 ms and turn a longer delay into 1 ms: refuse it instead.
    throw new OptionTypeError(
      'timeout',
      timeout,
      `a number of milliseconds from 0 to ${MAX_TIMEOUT_MS} (about 24.8 days)`,
    );
  }
}

/**
 * Reads an interval option in ms (how often a waiting side checks that another process lives):
 * `fallback` when undefined, else a number > 0 and at most MAX_TIMEOUT_MS (a longer timer fires at once).
 * 0 would busy-loop, NaN would mean "never check".
 * @throws InvalidOptionError (a RangeError) on anything else.
 */
export function intervalOption(name: string, ms: number | undefined, fallback: number): number {
  if (ms === undefined) return fallback;
  if (!(typeof ms === 'number' && ms > 0 && ms <= MAX_TIMEOUT_MS)) {
    throw new InvalidOptionError(name, ms, `a number of ms above 0 and at most ${MAX_TIMEOUT_MS}`);
  }
  return ms;
}

/** The longest bounded spin a `spinMicroseconds` option may ask for: one second. */
const MAX_SPIN_MICROSECONDS = 1_000_000;

/**
 * Reads a `spinMicroseconds` option (how long a wait may busy-poll before it sleeps): `fallback` (default
 * DEFAULT_SPIN_MICROSECONDS) when undefined, else a number from 0 to 1 000 000. A spin blocks its thread, so
 * it must be bounded.
 * @throws InvalidOptionError (a RangeError) on anything else (Infinity would spin forever).
 */
export function spinOption(value: number | undefined, fallback = DEFAULT_SPIN_MICROSECONDS): number {
  if (value === undefined) return fallback;
  if (!(typeof value === 'number' && value >= 0 && value <= MAX_SPIN_MICROSECONDS)) {
    throw new InvalidOptionError('spinMicroseconds', value, `a number from 0 to ${MAX_SPIN_MICROSECONDS}`);
  }
  return value;
}

/**
 * Turns `{ signal, timeout }` into one signal (or undefined when neither is set), and tells why it fired.
 * Nothing is allocated for a call without options. A timeout keeps the process alive until it fires or the
 * caller calls `release()`, which it must do once its wait settled (in a `finally`): a pending
 * `receive({ timeout: 200 })` that nothing else holds open then rejects with `TimeoutError` instead of letting
 * the process end with exit code 13, and a wait that settled early lets the process exit at once.
 */
export function deadline(what: string, options: WaitOptions | undefined): Deadline | undefined {
  checkWaitOptions(options);
  const timeout = options?.timeout;
  const user = options?.signal;
  if (timeout === undefined && user === undefined) return undefined;
  if (timeout === undefined) return new Deadline(what, user!, user, undefined, undefined);
  const controller = new AbortController();
  const timer = setTimeout(
    () => controller.abort(new DOMException('The operation timed out.', 'TimeoutError')),
    Math.ceil(timeout),
  ); // whole ms
  if (user === undefined) return new Deadline(what, controller.signal, user, timeout, timer);
  const linked = linkSignals(user, controller.signal);
  return new Deadline(what, linked.signal, user, timeout, timer, linked.release);
}

/** A signal that aborts when any of `signals` does (with its reason); `release()` unlinks it from them. */
export interface LinkedSignal {
  readonly signal: AbortSignal;
  release(): void;
}

/**
 * One signal for several, like `AbortSignal.any`, with a `release()` to call once the wait it serves settled.
 * Not `AbortSignal.any`: on Node 20 and 22 each signal it makes stays referenced from its sources for their
 * life (measured: 60–180 bytes a call), so a long-lived signal (an app's shutdown signal) passed to every
 * call would grow without bound.
 */
export function linkSignals(...signals: AbortSignal[]): LinkedSignal {
  const controller = new AbortController();
  const fired = signals.find((s) => s.aborted);
  if (fired !== undefined) {
    controller.abort(fired.reason);
    return { signal: controller.signal, release: () => {} };
  }
  const listeners = signals.map((source) => {
    const abort = (): void => controller.abort(source.reason);
    source.addEventListener('abort', abort, { once: true });
    return abort;
  });
  return {
    signal: controller.signal,
    release() {
      for (let i = 0; i < signals.length; i++) signals[i]!.removeEventListener('abort', listeners[i]!);
    },
  };
}

/** The signal that ends a wait, and the typed error to end it with. */
export class Deadline {
  constructor(
    readonly what: string,
    readonly signal: AbortSignal,
    private readonly user: AbortSignal | undefined,
    private readonly timeout: number | undefined,
    private readonly timer?: NodeJS.Timeout | undefined,
    private readonly unlink?: () => void,
  ) {}

  /** `AbortedError` when the caller's signal fired, `TimeoutError` when the timeout did. */
  error(): IpcError {
    if (this.user?.aborted) return new AbortedError(this.what, { cause: this.user.reason });
    return new TimeoutError(this.what, this.timeout);
  }

  /**
   * `promise`, or this deadline's error (`AbortedError`, `TimeoutError`) if it fires first; the promise is then
   * left to settle unobserved (the operation it stands for may still complete). Does not release the deadline:
   * a wait may race several steps against one deadline.
   */
  race<T>(promise: Promise<T>): Promise<T> {
    if (this.signal.aborted) {
      promise.catch(() => {});
      return Promise.reject(this.error());
    }
    return new Promise<T>((resolve, reject) => {
      const onAbort = (): void => {
        promise.catch(() => {});
        reject(this.error());
      };
      this.signal.addEventListener('abort', onAbort, { once: true });
      promise.then(
        (value) => {
          this.signal.removeEventListener('abort', onAbort);
          resolve(value);
        },
        (error: unknown) => {
          this.signal.removeEventListener('abort', onAbort);
          reject(error);
        },
      );
    });
  }

  /** Stops the timer and unlinks from the caller's signal: the wait settled, and the process may exit. Idempotent. */
  release(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.unlink?.();
  }
}

/** Settles a pending wait. */
export interface Settle<T> {
  resolve(value: T): void;
  reject(error: unknown): void;
}

/**
 * A promise for a wait that can be ended by `{ signal, timeout }`. `start` registers the waiter and
 * returns the function that unregisters it; it runs when the wait is aborted or timed out, and the
 * abort listener and the timer are removed once the wait settles either way. A wait with a timeout keeps
 * the process alive until then (exit code 13 otherwise, for an `await` that nothing else holds open).
 */
export function waitFor<T>(
  what: string,
  options: WaitOptions | undefined,
  start: (settle: Settle<T>) => () => void,
): Promise<T> {
  let limit: Deadline | undefined;
  try {
    if (options?.signal === undefined && options?.timeout !== undefined) {
      checkWaitOptions(options);
      return waitWithTimer(what, options.timeout, start);
    }
    limit = deadline(what, options);
  } catch (error) {
    return Promise.reject(error); // a bad timeout rejects like every other failure of a wait
  }
  if (limit === undefined) return new Promise<T>((resolve, reject) => void start({ resolve, reject }));
  if (limit.signal.aborted) {
    limit.release();
    return Promise.reject(limit.error());
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => {
      limit.release();
      cancel?.();
      reject(limit.error());
    };
    const cancel = begin(start, resolve, reject, () => {
      limit.signal.removeEventListener('abort', onAbort);
      limit.release(); // also when start throws: no timer is left holding the process
    });
    if (cancel !== undefined) limit.signal.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * `waitFor` with a timeout and no signal: a timer alone, without the `AbortSignal` of a `Deadline` (on Node 20 a
 * new one with a listener costs about 12 µs, ten times the rest of a receive that waits).
 */
function waitWithTimer<T>(what: string, timeout: number, start: (settle: Settle<T>) => () => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined;
    const cancel = begin(start, resolve, reject, () => clearTimeout(timer));
    if (cancel === undefined) return;
    timer = setTimeout(() => {
      cancel();
      reject(new TimeoutError(what, timeout));
    }, Math.ceil(timeout)); // whole ms, as `deadline` does
  });
}

/**
 * Runs `start` with a `Settle` that calls `done` before it settles the promise. Returns the function that
 * unregisters the waiter, or undefined when `start` settled it at once. A `start` that throws has `done` called,
 * then the error passes through.
 */
function begin<T>(
  start: (settle: Settle<T>) => () => void,
  resolve: (value: T) => void,
  reject: (error: unknown) => void,
  done: () => void,
): (() => void) | undefined {
  let settled = false;
  const finish = (): void => {
    settled = true;
    done();
  };
  let cancel: () => void;
  try {
    cancel = start({
      resolve: (value) => {
        finish();
        resolve(value);
      },
      reject: (error) => {
        finish();
        reject(error);
      },
    });
  } catch (error) {
    finish();
    throw error;
  }
  return settled ? undefined : cancel;
}

/** What a `poll` function given to `iterate` returns when no message is waiting. */
export const NO_MESSAGE: unique symbol = Symbol('ipcx.noMessage');

const DONE: IteratorReturnResult<undefined> = Object.freeze({ done: true, value: undefined });

/**
 * What `iterate` may call instead of `receive` once `poll` found nothing: a receive that settles with
 * `received(message)`, or with `end(error)` when it fails (rejecting only if `end` throws), so the step's result
 * needs no `then` of its own (e.g. `Inbox.receive` with its `map` and `mapError`).
 */
export type WaitForNext<T> = (
  received: (value: T) => IteratorResult<T, undefined>,
  end: (error: unknown) => IteratorResult<T, undefined>,
) => Promise<IteratorResult<T, undefined>>;

/**
 * Iterates a channel: yields each message, ends quietly when the channel closes (`ClosedError`) or the
 * peer is gone (`PeerGoneError`; `receive` tells which), and when an error ended the channel (`closed`
 * turned true: e.g. bad bytes that cut a connection); rethrows anything else. Leaving the loop early does
 * not close the channel.
 *
 * With `poll` (a `tryReceive` that returns `NO_MESSAGE` when nothing is waiting) each step first takes what
 * is already there and hands it out as an already resolved result, without a timer, a signal or an `await`
 * of `receive`; only an empty channel waits in `receive` (or in `waitForNext`, when given).
 */
export function iterate<T>(
  receive: () => Promise<T>,
  isClosed?: () => boolean,
  poll?: () => T | typeof NO_MESSAGE,
  waitForNext?: WaitForNext<T>,
): AsyncIterableIterator<T> {
  let done = false;
  const end = (error: unknown): IteratorResult<T, undefined> => {
    done = true;
    if (isIpcError(error) && (error.code === 'IPCX_ERR_CLOSED' || error.code === 'IPCX_ERR_PEER_GONE')) return DONE;
    if (isIpcError(error) && isClosed?.() === true) return DONE;
    throw error;
  };
  const received = (value: T): IteratorResult<T, undefined> => ({ done: false, value });
  const iterator: AsyncIterableIterator<T> = {
    next(): Promise<IteratorResult<T, undefined>> {
      if (done) return Promise.resolve(DONE);
      if (poll !== undefined) {
        let value: T | typeof NO_MESSAGE;
        try {
          value = poll();
        } catch (error) {
          try {
            return Promise.resolve(end(error));
          } catch (thrown) {
            return Promise.reject(thrown);
          }
        }
        if (value !== NO_MESSAGE) return Promise.resolve({ done: false, value });
      }
      if (waitForNext !== undefined) {
        try {
          return waitForNext(received, end);
        } catch (error) {
          try {
            return Promise.resolve(end(error));
          } catch (thrown) {
            return Promise.reject(thrown);
          }
        }
      }
      let waiting: Promise<T>;
      try {
        waiting = receive();
      } catch (error) {
        waiting = Promise.reject(error);
      }
      return waiting.then(received, end);
    },
    return(): Promise<IteratorResult<T, undefined>> {
      done = true;
      return Promise.resolve(DONE);
    },
    [Symbol.asyncIterator]() {
      return iterator;
    },
  };
  return iterator;
}
