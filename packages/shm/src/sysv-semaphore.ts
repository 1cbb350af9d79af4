import {
  AbortedError,
  AlreadyExistsError,
  ClosedError,
  TimeoutError,
  checkWaitOptions,
  registerKernelObject,
  type KernelObjectRegistration,
  type WaitOptions,
} from '@ipcx/core';
import type { SysvSemOperation, SysvSemStat } from '@ipcx/native';
import { checkAdoptable, describeTarget, loadSysv, sysvError, sysvMode, sysvTarget, type SysvKeyOptions, type SysvNative, type SysvTarget, removeQuietly } from './internal/sysv.js';
import { GuardImpl, type Guard } from './sync.js';
import type { SysvSetOptions } from './sysv-segment.js';

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
export class SysvSemaphoreSet implements AsyncDisposable {
  /** The kernel's identifier (what `ipcs -s` shows). */
  readonly id: number;
  /** The key (0: IPC_PRIVATE, or opened by id and unknown). */
  readonly key: number;
  /** How many semaphores the set has. */
  readonly count: number;
  /** True when this object created the set (it removes it on close). */
  readonly created: boolean;
  readonly #native: SysvNative;
  readonly #what: string;
  #registration: KernelObjectRegistration | undefined;
  #closed = false;

  private constructor(n: SysvNative, id: number, key: number, count: number, created: boolean, what: string) {
    this.#native = n;
    this.id = id;
    this.key = key;
    this.count = count;
    this.created = created;
    this.#what = what;
    if (created) {
      this.#registration = registerKernelObject({ kind: 'sysv-sem', name: what.replace(/^System V semaphore set /, ''), owner: '@ipcx/shm', unlink: () => removeQuietly(n, 'sem', id) });
    }
  }

  /** Creates a new set (IPC_CREAT | IPC_EXCL; `AlreadyExistsError` if the key is taken). No key: IPC_PRIVATE. */
  static async create(options: SysvSemaphoreSetCreateOptions = {}): Promise<SysvSemaphoreSet> {
    const n = await loadSysv();
    const target = sysvTarget(n, 'SysvSemaphoreSet.create', options, false, true);
    const count = options.count ?? 1;
    if (!Number.isInteger(count) || count < 1 || count > 32000) throw new RangeError(`count must be an integer from 1 to 32000, got ${String(count)}`);
    const values = options.values ?? [];
    if (!Array.isArray(values) || values.length > count || values.some((v) => !Number.isInteger(v) || v < 0 || v > SEMVMX)) {
      throw new RangeError(`values must be at most ${count} integers from 0 to ${SEMVMX}`);
    }
    const mode = sysvMode(options.mode);
    const { IPC_CREAT, IPC_EXCL, IPC_PRIVATE } = n.sysvConstants;
    let id: number;
    try {
      id = n.sysv.sem.get(target?.key ?? IPC_PRIVATE, count, IPC_CREAT | IPC_EXCL | mode);
    } catch (error) {
      const what = `System V semaphore set ${describeTarget(target, -1)}`;
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') throw new AlreadyExistsError(what, { cause: error });
      throw sysvError(`${what} create`, error);
    }
    const set = new SysvSemaphoreSet(n, id, target?.key ?? 0, count, true, `System V semaphore set ${describeTarget(target, id)}`);
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
    const n = await loadSysv();
    const target = sysvTarget(n, 'SysvSemaphoreSet.open', options, true, false)!;
    const mode = sysvMode(options.mode);
    const id = resolveId(n, target);
    const what = `System V semaphore set ${describeTarget(target, id)}`;
    let stat: SysvSemStat;
    try {
      stat = n.sysv.sem.stat(id);
    } catch (error) {
      throw sysvError(`${what} stat`, error);
    }
    checkAdoptable(what, stat, mode);
    return new SysvSemaphoreSet(n, id, target.key ?? stat.key, stat.count, false, what);
  }

  /** True once `close` was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Applies every operation atomically (all or none), waiting while one cannot proceed (a decrement below
   * zero, a wait-for-zero on a non-zero value). `noWait` on any operation makes the whole call non-blocking:
   * it resolves `false` when it would have to wait. Resolves `true` when applied.
   * @throws TimeoutError after `timeout` ms, AbortedError when `signal` fires (nothing is applied then).
   */
  async op(ops: readonly SysvSemOperation[], options: WaitOptions = {}): Promise<boolean> {
    const id = this.#check();
    checkWaitOptions(options);
    this.#checkOps(ops);
    const { signal, timeout } = options;
    if (signal?.aborted) throw new AbortedError('semaphore operation', { cause: signal.reason });
    const noWait = ops.some((o) => o.noWait === true);
    if (noWait) {
      try {
        return this.#native.sysv.sem.tryOp(id, ops);
      } catch (error) {
        throw sysvError(`${this.#what} semop`, error);
      }
    }
    let done: boolean;
    try {
      const waitOptions: { timeoutMs?: number; signal?: AbortSignal } = {};
      if (timeout !== undefined) waitOptions.timeoutMs = timeout;
      if (signal !== undefined) waitOptions.signal = signal;
      done = await this.#native.sysv.sem.opAsync(id, ops, waitOptions);
    } catch (error) {
      if (signal?.aborted) throw new AbortedError('semaphore operation', { cause: signal.reason });
      throw sysvError(`${this.#what} semop`, error);
    }
    if (!done) throw new TimeoutError('semaphore operation', timeout);
    return true;
  }

