import { setMaxListeners } from 'node:events';
import { isMainThread } from 'node:worker_threads';
import { AbortedError, ClosedError, TimeoutError, UnsupportedError, type WaitOptions } from '@ipcx/core';
import { type LinkedSignal, checkWaitOptions, linkSignals } from '@ipcx/core/transport';
import type { WaitResult, Waker } from './waker.js';

/**
 * The one wait loop of the sync primitives (mutex, semaphore, condvar, barrier, rwlock, latch).
 *
 * A primitive describes a wait as a `Sleeper`: `attempt` tries to finish (take the lock, pass the
 * barrier) and either returns the result or returns PARK after it set `index` and `value`, the word to
 * sleep on and the value that word must still hold for sleeping to be right. The loop then sleeps with
 * the primitive's waker: the kernel (or V8) checks the word against `value` atomically with going to
 * sleep, so a change made between `attempt` and the wait is never missed (the wait returns
 * 'not-equal'). After every wake-up, whatever its cause, `attempt` runs again before timeout, abort or
 * close are looked at: a wake that a waiter consumed is never dropped on the floor by a waiter that is
 * about to give up.
 *
 * Waits are cut into slices of `core.sliceMs` (named mutexes: the owner-check interval) so that a
 * primitive can look for dead processes (`attempt(true)` after a sleep ran out, the last one before a
 * timeout included); elsewhere a slice is the whole timeout.
 *
 * The caller's signal and the object's close end a pending wait through the waker's `cancel` (a notify
 * that changes no word could miss a native wait not yet queued in the kernel); the loop then sees why.
 */
export const PARK: unique symbol = Symbol('park');
export type Park = typeof PARK;

/** One wait, as a primitive describes it to the loop. */
export interface Sleeper<T> {
  /** The word to sleep on, set by `attempt` before it returns PARK. */
  index: number;
  /** The value `index` must still hold for the sleep to start. */
  value: number;
  /**
   * Tries to finish. `sliceExpired`: the previous sleep ran out its slice (time to look for a dead
   * owner). Returns the result, or PARK after setting `index` and `value`.
   */
  attempt(sliceExpired: boolean): T | Park;
  /**
   * The wait is giving up (timeout, abort, close): undo what `attempt` registered. May return a
   * result instead when the wait turns out to have succeeded meanwhile (e.g. a barrier that tripped).
   */
  leave?(): T | Park;
}

/** What the loop needs from a primitive. */
export interface ParkCore {
  readonly i32: Int32Array;
  readonly waker: Waker;
  /** Longest single sleep (ms); Infinity when nothing needs checking between wake-ups. */
  readonly sliceMs: number;
  readonly closed: boolean;
  /** What waits fail with once closed (`destroy(error)`); else a `ClosedError`. */
  readonly closedError?: Error | undefined;
  /** Aborts when the object closes: ends its pending sleeps (see `cancelWait`). */
  readonly closing: AbortSignal;
  /** Names the object in errors, e.g. 'mutex "/app"'. */
  readonly what: string;
}

/** Throws `UnsupportedError` on the main thread, where a blocking wait would freeze the event loop. */
export function checkBlockingAllowed(what: string): void {
  if (isMainThread) throw new UnsupportedError(`a blocking ${what} on the main thread (use the async form)`);
}

/** Checks `{ timeout }` of a blocking call (a blocked thread cannot see a signal fire). */
export function checkSyncOptions(options: { timeout?: number | undefined } | undefined): void {
  checkWaitOptions(options);
  if (options !== undefined && 'signal' in options && (options as WaitOptions).signal !== undefined) {
    throw new TypeError('a blocking call takes no signal (a blocked thread cannot see it fire); use the async form');
  }
}

/**
 * The checks every async wait makes before its fast path: the object is open, the options are valid and
 * the signal has not fired yet.
 */
export function checkAsyncWait(core: ParkCore, operation: string, options: WaitOptions | undefined): void {
  if (core.closed) throw closedError(core);
  checkWaitOptions(options);
  if (options?.signal?.aborted) throw new AbortedError(operation, { cause: options.signal.reason });
}

/**
 * A wait that runs on a native waiter thread (flock, F_SETLKW, semtimedop): checks `{ signal, timeout }` and
 * returns them as the addon takes them. A signal that already fired is `AbortedError` before any thread runs.
 */
export function nativeWait(operation: string, options: WaitOptions): { timeoutMs?: number; signal?: AbortSignal } {
  checkWaitOptions(options);
  const { signal, timeout } = options;
  if (signal?.aborted) throw new AbortedError(operation, { cause: signal.reason });
  const waitOptions: { timeoutMs?: number; signal?: AbortSignal } = {};
  if (timeout !== undefined) waitOptions.timeoutMs = timeout;
  if (signal !== undefined) waitOptions.signal = signal;
  return waitOptions;
}

/**
 * What a native wait that failed ends with: `AbortedError` when its signal fired, `TimeoutError` on ETIMEDOUT,
 * else `map(error)` (the object's own errno mapping).
 */
