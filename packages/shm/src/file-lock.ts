import { closeSync, constants, openSync } from 'node:fs';
import { ClosedError, type WaitOptions } from '@ipcx/core';
import { checkMode, errnoError } from '@ipcx/core/transport';
import { checkBlockingAllowed, nativeWait, nativeWaitError } from './internal/park.js';
import { loadNative, type Native } from './internal/waker.js';
import { GuardImpl, type Guard } from './sync.js';

/** The part of `@ipcx/native` a FileLock uses (typed here, like waker.ts, so threads-only users need no addon). */
interface FlockNative {
  flock(fd: number, operation: 'shared' | 'exclusive' | 'unlock', options?: { nonBlocking?: boolean }): boolean;
  flockAsync(
    fd: number,
    operation: 'shared' | 'exclusive',
    options?: { timeoutMs?: number; signal?: AbortSignal },
  ): Promise<void>;
}

/** Options of `FileLock.open`. */
export interface FileLockOptions {
  /** Permissions of the lock file when it is created. Default 0o600 (owner only). */
  mode?: number;
}

/** Options of `FileLock.lock` and friends. */
export interface FileLockWaitOptions extends WaitOptions {
  /** A shared (reader) lock instead of an exclusive one: any number of shared holders, or one exclusive. */
  shared?: boolean;
}

/**
 * An advisory lock on a file with flock(2), through `@ipcx/native`: the lock to use where crash safety
 * matters more than speed. The kernel owns it, so it is released when its holder process dies,
 * however it dies (SIGKILL included), and nobody has to detect or repair anything. Costs an open, a
 * flock and a close per acquisition (a few µs), against tens of nanoseconds for an uncontended `Mutex`.
 *
 * Every acquisition opens the file anew: flock belongs to the open file description, so two guards
 * never share one and an exclusive lock excludes every other guard, in this process (any thread) or
 * another. The file is created if missing and never deleted by the lock (deleting a lock file that
 * others may hold or wait on lets two processes "hold" locks on two different files): remove it only
 * when no process uses it.
 *
 * @example
 * ```ts
 * const lock = await FileLock.open('/run/user/1000/app.lock');
 * await using guard = await lock.lock({ timeout: 5000 });              // exclusive
 * await using reading = await lock.lock({ shared: true, signal });     // shared
 * ```
 */
export class FileLock implements AsyncDisposable {
  readonly #native: FlockNative;
  readonly #mode: number;
  #closed = false;

  private constructor(
    /** The lock file. */
    readonly path: string,
    native: FlockNative,
    mode: number,
  ) {
    this.#native = native;
    this.#mode = mode;
  }

  /**
   * A lock on the file at `path` (created on first lock if missing). Loads `@ipcx/native`.
   *
   * `open`, though it may create the file: a lock file is not an object anyone owns. Every process that
   * locks it opens it the same way, no one is its creator, and no close ever removes it (see above), so the
   * create/open split of named objects (the creator owns and unlinks the name) does not apply.
   */
  static async open(path: string, options: FileLockOptions = {}): Promise<FileLock> {
    if (typeof path !== 'string' || path.length === 0) throw new TypeError('a FileLock needs a file path');
    const mode = checkMode('mode', options.mode, 0o600);
    const native = (await loadNative()) as Native & Partial<FlockNative>;
    if (typeof native.flock !== 'function' || typeof native.flockAsync !== 'function') {
      throw errnoError(Object.assign(new Error('@ipcx/native has no flock'), { code: 'ENOSYS' }), 'flock');
    }
    return new FileLock(path, native as FlockNative, mode);
  }

  /** True once `close` was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Takes the lock if it is free now (`shared`: if no exclusive holder); never waits. */
  tryLock(options: { shared?: boolean } = {}): Guard | undefined {
    const fd = this.#openFile();
    try {
      if (this.#native.flock(fd, options.shared === true ? 'shared' : 'exclusive', { nonBlocking: true }))
        return this.#guard(fd);
    } catch (error) {
      closeSync(fd);
      throw this.#error(error);
    }
    closeSync(fd);
    return undefined;
  }

  /**
   * Waits for the lock without blocking the event loop (flock runs on a native waiter thread).
   * @throws TimeoutError after `timeout` ms, AbortedError when `signal` fires.
   */
  async lock(options: FileLockWaitOptions = {}): Promise<Guard> {
    const waitOptions = nativeWait('lock', options);
    const fd = this.#openFile();
    try {
      await this.#native.flockAsync(fd, options.shared === true ? 'shared' : 'exclusive', waitOptions);
    } catch (error) {
      closeSync(fd);
      throw nativeWaitError('lock', options, error, (e) => this.#error(e));
    }
    return this.#guard(fd);
  }

  /**
   * Waits for the lock, blocking the thread: workers only (`UnsupportedError` on the main thread).
   * flock(2) has no timeout, so neither has this; use `lock` to bound the wait.
   */
  lockSync(options: { shared?: boolean } = {}): Guard {
    checkBlockingAllowed('lock');
    const fd = this.#openFile();
    try {
      this.#native.flock(fd, options.shared === true ? 'shared' : 'exclusive');
    } catch (error) {
      closeSync(fd);
      throw this.#error(error);
    }
    return this.#guard(fd);
  }

  /** Stops taking new locks (held guards stay valid until released). Idempotent. */
  async close(): Promise<void> {
    this.destroy();
  }

  /** The same as `close` (nothing to flush). Idempotent. */
  destroy(_error?: Error): void {
    this.#closed = true;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #openFile(): number {
    if (this.#closed) throw new ClosedError(`file lock "${this.path}"`);
    try {
      // libuv opens with O_CLOEXEC: a spawned child never inherits (and so never keeps) the lock.
      return openSync(this.path, constants.O_RDONLY | constants.O_CREAT, this.#mode);
    } catch (error) {
      throw errnoError(error, `lock file "${this.path}" open`);
    }
  }

  #error(error: unknown): Error {
    return errnoError(error, `flock "${this.path}"`);
  }

  #guard(fd: number): Guard {
    return new GuardImpl(() => {
      // Unlock first: the lock goes at once even if the descriptor were duplicated somewhere.
      try {
        this.#native.flock(fd, 'unlock');
      } finally {
        closeSync(fd);
      }
    });
  }
}
