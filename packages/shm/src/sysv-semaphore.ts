import { ClosedError, InvalidOptionError, TimeoutError, type WaitOptions } from '@ipcx/core';
import { checkInteger } from '@ipcx/core/transport';
import type { SysvSemOperation, SysvSemStat } from '@ipcx/native';
import { checkMode } from './internal/options.js';
import { nativeWait, nativeWaitError } from './internal/park.js';
import {
  SysvObject,
  SysvResource,
  loadSysv,
  sysvError,
  type SysvKeyOptions,
  type SysvNative,
} from './internal/sysv.js';
import { GuardImpl, type Guard } from './sync.js';

export type { SysvSemOperation, SysvSemStat } from '@ipcx/native';

/** The largest value of a System V semaphore (SEMVMX). */
export const SEMVMX = 32767;

/** Options of `SysvSemaphoreSet.create`. */
export interface SysvSemaphoreSetCreateOptions extends SysvKeyOptions {
  /** How many semaphores (1 to 32000, the kernel's SEMMSL bounds it further: 32000 on Linux by default). Default 1. */
  count?: number;
  /** Initial values (default all 0); length `count`. */
  values?: readonly number[];
  /** Permission bits. Default 0o600 (owner only). */
  mode?: number;
}

/** Options of `SysvSemaphoreSet.open`. */
export interface SysvSemaphoreSetOpenOptions extends SysvKeyOptions {
  /** The widest permission bits accepted; a set open to more is refused (`PermissionError`). Default 0o600. */
  mode?: number;
}

/**
 * A System V semaphore set (semget/semop/semctl): `count` semaphores changed together, atomically, by `op`.
 * An operation with `undo` (SEM_UNDO) is reversed by the kernel when the process exits, SIGKILL included:
 * a crash never strands a unit. `create` makes and owns the set (`close` removes it; it is registered for
 * `unlinkOwnedKernelObjects`); `open` refuses a set of another user or wider permissions than asked.
 *
 * Waiting: `op` first tries with IPC_NOWAIT (no thread); if it must wait it runs semtimedop on a native waiter
 * thread (one thread per pending wait, from a pool; never the libuv threadpool), which a timeout or an abort
 * interrupts.
 *
 * @example
 * ```ts
 * const set = await SysvSemaphoreSet.create({ key: 0x1234, count: 2, values: [1, 0] });
 * await set.op([{ index: 0, delta: -1, undo: true }, { index: 1, delta: 1 }], { timeout: 1000 });
 * console.log(set.getAll()); // [0, 1]
 * ```
 */
export class SysvSemaphoreSet extends SysvResource {
  /** How many semaphores the set has. */
  readonly count: number;
  readonly #native: SysvNative;

  private constructor(object: SysvObject, count: number) {
    super(object);
    this.#native = object.native;
    this.count = count;
  }

  /** Creates a new set (IPC_CREAT | IPC_EXCL; `AlreadyExistsError` if the key is taken). No key: IPC_PRIVATE. */
  static async create(options: SysvSemaphoreSetCreateOptions = {}): Promise<SysvSemaphoreSet> {
    const count = checkInteger('count', options?.count, { min: 1, max: 32000, default: 1 });
    const values = options.values ?? [];
    if (
      !Array.isArray(values) ||
      values.length > count ||
      values.some((v) => !Number.isInteger(v) || v < 0 || v > SEMVMX)
    ) {
      throw new InvalidOptionError('values', values, `at most ${count} integers from 0 to ${SEMVMX}`);
    }
    const set = new SysvSemaphoreSet(
      await SysvObject.create('sem', 'SysvSemaphoreSet.create', options, count, checkMode(options.mode)),
      count,
    );
    if (values.length > 0) {
      try {
        set.setAll([...values, ...new Array<number>(count - values.length).fill(0)]);
      } catch (error) {
        await set.close();
        throw error;
      }
    }
    return set;
  }

