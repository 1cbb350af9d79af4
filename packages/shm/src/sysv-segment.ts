import { InvalidOptionError } from '@ipcx/core';
import { checkInteger } from '@ipcx/core/transport';
import type { SysvShmStat } from '@ipcx/native';
import { checkMode } from './internal/options.js';
import { SysvObject, SysvResource, loadSysv, sysvTarget, type SysvKeyOptions } from './internal/sysv.js';

export type { SysvSetOptions } from './internal/sysv.js';

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
export class SysvSegment extends SysvResource {
  /** The segment's memory. */
  readonly buffer: SharedArrayBuffer;

  private constructor(object: SysvObject) {
    super(object);
    try {
      this.buffer = object.call('attach', (id) => object.native.sysv.shm.attach(id));
    } catch (error) {
      object.close(); // a segment this call created goes again
      throw error;
    }
  }

  /**
   * Creates a new segment (IPC_CREAT | IPC_EXCL): `AlreadyExistsError` if the key is taken. Without key or
   * path, a private segment (IPC_PRIVATE) that others reach by `id`.
   */
  static async create(options: SysvSegmentCreateOptions): Promise<SysvSegment> {
    if (options?.size === undefined) throw new InvalidOptionError('size', undefined, 'a whole number of bytes above 0');
    const size = checkInteger('size', options.size, { min: 1 })!;
    return new SysvSegment(
      await SysvObject.create('shm', 'SysvSegment.create', options, size, checkMode(options.mode)),
    );
  }

  /**
   * Attaches to an existing segment by key, `path` + `id` (ftok) or kernel `id`. Refuses (`PermissionError`)
   * a segment whose owner or creator is another uid, or whose mode is wider than `mode` (default 0o600).
   */
  static async open(options: SysvSegmentOpenOptions): Promise<SysvSegment> {
    const { object } = await SysvObject.open('shm', 'SysvSegment.open', options, checkMode(options?.mode));
    return new SysvSegment(object);
  }

  /** Bytes of the segment. */
  get size(): number {
    return this.buffer.byteLength;
  }

  /** IPC_STAT: size, owner, creator pid, last attach/detach pid and times, attach count. */
  stat(): SysvShmStat {
    return this.sysv.call('stat', (id) => this.sysv.native.sysv.shm.stat(id));
  }

  /** SHM_LOCK: keeps the pages in RAM (needs CAP_IPC_LOCK or room under RLIMIT_MEMLOCK; else `PermissionError`/`LimitError`). */
  lock(): void {
    this.sysv.call('SHM_LOCK', (id) => this.sysv.native.sysv.shm.lock(id, true));
  }

  /** SHM_UNLOCK. */
  unlock(): void {
    this.sysv.call('SHM_UNLOCK', (id) => this.sysv.native.sysv.shm.lock(id, false));
  }

  /**
   * Detaches now (the buffer then reads zeros, privately) and, if this object created the segment and it
   * was not removed yet, removes it. Idempotent.
   */
  override destroy(_error?: Error): void {
    if (this.sysv.closed) return;
    this.sysv.native.sysv.shm.detach(this.buffer);
    this.sysv.close();
  }
}
