/**
 * flock(2) advisory locks on any descriptor (fs.openSync works). Locks belong to the open file
 * description: they are released when its last descriptor closes, and a second flock on the same
 * description converts the lock rather than blocking.
 */
import { constants, native } from './binding.js';
import { errnoError } from './errors.js';
import { toNativeTimeout, validateBoolean, validateFd, validateSignal } from './internal/validate.js';
import { waitOnThread } from './internal/wait-on-thread.js';

export type FlockOperation = 'shared' | 'exclusive' | 'unlock';

export interface FlockOptions {
  /** LOCK_NB: return false instead of blocking (default false, i.e. block the thread like flock(2)). */
  nonBlocking?: boolean;
}

export interface FlockAsyncOptions {
  /** Give up after this many ms: the promise rejects with an ErrnoError code ETIMEDOUT. */
  timeoutMs?: number;
  /** Give up when aborted: the promise rejects with `signal.reason`. */
  signal?: AbortSignal;
}

function op(operation: unknown): number {
  switch (operation) {
    case 'shared':
      return constants.LOCK_SH;
    case 'exclusive':
      return constants.LOCK_EX;
    case 'unlock':
      return constants.LOCK_UN;
    default:
      throw Object.assign(
        new TypeError(`operation must be 'shared', 'exclusive' or 'unlock', got ${String(operation)}`),
        { code: 'ERR_INVALID_ARG_VALUE' },
      );
  }
}

/**
 * Takes, converts or releases a lock. Returns false only with `nonBlocking` when the lock is held
 * elsewhere. Without `nonBlocking` it blocks the calling thread: on the event loop use flockAsync.
 */
export function flock(fd: number, operation: FlockOperation, options: FlockOptions = {}): boolean {
  const nonBlocking = validateBoolean(options.nonBlocking ?? false, 'options.nonBlocking');
  return native.flock(validateFd(fd), op(operation) | (nonBlocking ? constants.LOCK_NB : 0));
}

/**
 * Waits for a lock on a native waiter thread, so the event loop keeps running.
 * @example
 * const fd = fs.openSync('/tmp/app.lock', 'w');
 * await flockAsync(fd, 'exclusive', { timeoutMs: 5000 });
 */
export function flockAsync(
  fd: number,
  operation: 'shared' | 'exclusive',
  options: FlockAsyncOptions = {},
): Promise<void> {
  validateFd(fd);
  if (operation !== 'shared' && operation !== 'exclusive') {
    throw Object.assign(new TypeError(`operation must be 'shared' or 'exclusive', got ${String(operation)}`), {
      code: 'ERR_INVALID_ARG_VALUE',
    });
  }
  const timeout = toNativeTimeout(options.timeoutMs, 'options.timeoutMs');
  const userSignal = validateSignal(options.signal, 'options.signal');
  const code = op(operation);
  // Fast path: free locks are taken without a thread.
  if (userSignal?.aborted) return Promise.reject(userSignal.reason);
  if (native.flock(fd, code | constants.LOCK_NB)) return Promise.resolve();
  if (timeout === 0) return Promise.reject(errnoError('ETIMEDOUT', 'flock', 'lock not acquired within 0 ms'));
  const timer = timeout > 0 ? AbortSignal.timeout(timeout) : undefined;
  const signal = timer && userSignal ? AbortSignal.any([userSignal, timer]) : (timer ?? userSignal);
  return waitOnThread(
    (cb) => native.flockAsync(fd, code, cb),
    () => undefined,
    signal,
    (s) =>
      userSignal?.aborted
        ? userSignal.reason
        : timer?.aborted
          ? errnoError('ETIMEDOUT', 'flock', `lock not acquired within ${timeout} ms`)
          : s.reason,
  );
}
