/**
 * fcntl(2) record locks: shared (read) and exclusive (write) locks on byte ranges of a file.
 *
 * Two kinds. Classic POSIX locks (`ofd: false`) belong to the process: every descriptor of the file in the
 * process shares them, closing ANY descriptor of the file releases them all, locks of one process never
 * conflict with each other, and the kernel detects deadlocks between processes (EDEADLK). Open file
 * description locks (`ofd: true`, F_OFD_*) belong to the open file: two opens conflict even in one process,
 * and they go when the last descriptor of that open file closes; no deadlock detection.
 * `length` 0 means "to the end of the file, however it grows".
 */
import { native } from './binding.js';
import { errnoError } from './errors.js';
import { toNativeTimeout, validateBoolean, validateFd, validateInt, validateSignal } from './internal/validate.js';
import { waitOnThread } from './internal/wait-on-thread.js';
import { sysvConstants as C } from './sysv.js';

/** 'read' (shared), 'write' (exclusive) or 'unlock'. */
export type RecordLockType = 'read' | 'write' | 'unlock';

/** A byte range and the kind of lock. */
export interface RecordLockRange {
  /** First byte (default 0). */
  start?: number;
  /** Bytes; 0 (default) to the end of the file and beyond. */
  length?: number;
  /** Open file description lock (F_OFD_*) instead of a process lock. Default false. */
  ofd?: boolean;
}

/** A lock that stands in the way, from F_GETLK. */
export interface RecordLockHolder {
  type: 'read' | 'write';
  start: number;
  length: number;
  /** The holding process; -1 for an OFD lock (it has no single owner process). */
  pid: number;
}

/** Options of `recordLockAsync`. */
export interface RecordLockAsyncOptions extends RecordLockRange {
  /** Give up after this many ms: rejects with an ErrnoError code ETIMEDOUT. */
  timeoutMs?: number;
  /** Give up when aborted: rejects with `signal.reason`. */
  signal?: AbortSignal;
}

function typeOf(type: unknown): number {
  switch (type) {
    case 'read':
      return C.F_RDLCK;
    case 'write':
      return C.F_WRLCK;
    case 'unlock':
      return C.F_UNLCK;
    default:
      throw Object.assign(new TypeError(`type must be 'read', 'write' or 'unlock', got ${String(type)}`), {
        code: 'ERR_INVALID_ARG_VALUE',
      });
  }
}

function range(r: RecordLockRange): [boolean, number, number] {
  return [
    validateBoolean(r.ofd ?? false, 'ofd'),
    validateInt(r.start ?? 0, 'start', 0, Number.MAX_SAFE_INTEGER),
    validateInt(r.length ?? 0, 'length', 0, Number.MAX_SAFE_INTEGER),
  ];
}

/** F_SETLK (F_OFD_SETLK): places or removes a lock without waiting; false when a conflicting lock is held. */
export function recordLock(fd: number, type: RecordLockType, r: RecordLockRange = {}): boolean {
  const [ofd, start, length] = range(r);
  return native.recordLock(validateFd(fd), ofd, typeOf(type), start, length);
}

/** F_GETLK (F_OFD_GETLK): the first lock that would block `type` on the range, or undefined. */
export function recordLockHolder(
  fd: number,
  type: 'read' | 'write',
  r: RecordLockRange = {},
): RecordLockHolder | undefined {
  const [ofd, start, length] = range(r);
  const got = native.recordLockTest(validateFd(fd), ofd, typeOf(type), start, length);
  if (got === undefined) return undefined;
  return { type: got[0] === C.F_RDLCK ? 'read' : 'write', start: got[1], length: got[2], pid: got[3] };
}

/**
 * F_SETLKW (F_OFD_SETLKW) on a native waiter thread, so the event loop keeps running. A free range is
 * taken without a thread. EDEADLK (classic locks) rejects with an ErrnoError code EDEADLK.
 */
export function recordLockAsync(
  fd: number,
  type: 'read' | 'write',
  options: RecordLockAsyncOptions = {},
): Promise<void> {
  validateFd(fd);
  const code = typeOf(type);
  const [ofd, start, length] = range(options);
  const timeout = toNativeTimeout(options.timeoutMs, 'options.timeoutMs');
  const userSignal = validateSignal(options.signal, 'options.signal');
  if (userSignal?.aborted) return Promise.reject(userSignal.reason);
  try {
    if (native.recordLock(fd, ofd, code, start, length)) return Promise.resolve();
  } catch (error) {
    return Promise.reject(error);
  }
  if (timeout === 0) return Promise.reject(errnoError('ETIMEDOUT', 'fcntl', 'lock not acquired within 0 ms'));
  const timer = timeout > 0 ? AbortSignal.timeout(timeout) : undefined;
  const signal = timer && userSignal ? AbortSignal.any([userSignal, timer]) : (timer ?? userSignal);
  return waitOnThread(
    (cb) => native.recordLockAsync(fd, ofd, code, start, length, cb),
    () => undefined,
    signal,
    (s) =>
      userSignal?.aborted
        ? userSignal.reason
        : timer?.aborted
          ? errnoError('ETIMEDOUT', 'fcntl', `lock not acquired within ${timeout} ms`)
          : s.reason,
  );
}