export function nativeWaitError(
  operation: string,
  options: WaitOptions,
  error: unknown,
  map: (error: unknown) => Error,
): Error {
  if (options.signal?.aborted) return new AbortedError(operation, { cause: options.signal.reason });
  if ((error as NodeJS.ErrnoException).code === 'ETIMEDOUT')
    return new TimeoutError(operation, options.timeout, { cause: error });
  return map(error);
}

/** The same for a blocking wait: a worker thread, valid `{ timeout }`, an open object. */
export function checkSyncWait(
  core: ParkCore,
  operation: string,
  options: { timeout?: number | undefined } | undefined,
): void {
  checkBlockingAllowed(operation);
  checkSyncOptions(options);
  if (core.closed) throw closedError(core);
}

/**
 * How long (µs) the blocking forms of the locks spin before they park: handing a lock to a sleeping thread
 * costs a futex wake and a reschedule (tens of µs); a holder that releases within a few µs is cheaper to
 * wait out on the CPU.
 */
export const LOCK_SPIN_MICROSECONDS = 20;

/**
 * What ends a pending sleep (`Waker.waitAsync`'s `cancel`): the caller's signal or the object's `closing`,
 * linked per wait (core's `linkSignals`, not `AbortSignal.any`) and released when the wait ends.
 */
export function cancelWait(closing: AbortSignal, signal: AbortSignal | undefined): LinkedSignal {
  return signal === undefined ? linkSignals(closing) : linkSignals(signal, closing);
}

/**
 * An object's `closing` signal, aborted by its close. Each pending wait listens to it until it ends, so
 * any number of waits may be pending at once without Node's warning about more than 10 listeners.
 */
export function closingController(): AbortController {
  const controller = new AbortController();
  setMaxListeners(0, controller.signal);
  return controller;
}

function closedError(core: ParkCore): Error {
  return core.closedError ?? new ClosedError(core.what);
}

function giveUp<T>(sleeper: Sleeper<T>, error: Error): T {
  const late = sleeper.leave?.() ?? PARK;
  if (late !== PARK) return late;
  throw error;
}

/**
 * Waits on the event loop. Never blocks: sleeps with `waker.waitAsync`. `{ timeout, signal }` end the
 * wait with `TimeoutError` / `AbortedError`, closing the object with `ClosedError`; in every case
 * `sleeper.leave` runs and the abort listener is removed.
 */
export async function parkAsync<T>(
  core: ParkCore,
  operation: string,
  options: WaitOptions | undefined,
  sleeper: Sleeper<T>,
): Promise<T> {
  checkAsyncWait(core, operation, options);
  const signal = options?.signal;
  const timeout = options?.timeout;
  const end = timeout === undefined ? Number.POSITIVE_INFINITY : performance.now() + timeout;
  const { i32, waker } = core;
  let cancel: LinkedSignal | undefined; // made before the first sleep: a wait that never sleeps needs none
  try {
    let sliceExpired = false;
    for (;;) {
      const result = sleeper.attempt(sliceExpired);
      if (result !== PARK) return result;
      if (core.closed) return giveUp(sleeper, closedError(core));
      if (signal?.aborted) return giveUp(sleeper, new AbortedError(operation, { cause: signal.reason }));
      const left = end - performance.now();
      if (left <= 0) return giveUp(sleeper, new TimeoutError(operation, timeout));
      const slice = Math.min(left, core.sliceMs);
      cancel ??= cancelWait(core.closing, signal);
      let woke: WaitResult;
      try {
        woke = await waker.waitAsync(i32, sleeper.index, sleeper.value, slice, cancel.signal);
      } catch (error) {
        return giveUp(sleeper, error as Error);
      }
      sliceExpired = woke === 'timed-out';
    }
  } finally {
    cancel?.release();
  }
}

/**
 * Blocks the thread (workers only, checked by the caller) with `waker.wait`. `{ timeout }` ends the
 * wait with `TimeoutError`; there is no signal, since a blocked thread runs no event loop to see it.
 */
export function parkSync<T>(
  core: ParkCore,
  operation: string,
  options: { timeout?: number | undefined } | undefined,
  sleeper: Sleeper<T>,
): T {
  checkSyncOptions(options);
  if (core.closed) throw closedError(core);
  const timeout = options?.timeout;
  const end = timeout === undefined ? Number.POSITIVE_INFINITY : performance.now() + timeout;
  const { i32, waker } = core;
  let sliceExpired = false;
  for (;;) {
    const result = sleeper.attempt(sliceExpired);
    if (result !== PARK) return result;
    if (core.closed) return giveUp(sleeper, closedError(core));
    const left = end - performance.now();
    if (left <= 0) return giveUp(sleeper, new TimeoutError(operation, timeout));
    const slice = Math.min(left, core.sliceMs);
    let woke: WaitResult;
    try {
      woke = waker.wait(i32, sleeper.index, sleeper.value, slice);
    } catch (error) {
      return giveUp(sleeper, error as Error);
    }
    sliceExpired = woke === 'timed-out';
  }
}
