import { AlreadyExistsError, ClosedError, registerKernelObject, type KernelObjectRegistration } from '@ipcx/core';
import type { SysvShmStat } from '@ipcx/native';
import { checkAdoptable, describeTarget, loadSysv, sysvError, sysvMode, sysvTarget, type SysvKeyOptions, type SysvNative, type SysvTarget, removeQuietly } from './internal/sysv.js';

/** Options of `SysvSegment.create`. */
export interface SysvSegmentCreateOptions extends SysvKeyOptions {
  /** Bytes (the kernel rounds the mapping up to a page; `buffer` has exactly this length). */
  size: number;
  /** Permission bits. Default 0o600 (owner only). */
  mode?: number;
}

/** Options of `SysvSegment.open`. */
export interface SysvSegmentOpenOptions extends SysvKeyOptions {
  /** The widest permission bits accepted: a segment open to more is refused (`PermissionError`). Default 0o600. */
  mode?: number;
}

/** Options of `SysvSegment.set` (IPC_SET): what to change. */
export interface SysvSetOptions {
  uid?: number;
  gid?: number;
  mode?: number;
}

/** `ftok(3)`: the System V key of an existing file and a project id (1 to 255), as C programs compute it. */
export async function ftok(path: string, id: number): Promise<number> {
  const n = await loadSysv();
  const target = sysvTarget(n, 'ftok', { path, id }, false, false);
  return target!.key!;
}

/**
 * A System V shared memory segment (shmget/shmat), attached as a real `SharedArrayBuffer`: the memory a C
 * program gets from `shmget(ftok(path, id), size, 0600)` + `shmat`. `create` makes a new segment and owns it
 * (`close` removes it, and it is registered for `unlinkOwnedKernelObjects`); `open` attaches to one that
 * exists, refusing a segment of another user or wider permissions than asked.
 *
 * The attachment lasts while the buffer lives: V8 detaches it when the last `SharedArrayBuffer` over it is
 * collected. `close()` detaches at once without unmapping: the buffer then reads private zero pages, so
 * code that still holds it cannot crash the process.
 *
 * @example
 * ```ts
 * const seg = await SysvSegment.create({ path: '/etc/myapp.conf', id: 1, size: 4096 });
 * const words = new Int32Array(seg.buffer);
 * Atomics.add(words, 0, 1);
 * console.log(seg.stat().attachCount);
 * await seg.close(); // detaches and, as its creator, removes it
 * ```
 */
export class SysvSegment implements AsyncDisposable {
  /** The kernel's identifier (what `ipcs -m` shows). */
  readonly id: number;
  /** The key it was found by (0: IPC_PRIVATE, or opened by id). */
  readonly key: number;
  /** The segment's memory. */
  readonly buffer: SharedArrayBuffer;
  /** True when this call created the segment (it removes it on close). */
  readonly created: boolean;
  readonly #native: SysvNative;
  readonly #what: string;
  #registration: KernelObjectRegistration | undefined;
  #closed = false;

  private constructor(n: SysvNative, id: number, key: number, buffer: SharedArrayBuffer, created: boolean, what: string) {
    this.#native = n;
    this.id = id;
    this.key = key;
    this.buffer = buffer;
    this.created = created;
    this.#what = what;
    if (created) {
      this.#registration = registerKernelObject({ kind: 'sysv-shm', name: what.replace(/^System V segment /, ''), owner: '@ipcx/shm', unlink: () => removeQuietly(n, 'shm', id) });
    }
  }

  /**
   * Creates a new segment (IPC_CREAT | IPC_EXCL): `AlreadyExistsError` if the key is taken. Without key or
   * path, a private segment (IPC_PRIVATE) that others reach by `id`.
   */
  static async create(options: SysvSegmentCreateOptions): Promise<SysvSegment> {
    const n = await loadSysv();
    const target = sysvTarget(n, 'SysvSegment.create', options, false, true);
    const size = options.size;
    if (!Number.isInteger(size) || size < 1 || size > Number.MAX_SAFE_INTEGER) throw new RangeError(`size must be a whole number of bytes above 0, got ${String(size)}`);
    const mode = sysvMode(options.mode);
    const { IPC_CREAT, IPC_EXCL, IPC_PRIVATE } = n.sysvConstants;
    const key = target?.key ?? IPC_PRIVATE;
    let id: number;
    try {
      id = n.sysv.shm.get(key, size, IPC_CREAT | IPC_EXCL | mode);
    } catch (error) {
      const what = `System V segment ${describeTarget(target, -1)}`;
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') throw new AlreadyExistsError(what, { cause: error });
      throw sysvError(`${what} create`, error);
    }
    const what = `System V segment ${describeTarget(target, id)}`;
    try {
      return new SysvSegment(n, id, key, n.sysv.shm.attach(id), true, what);
    } catch (error) {
      removeQuietly(n, 'shm', id);
      throw sysvError(`${what} attach`, error);
    }
  }