  /** Opens an existing set by key, `path` + `id` or kernel `id`; refuses another user's or a wider one (`PermissionError`). */
  static async open(options: SysvSemaphoreSetOpenOptions): Promise<SysvSemaphoreSet> {
    const { object, stat } = await SysvObject.open('sem', 'SysvSemaphoreSet.open', options, checkMode(options?.mode));
    return new SysvSemaphoreSet(object, stat.count);
  }

  /**
   * Applies every operation atomically (all or none), waiting while one cannot proceed (a decrement below
   * zero, a wait-for-zero on a non-zero value). `noWait` on any operation makes the whole call non-blocking:
   * it resolves `false` when it would have to wait. Resolves `true` when applied.
   * @throws TimeoutError after `timeout` ms, AbortedError when `signal` fires (nothing is applied then).
   */
  async op(ops: readonly SysvSemOperation[], options: WaitOptions = {}): Promise<boolean> {
    const object = this.sysv;
    if (object.closed) throw new ClosedError(object.what);
    const waitOptions = nativeWait('semaphore operation', options);
    this.#checkOps(ops);
    if (ops.some((o) => o.noWait === true)) return this.#tryOp(ops);
    let done: boolean;
    try {
      done = await this.#native.sysv.sem.opAsync(object.id, ops, waitOptions);
    } catch (error) {
      throw nativeWaitError('semaphore operation', options, error, (e) => sysvError(`${object.what} semop`, e));
    }
    if (!done) throw new TimeoutError('semaphore operation', options.timeout);
    return true;
  }

  /** Applies the operations if none has to wait now; false otherwise. Never blocks. */
  tryOp(ops: readonly SysvSemOperation[]): boolean {
    this.#checkOps(ops);
    return this.#tryOp(ops);
  }

  /** GETVAL. */
  getValue(index: number): number {
    return this.#ctl('GETVAL', index, (id) => this.#native.sysv.sem.getValue(id, index));
  }

  /** SETVAL (also clears every process's undo adjustment for that semaphore). */
  setValue(index: number, value: number): void {
    this.#ctl('SETVAL', index, (id) => this.#native.sysv.sem.setValue(id, index, value));
  }

  /** GETALL. */
  getAll(): number[] {
    return this.sysv.call('GETALL', (id) => this.#native.sysv.sem.getAll(id, this.count));
  }

  /** SETALL: `count` values. */
  setAll(values: readonly number[]): void {
    this.sysv.call('SETALL', (id) => {
      if (!Array.isArray(values) || values.length !== this.count)
        throw new RangeError(`setAll takes ${this.count} values`);
      this.#native.sysv.sem.setAll(id, values);
    });
  }

  /** GETPID: the process that operated last on semaphore `index`. */
  getPid(index: number): number {
    return this.#ctl('GETPID', index, (id) => this.#native.sysv.sem.getPid(id, index));
  }

  /** GETNCNT: processes waiting for semaphore `index` to grow. */
  getNcnt(index: number): number {
    return this.#ctl('GETNCNT', index, (id) => this.#native.sysv.sem.getNcnt(id, index));
  }

  /** GETZCNT: processes waiting for semaphore `index` to be zero. */
  getZcnt(index: number): number {
    return this.#ctl('GETZCNT', index, (id) => this.#native.sysv.sem.getZcnt(id, index));
  }

  /** IPC_STAT. */
  stat(): SysvSemStat {
    return this.sysv.call('stat', (id) => this.#native.sysv.sem.stat(id));
  }

  /** @internal */
  get what(): string {
    return this.sysv.what;
  }

  #tryOp(ops: readonly SysvSemOperation[]): boolean {
    return this.sysv.call('semop', (id) => this.#native.sysv.sem.tryOp(id, ops));
  }

  #checkOps(ops: readonly SysvSemOperation[]): void {
    if (!Array.isArray(ops) || ops.length === 0)
      throw new TypeError('ops must be a non-empty array of { index, delta, undo?, noWait? }');
    for (const o of ops) this.#checkIndex(o?.index);
  }

  #checkIndex(index: unknown): void {
    if (!Number.isInteger(index) || (index as number) < 0 || (index as number) >= this.count)
      throw new RangeError(`index must be from 0 to ${this.count - 1}, got ${String(index)}`);
  }

