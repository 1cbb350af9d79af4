import { native, type NativeWaitCallback } from '../binding.js';
import { isErrnoError } from '../errors.js';

/**
 * Runs a blocking wait on a native waiter thread and settles a promise with its outcome.
 * `start` submits the job and returns its id. An abort cancels the job (the thread's syscall is
 * interrupted) and the promise rejects with `reasonFor(signal)` (default: `signal.reason`). The abort
 * listener is removed when the wait settles. A pending wait keeps the event loop alive.
 */
export function waitOnThread<T>(
  start: (callback: NativeWaitCallback) => number,
  map: (result: number) => T,
  signal: AbortSignal | undefined,
  reasonFor: (signal: AbortSignal) => unknown = (s) => s.reason,
): Promise<T> {
  if (signal?.aborted) return Promise.reject(reasonFor(signal));
  return new Promise<T>((resolve, reject) => {
    let onAbort: (() => void) | undefined;
    const id = start((error, result) => {
      if (onAbort !== undefined) signal!.removeEventListener('abort', onAbort);
      if (error === null) resolve(map(result));
      else if (signal?.aborted && isErrnoError(error, 'ECANCELED')) reject(reasonFor(signal));
      else reject(error);
    });
    if (signal !== undefined) {
      onAbort = () => native.cancelWait(id);
      signal.addEventListener('abort', onAbort, { once: true });
    }
  });
}
