/**
 * POSIX named semaphores (sem_open). A {@link Semaphore} is a handle: close() is idempotent, cancels
 * pending waitAsync calls, and the sem_t is released once the last pending wait has returned.
 */
import { constants, native, type NativeSemaphore } from './binding.js';
import { errnoError } from './errors.js';
import {
  ipcName,
  toNativeTimeout,
  validateBoolean,
  validateInt,
  validateMode,
  validateSignal,
} from './internal/validate.js';
import { waitOnThread } from './internal/wait-on-thread.js';

export interface SemOpenOptions {
  create?: boolean;
  /** Fail with EEXIST if it exists; implies create. */
  exclusive?: boolean;
  /** Default 0o600. */
  mode?: number;
  /** Initial value of a created semaphore (default 0). */
  value?: number;
}

export interface SemWaitAsyncOptions {
  /** Cancels the wait; the promise rejects with `signal.reason`. */
  signal?: AbortSignal;
}

// SEM_VALUE_MAX on Linux.
const SEM_VALUE_MAX = 0x7fffffff;

export class Semaphore {
  readonly name: string;
  #native: NativeSemaphore | undefined;

  /** @internal use sem.open */
  constructor(name: string, handle: NativeSemaphore) {
    this.name = name;
    this.#native = handle;
  }

  /** Increments the value, waking one waiter. EOVERFLOW at SEM_VALUE_MAX. */
  post(): void {
    this.#handle('sem_post').post();
  }

  /** Decrements, blocking the thread while the value is 0 (for workers). false when the timeout passed. */
  wait(timeoutMs?: number): boolean {
    return this.#handle('sem_wait').wait(toNativeTimeout(timeoutMs));
  }

  /**
   * Decrements without blocking the event loop: the wait runs on a native waiter thread. Resolves true when
   * acquired, false on timeout; rejects with ECANCELED if the semaphore is closed meanwhile. A pending
   * wait keeps the event loop alive.
   */
  waitAsync(timeoutMs?: number, options: SemWaitAsyncOptions = {}): Promise<boolean> {
    const timeout = toNativeTimeout(timeoutMs);
    const signal = validateSignal(options.signal);
    let handle: NativeSemaphore;
    try {
      handle = this.#handle('sem_wait');
    } catch (error) {
      return Promise.reject(error);
    }
    if (signal?.aborted) return Promise.reject(signal.reason);
    // Fast path: an available unit is taken without a thread.
    if (handle.tryWait()) return Promise.resolve(true);
    if (timeout === 0) return Promise.resolve(false);
    return waitOnThread(
      (cb) => handle.waitAsync(timeout, cb),
      (r) => r === 1,
      signal,
    );
  }

  /** Decrements if the value is above 0; never blocks. */
  tryWait(): boolean {
    return this.#handle('sem_trywait').tryWait();
  }

  /** The current value (a snapshot). */
  value(): number {
    return this.#handle('sem_getvalue').value();
  }

  /** Closes the handle (not the semaphore: see sem.unlink). Idempotent. */
  close(): void {
    this.#native?.close();
    this.#native = undefined;
  }

  get closed(): boolean {
    return this.#native === undefined;
  }

  [Symbol.dispose](): void {
    this.close();
  }

  #handle(syscall: string): NativeSemaphore {
    if (this.#native === undefined) throw errnoError('EBADF', syscall, `semaphore ${this.name} is closed`);
    return this.#native;
  }
}

export const sem = {
  /**
   * Opens (and with `create`, creates) a named semaphore.
   * @example
   * const s = sem.open('/ipcx-slots', { create: true, value: 4 });
   * if (await s.waitAsync(1000)) { try { work(); } finally { s.post(); } }
   */
  open(name: string, options: SemOpenOptions = {}): Semaphore {
    const n = ipcName(name);
    const exclusive = validateBoolean(options.exclusive ?? false, 'options.exclusive');
    const create = validateBoolean(options.create ?? false, 'options.create') || exclusive;
    const mode = validateMode(options.mode ?? 0o600, 'options.mode');
    const value = validateInt(options.value ?? 0, 'options.value', 0, SEM_VALUE_MAX);
    const oflag = (create ? constants.O_CREAT : 0) | (exclusive ? constants.O_EXCL : 0);
    return new Semaphore(n, new native.Semaphore(n, oflag, mode, value));
  },

  /** Removes the name; open handles keep working. ENOENT if absent. */
  unlink(name: string): void {
    native.semUnlink(ipcName(name));
  },
};
