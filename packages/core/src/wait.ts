import type { WaitOptions } from './channel.js';
import { AbortedError, TimeoutError, isIpcError, type IpcError } from './errors.js';

/** The longest timeout a wait takes (a Node timer's limit). */
export const MAX_TIMEOUT_MS = 0x7fff_ffff;

/**
 * Checks the `timeout` of a wait's options: a number from 0 to MAX_TIMEOUT_MS, or undefined.
 * @throws TypeError on anything else.
 */
export function checkWaitOptions(options: WaitOptions | undefined): void {
  const timeout = options?.timeout;
  if (timeout !== undefined && !(typeof timeout === 'number' && timeout >= 0 && timeout <= MAX_TIMEOUT_MS)) {
    // Node's timers take at most 2^31 - 1 ms and turn a longer delay into 1 ms: refuse it instead.
    throw new TypeError(`timeout must be a number of milliseconds from 0 to ${MAX_TIMEOUT_MS} (about 24.8 days), got ${String(timeout)}`);
  }
}

/**
 * Reads an interval option in ms (how often a waiting side checks that another process lives):
 * `fallback` when undefined, else a number > 0 and at most MAX_TIMEOUT_MS (a longer timer fires at once).
 * 0 would busy-loop, NaN would mean "never check".
 * @throws RangeError on anything else.
 */
export function intervalOption(name: string, ms: number | undefined, fallback: number): number {
  if (ms === undefined) return fallback;
  if (!(typeof ms === 'number' && ms > 0 && ms <= MAX_TIMEOUT_MS)) {
    throw new RangeError(`${name} must be a number of ms above 0 and at most ${MAX_TIMEOUT_MS}, got ${String(ms)}`);
  }
  return ms;
}

/** The longest bounded spin a `spinMicroseconds` option may ask for: one second. */
const MAX_SPIN_MICROSECONDS = 1_000_000;

/**
 * Reads a `spinMicroseconds` option (how long a wait may busy-poll before it sleeps): `fallback` when
 * undefined, else a number from 0 to 1 000 000. A spin blocks its thread, so it must be bounded.
 * @throws RangeError on anything else (Infinity would spin forever).
 */
export function spinOption(value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!(typeof value === 'number' && value >= 0 && value <= MAX_SPIN_MICROSECONDS)) {
    throw new RangeError(`spinMicroseconds must be a number from 0 to ${MAX_SPIN_MICROSECONDS}, got ${String(value)}`);
  }
  return value;
}

/**
 * Turns `{ signal, timeout }` into one signal (or undefined when neither is set), and tells why it fired.
 * Built on `AbortSignal.timeout` and `AbortSignal.any`; nothing is allocated for a call without options.
 */
export function deadline(what: string, options: WaitOptions | undefined): Deadline | undefined {
  checkWaitOptions(options);
  const timeout = options?.timeout;
  const user = options?.signal;
  if (timeout === undefined && user === undefined) return undefined;
  const timer = timeout === undefined ? undefined : AbortSignal.timeout(Math.ceil(timeout)) // it takes whole ms only;
  const signal = timer === undefined ? user! : user === undefined ? timer : AbortSignal.any([user, timer]);
  return new Deadline(what, signal, user, timeout);
}

/** The signal that ends a wait, and the typed error to end it with. */
export class Deadline {
  constructor(
    readonly what: string,
    readonly signal: AbortSignal,
    private readonly user: AbortSignal | undefined,
    private readonly timeout: number | undefined,
  ) {}

  /** `AbortedError` when the caller's signal fired, `TimeoutError` when the timeout did. */
  error(): IpcError {
    if (this.user?.aborted) return new AbortedError(this.what, { cause: this.user.reason });
    return new TimeoutError(this.what, this.timeout);
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
 * abort listener is removed once the wait settles either way.
 */
export function waitFor<T>(
  what: string,
  options: WaitOptions | undefined,
  start: (settle: Settle<T>) => () => void,
): Promise<T> {
  const limit = deadline(what, options);
  if (limit === undefined) return new Promise<T>((resolve, reject) => void start({ resolve, reject }));
  if (limit.signal.aborted) return Promise.reject(limit.error());
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => {
      cancel();
      reject(limit.error());
    };
    const done = (): void => limit.signal.removeEventListener('abort', onAbort);
    const cancel = start({
      resolve: (value) => {
        done();
        resolve(value);
      },
      reject: (error) => {
        done();
        reject(error);
      },
    });
    limit.signal.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Iterates a channel: yields each message, ends quietly when the channel closes (`ClosedError`) or the
 * peer is gone (`PeerGoneError`; `receive` tells which), and when an error ended the channel (`closed`
 * turned true: e.g. bad bytes that cut a connection); rethrows anything else. Leaving the loop early does
 * not close the channel.
 */
export async function* iterate<T>(receive: () => Promise<T>, isClosed?: () => boolean): AsyncGenerator<T, void, undefined> {
  for (;;) {
    let message: T;
    try {
      message = await receive();
    } catch (error) {
      if (isIpcError(error) && (error.code === 'IPCX_ERR_CLOSED' || error.code === 'IPCX_ERR_PEER_GONE')) return;
      if (isIpcError(error) && isClosed?.() === true) return;
      throw error;
    }
    yield message;
  }
}
