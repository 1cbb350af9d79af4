import { closeSync, constants, openSync } from 'node:fs';
import { ClosedError, type WaitOptions } from '@ipcx/core';
import { checkBoolean, checkInteger, checkMode, errnoError } from '@ipcx/core/transport';
import { nativeWait, nativeWaitError } from './internal/park.js';
import type { RecordLockHolder } from '@ipcx/native';
import { loadSysv, type SysvNative } from './internal/sysv.js';
import { GuardImpl, type Guard } from './sync.js';

export type { RecordLockHolder } from '@ipcx/native';

/** Options of `RecordLock.open`. */
export interface RecordLockOptions {
  /** Permissions of the file when it is created. Default 0o600 (owner only). */
  mode?: number;
  /**
   * Open file description locks (F_OFD_*, Linux 3.15+): owned by this `RecordLock`'s open file, so two
   * `RecordLock`s conflict even within one process, and closing another descriptor of the file does not drop
   * them; the kernel does not detect deadlocks among them. Default false: classic POSIX locks (F_SETLK),
   * owned by the process, with deadlock detection. Both kinds are released by the kernel when the holder dies.
   */
  ofd?: boolean;
}

/** A byte range and the kind of lock. */
export interface RecordLockRange {
  /** First byte. Default 0. */
  start?: number;
  /** Bytes; 0 (default) means to the end of the file, however far it grows. */
  length?: number;
  /** A shared (read, F_RDLCK) lock instead of an exclusive (write, F_WRLCK) one. Default false. */
  shared?: boolean;
}

/** Options of `RecordLock.lock`. */
export interface RecordLockWaitOptions extends RecordLockRange, WaitOptions {}

/**
 * fcntl(2) record locks: shared (read) and exclusive (write) locks on byte ranges of one file, the locks C
 * programs (and SQLite, and many daemons) take with `F_SETLK`. The kernel owns them: they are released when
 * the holder dies, and for classic locks it refuses a wait that would deadlock two processes
 * (`DeadlockError`, code `IPCX_ERR_DEADLOCK`). `lock` waits on a native waiter thread (F_SETLKW), never the
 * event loop or the libuv threadpool; `holder` (F_GETLK) tells who stands in the way.
 *
 * Classic locks (the default) belong to the process: locks of one process never conflict with each other,
 * and closing ANY descriptor of the file in the process (an `fs.readFile` of it included) drops them all. Use
 * `ofd: true` to exclude within one process too.
 *
 * @example
 * ```ts
 * const file = await RecordLock.open('/var/lib/app/table.db');
 * await using row = await file.lock({ start: 4096, length: 512, timeout: 1000 }); // exclusive
 * const reader = file.tryLock({ start: 0, length: 4096, shared: true });
 * console.log(file.holder({ start: 4096, length: 1 }));  // { type: 'write', start, length, pid } | undefined
 * ```
 */
export class RecordLock implements AsyncDisposable {
  /** The locked file. */
  readonly path: string;
  /** True for open file description locks. */
  readonly ofd: boolean;
  readonly #native: SysvNative;
  readonly #fd: number;
  #closed = false;

  private constructor(path: string, n: SysvNative, fd: number, ofd: boolean) {
    this.path = path;
    this.#native = n;
    this.#fd = fd;
    this.ofd = ofd;
  }

  /**
   * Opens (creating if missing) the file to lock. Read-write: a write lock needs a descriptor open for writing.
   * `open` although it may create the file, as `FileLock.open`: the file is shared by every locker, owned by
   * none of them, and never removed by a close.
   */
  static async open(path: string, options: RecordLockOptions = {}): Promise<RecordLock> {
    if (typeof path !== 'string' || path.length === 0) throw new TypeError('a RecordLock needs a file path');
    const mode = checkMode('mode', options.mode, 0o600);
    const ofd = checkBoolean('ofd', options.ofd, false);
    const n = await loadSysv();
    let fd: number;
    try {
      fd = openSync(path, constants.O_RDWR | constants.O_CREAT, mode);
    } catch (error) {
      throw errnoError(error, `record lock file "${path}" open`);
    }
    return new RecordLock(path, n, fd, ofd);
  }

  /** True once `close` was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Takes the lock on the range if no other holder conflicts now; never waits. */
  tryLock(range: RecordLockRange = {}): Guard | undefined {
    const [start, length, type] = this.#range(range);
    let taken: boolean;
    try {
      taken = this.#native.recordLock(this.#fd, type, { start, length, ofd: this.ofd });
    } catch (error) {
      throw this.#error(error);
    }
    return taken ? this.#guard(start, length) : undefined;
  }

  /**
   * Waits for the lock on the range (F_SETLKW on a native waiter thread).
   * @throws DeadlockError when the kernel sees that waiting would deadlock (classic locks), TimeoutError,
   * AbortedError, ClosedError.
   */
  async lock(options: RecordLockWaitOptions = {}): Promise<Guard> {
    const waitOptions = nativeWait('record lock', options);
    const [start, length, type] = this.#range(options);
    try {
      await this.#native.recordLockAsync(this.#fd, type, { start, length, ofd: this.ofd, ...waitOptions });
    } catch (error) {
      throw nativeWaitError('record lock', options, error, (e) => this.#error(e));
    }
    if (this.#closed) {
      // Closed while waiting: the descriptor is gone, and with it the lock.
      throw new ClosedError(`record lock "${this.path}"`);
    }
    return this.#guard(start, length);
  }

  /** F_GETLK: the first lock that would stand in the way of this one, or undefined when it could be taken now. */
  holder(range: RecordLockRange = {}): RecordLockHolder | undefined {
    const [start, length, type] = this.#range(range);
    try {
      return this.#native.recordLockHolder(this.#fd, type, { start, length, ofd: this.ofd });
    } catch (error) {
      throw this.#error(error);
    }
  }

  /** Closes the file: every lock taken through it is released. Idempotent. */
  async close(): Promise<void> {
    this.destroy();
  }

  /** The same as `close` (nothing to flush). Idempotent. */
  destroy(_error?: Error): void {
    if (this.#closed) return;
    this.#closed = true;
    closeSync(this.#fd);
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #range(range: RecordLockRange): [number, number, 'read' | 'write'] {
    if (this.#closed) throw new ClosedError(`record lock "${this.path}"`);
    const start = checkInteger('start', range.start, { default: 0 });
    const length = checkInteger('length', range.length, { default: 0 }); // 0: to the end of the file
    return [start, length, checkBoolean('shared', range.shared, false) ? 'read' : 'write'];
  }

  /** EDEADLK (waiting would deadlock) is `DeadlockError`. */
  #error(error: unknown): Error {
    return errnoError(error, `record lock on "${this.path}"`);
  }

  #guard(start: number, length: number): Guard {
    return new GuardImpl(() => {
      if (this.#closed) return; // closing the file released it
      this.#native.recordLock(this.#fd, 'unlock', { start, length, ofd: this.ofd });
    });
  }
}