  /**
   * Attaches to an existing segment by key, `path` + `id` (ftok) or kernel `id`. Refuses (`PermissionError`)
   * a segment whose owner or creator is another uid, or whose mode is wider than `mode` (default 0o600).
   */
  static async open(options: SysvSegmentOpenOptions): Promise<SysvSegment> {
    const n = await loadSysv();
    const target = sysvTarget(n, 'SysvSegment.open', options, true, false)!;
    const mode = sysvMode(options.mode);
    const id = resolveId(n, target);
    const what = `System V segment ${describeTarget(target, id)}`;
    let stat: SysvShmStat;
    try {
      stat = n.sysv.shm.stat(id);
    } catch (error) {
      throw sysvError(`${what} stat`, error);
    }
    checkAdoptable(what, stat, mode);
    try {
      return new SysvSegment(n, id, target.key ?? stat.key, n.sysv.shm.attach(id), false, what);
    } catch (error) {
      throw sysvError(`${what} attach`, error);
    }
  }

  /** Bytes of the segment. */
  get size(): number {
    return this.buffer.byteLength;
  }

  /** True once `close` was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /** IPC_STAT: size, owner, creator pid, last attach/detach pid and times, attach count. */
  stat(): SysvShmStat {
    this.#check();
    try {
      return this.#native.sysv.shm.stat(this.id);
    } catch (error) {
      throw sysvError(`${this.#what} stat`, error);
    }
  }

  /** IPC_SET: changes the owner uid/gid and permission bits (only those given). */
  set(options: SysvSetOptions): void {
    this.#check();
    const current = this.stat();
    try {
      this.#native.sysv.shm.set(this.id, { uid: options.uid ?? current.uid, gid: options.gid ?? current.gid, mode: options.mode === undefined ? current.mode : sysvMode(options.mode) });
    } catch (error) {
      throw sysvError(`${this.#what} set`, error);
    }
  }

  /** IPC_RMID: the key is free at once; the memory goes when the last process detaches. */
  remove(): void {
    this.#check();
    try {
      this.#native.sysv.shm.remove(this.id);
    } catch (error) {
      throw sysvError(`${this.#what} remove`, error);
    }
    this.#registration?.unregister();
    this.#registration = undefined;
  }

  /** SHM_LOCK: keeps the pages in RAM (needs CAP_IPC_LOCK or room under RLIMIT_MEMLOCK; else `PermissionError`/`LimitError`). */
  lock(): void {
    this.#check();
    try {
      this.#native.sysv.shm.lock(this.id, true);
    } catch (error) {
      throw sysvError(`${this.#what} SHM_LOCK`, error);
    }
  }

  /** SHM_UNLOCK. */
  unlock(): void {
    this.#check();
    try {
      this.#native.sysv.shm.lock(this.id, false);
    } catch (error) {
      throw sysvError(`${this.#what} SHM_UNLOCK`, error);
    }
  }

  /**
   * Detaches now (the buffer then reads zeros, privately) and, if this object created the segment and it
   * was not removed yet, removes it. Idempotent.
   */
  async close(): Promise<void> {
    this.destroy();
  }

  /** The same as `close` (nothing to flush). Idempotent. */
  destroy(_error?: Error): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#native.sysv.shm.detach(this.buffer);
    if (this.#registration !== undefined) {
      this.#registration.unregister();
      this.#registration = undefined;
      removeQuietly(this.#native, 'shm', this.id);
    }
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #check(): void {
    if (this.#closed) throw new ClosedError(this.#what);
  }
}

function resolveId(n: SysvNative, target: SysvTarget): number {
  if (target.id !== undefined) return target.id;
  try {
    return n.sysv.shm.get(target.key, 0, 0);
  } catch (error) {
    throw sysvError(`System V segment ${describeTarget(target, -1)} open`, error);
  }
}


