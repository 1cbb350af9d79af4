/**
 * futex(2) wait and wake on an element of an Int32Array over a SharedArrayBuffer.
 *
 * The futex is shared (not FUTEX_PRIVATE), so it works across processes on a segment from {@link shm}
 * and across threads on any SharedArrayBuffer. It is the kernel's futex, not V8's: `Atomics.notify` does
 * not wake `futex.wait` and `futex.notify` does not wake `Atomics.wait`. Use one family per word.
 *
 * Protocol (as with Atomics): change the word, then notify; a waiter passes the value it last saw, and
 * the kernel puts it to sleep only if the word still holds that value, atomically — so a wake between
 * the waiter's read and its wait is never lost ('not-equal' instead).
 */
import { native } from './binding.js';
import { toNativeTimeout, typeError, validateInt, validateSignal } from './internal/validate.js';
import { waitOnThread } from './internal/wait-on-thread.js';

export type FutexResult = 'ok' | 'not-equal' | 'timed-out';

export interface FutexWaitAsyncOptions {
  /** Cancels the wait; the promise rejects with `signal.reason`. */
  signal?: AbortSignal;
}

const RESULTS: readonly FutexResult[] = ['ok', 'not-equal', 'timed-out'];

function validateCell(i32: unknown, index: unknown): void {
  if (!(i32 instanceof Int32Array) || !(i32.buffer instanceof SharedArrayBuffer)) {
    throw typeError('i32 must be an Int32Array over a SharedArrayBuffer');
  }
  validateInt(index, 'index', 0, i32.length - 1);
}

/** The value a wait compares with: an int32, like every word of an Int32Array. */
function validateValue(value: unknown): number {
  return validateInt(value, 'value', -0x8000_0000, 0x7fff_ffff);
}

export const futex = {
  /**
   * Sleeps while `i32[index] === value`, until woken by {@link futex.notify} (in any process sharing the
   * memory) or `timeoutMs` passes. Blocks the calling thread: use it in workers, and `waitAsync` on the
   * event loop.
   * @example
   * if (futex.wait(i32, 0, 0, 1000) === 'timed-out') console.log('nobody rang');
   */
  wait(i32: Int32Array, index: number, value: number, timeoutMs?: number): FutexResult {
    validateCell(i32, index);
    return RESULTS[native.futexWait(i32, index, validateValue(value), toNativeTimeout(timeoutMs))]!;
  },

  /**
   * Like {@link futex.wait} without blocking: on Linux 6.7 and later the wait goes through an io_uring of the
   * calling thread, whose completion wakes its event loop directly; elsewhere (or with
   * `IPCX_FUTEX_WAITER=thread`) it runs on a native waiter thread (not the libuv threadpool). The Int32Array
   * and its buffer are kept alive until the wait ends, and a pending wait keeps the event loop alive (like a
   * pending socket read; pass a timeout or a signal if the process must be able to exit while nobody
   * notifies). Settles at once, without a wait, when the word already differs ('not-equal') or the timeout
   * is 0 ('timed-out').
   * @example
   * const r = await futex.waitAsync(i32, 0, seen, 5000, { signal });
   */
  waitAsync(
    i32: Int32Array,
    index: number,
    value: number,
    timeoutMs?: number,
    options: FutexWaitAsyncOptions = {},
  ): Promise<FutexResult> {
    validateCell(i32, index);
    const timeout = toNativeTimeout(timeoutMs);
    const signal = validateSignal(options.signal);
    const v = validateValue(value);
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (Atomics.load(i32, index) !== v) return Promise.resolve('not-equal');
    if (timeout === 0) return Promise.resolve('timed-out');
    return waitOnThread(
      (cb) => native.futexWaitAsync(i32, index, v, timeout, cb),
      (r) => RESULTS[r]!,
      signal,
    );
  },

  /** Wakes up to `count` (default: all) waiters on `i32[index]`; returns how many were woken. */
  notify(i32: Int32Array, index: number, count: number = Infinity): number {
    validateCell(i32, index);
    if (count !== Infinity) validateInt(count, 'count', 0, 0x7fffffff);
    if (count === 0) return 0; // FUTEX_WAKE with 0 wakes one; Atomics.notify with 0 wakes none
    return native.futexWake(i32, index, count === Infinity ? -1 : count);
  },
};