  #ctl<R>(operation: string, index: number, fn: (id: number) => R): R {
    return this.sysv.call(operation, (id) => {
      this.#checkIndex(index);
      return fn(id);
    });
  }
}

/** Options of `SysvLock.create`. */
export interface SysvLockCreateOptions extends SysvKeyOptions {
  /** How many holders at once. Default 1 (a mutex). */
  permits?: number;
  /** Permission bits. Default 0o600. */
  mode?: number;
}

/**
 * A crash-safe counting lock: one System V semaphore taken with SEM_UNDO, so the kernel gives a dead
 * holder's permit back, however it died. Costs one semop per lock and per release (about a microsecond,
 * no shared memory to repair); a wait runs on a native waiter thread. Between processes only in effect:
 * the undo list is per process, so threads of one process share it (a permit is still counted per lock).
 *
 * @example
 * ```ts
 * const slots = await SysvLock.create({ key: 0x5157, permits: 2 });  // others: SysvLock.open({ key: 0x5157 })
 * await using guard = await slots.lock({ timeout: 1000 });
 * ```
 */
export class SysvLock implements AsyncDisposable {
  readonly #set: SysvSemaphoreSet;
  readonly #native: SysvNative;
  // Encoded once: an acquire and a release are then one addon call each.
  readonly #take: Int32Array;
  readonly #give: Int32Array;

  private constructor(set: SysvSemaphoreSet, n: SysvNative) {
    this.#set = set;
    this.#native = n;
    this.#take = n.sysv.sem.encode([{ index: 0, delta: -1, undo: true }], true);
    this.#give = n.sysv.sem.encode([{ index: 0, delta: 1, undo: true }], true);
  }

  /** Creates the lock (a one-semaphore set) with `permits` free permits; owns it (close removes it). */
  static async create(options: SysvLockCreateOptions = {}): Promise<SysvLock> {
    const permits = checkInteger('permits', options.permits, { min: 1, max: SEMVMX, default: 1 });
    const { permits: _, ...rest } = options;
    const set = await SysvSemaphoreSet.create({ ...rest, count: 1, values: [permits] });
    return new SysvLock(set, await loadSysv());
  }

  /** Opens a lock another process created (or any one-semaphore set used the same way, e.g. by a C program). */
  static async open(options: SysvSemaphoreSetOpenOptions): Promise<SysvLock> {
    const set = await SysvSemaphoreSet.open(options);
    return new SysvLock(set, await loadSysv());
  }

  /** The semaphore set underneath (its `id`, `stat()`, `getPid(0)`, `getNcnt(0)`). */
  get set(): SysvSemaphoreSet {
    return this.#set;
  }

  /** Permits free now (a snapshot). */
  get available(): number {
    return this.#set.getValue(0);
  }

  /** True once `close` was called. */
  get closed(): boolean {
    return this.#set.closed;
  }

  /** Takes a permit if one is free now. */
  tryLock(): Guard | undefined {
    return this.#try(this.#take) ? this.#guard() : undefined;
  }

  /** Waits for a permit. @throws TimeoutError, AbortedError, ClosedError (also when the set is removed). */
  async lock(options: WaitOptions = {}): Promise<Guard> {
    await this.#set.op([{ index: 0, delta: -1, undo: true }], options);
    return this.#guard();
  }

  /** Stops using the lock; its creator removes the semaphore. Held guards are not released. Idempotent. */
  close(): Promise<void> {
    return this.#set.close();
  }

  /** The same as `close`. Idempotent. */
  destroy(error?: Error): void {
    this.#set.destroy(error);
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #guard(): Guard {
    // +1 with SEM_UNDO cancels the -1's undo adjustment: after a release nothing is left to reverse.
    return new GuardImpl(() => void this.#try(this.#give));
  }

  #try(encoded: Int32Array): boolean {
    if (this.#set.closed) throw new ClosedError(this.#set.what);
    try {
      return this.#native.sysv.sem.tryEncoded(this.#set.id, encoded);
    } catch (error) {
      throw sysvError(`${this.#set.what} semop`, error);
    }
  }
}