  /** Applies the operations if none has to wait now; false otherwise. Never blocks. */
  tryOp(ops: readonly SysvSemOperation[]): boolean {
    const id = this.#check();
    this.#checkOps(ops);
    try {
      return this.#native.sysv.sem.tryOp(id, ops);
    } catch (error) {
      throw sysvError(`${this.#what} semop`, error);
    }
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
    const id = this.#check();
    try {
      return this.#native.sysv.sem.getAll(id, this.count);
    } catch (error) {
      throw sysvError(`${this.#what} GETALL`, error);
    }
  }

  /** SETALL: `count` values. */
  setAll(values: readonly number[]): void {
    const id = this.#check();
    if (!Array.isArray(values) || values.length !== this.count) throw new RangeError(`setAll takes ${this.count} values`);
    try {
      this.#native.sysv.sem.setAll(id, values);
    } catch (error) {
      throw sysvError(`${this.#what} SETALL`, error);
    }
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
    const id = this.#check();
    try {
      return this.#native.sysv.sem.stat(id);
    } catch (error) {
      throw sysvError(`${this.#what} stat`, error);
    }
  }

  /** IPC_SET: owner uid/gid and permission bits (only those given). */
  set(options: SysvSetOptions): void {
    const id = this.#check();
    const current = this.stat();
    try {
      this.#native.sysv.sem.set(id, { uid: options.uid ?? current.uid, gid: options.gid ?? current.gid, mode: options.mode === undefined ? current.mode : sysvMode(options.mode) });
    } catch (error) {
      throw sysvError(`${this.#what} set`, error);
    }
  }

  /** IPC_RMID: removes the set now; operations waiting anywhere fail (EIDRM, `ClosedError`). */
  remove(): void {
    const id = this.#check();
    try {
      this.#native.sysv.sem.remove(id);
    } catch (error) {
      throw sysvError(`${this.#what} remove`, error);
    }
    this.#registration?.unregister();
    this.#registration = undefined;
  }

  /** Stops using the set; the creator removes it (if not removed yet). Idempotent. */
  async close(): Promise<void> {
    this.destroy();
  }

  /** The same as `close` (nothing to flush). Idempotent. */
  destroy(_error?: Error): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#registration !== undefined) {
      this.#registration.unregister();
      this.#registration = undefined;
      removeQuietly(this.#native, 'sem', this.id);
    }
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** @internal */
  get what(): string {
    return this.#what;
  }

  #check(): number {
    if (this.#closed) throw new ClosedError(this.#what);
    return this.id;
  }

  #checkOps(ops: readonly SysvSemOperation[]): void {
    if (!Array.isArray(ops) || ops.length === 0) throw new TypeError('ops must be a non-empty array of { index, delta, undo?, noWait? }');
    for (const o of ops) {
      if (!Number.isInteger(o?.index) || o.index < 0 || o.index >= this.count) throw new RangeError(`index must be from 0 to ${this.count - 1}, got ${String(o?.index)}`);
    }
  }

  #ctl<R>(what: string, index: number, fn: (id: number) => R): R {
    const id = this.#check();
    if (!Number.isInteger(index) || index < 0 || index >= this.count) throw new RangeError(`index must be from 0 to ${this.count - 1}, got ${String(index)}`);
    try {
      return fn(id);
    } catch (error) {
      if (error instanceof TypeError || error instanceof RangeError) throw error;
      throw sysvError(`${this.#what} ${what}`, error);
    }
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
    const permits = options.permits ?? 1;
    if (!Number.isInteger(permits) || permits < 1 || permits > SEMVMX) throw new RangeError(`permits must be an integer from 1 to ${SEMVMX}, got ${String(permits)}`);
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

function resolveId(n: SysvNative, target: SysvTarget): number {
  if (target.id !== undefined) return target.id;
  try {
    return n.sysv.sem.get(target.key, 0, 0);
  } catch (error) {
    throw sysvError(`System V semaphore set ${describeTarget(target, -1)} open`, error);
  }
}


