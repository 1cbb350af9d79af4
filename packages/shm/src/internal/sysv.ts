/**
 * What the System V objects of this package share: loading the addon, reading `{ key | path + id | id }`,
 * and refusing to adopt an object that another user made or that is open wider than asked.
 */
import { ClosedError, InvalidNameError, PermissionError } from '@ipcx/core';
import { registerKernelObject, type KernelObjectRegistration } from '@ipcx/core/transport';
import { errnoError, type ErrnoContext } from '@ipcx/core/transport';
import { checkMode } from './options.js';
import { importNative } from './waker.js';

export type SysvNative = typeof import('@ipcx/native');
type SysvShmStat = import('@ipcx/native').SysvShmStat;
type SysvSemStat = import('@ipcx/native').SysvSemStat;

/** Loads `@ipcx/native` (System V objects always need it). */
export function loadSysv(): Promise<SysvNative> {
  return importNative<SysvNative>('System V IPC');
}

/** How a System V object is found: a numeric `key`, `path` + `id` through ftok(3), or (open only) its kernel `id`. */
export interface SysvKeyOptions {
  /** A System V key: a 32-bit integer other than 0 (IPC_PRIVATE). */
  key?: number | undefined;
  /** With `id`: the key is `ftok(path, id)` (the file must exist; `id` 1 to 255). */
  path?: string | undefined;
  /** With `path`: ftok's project id. Alone (in `open`): the kernel's identifier of the object (as `ipcs` shows). */
  id?: number | undefined;
}

/** Where to find an object: by key, or by kernel id. */
export type SysvTarget = { key: number; id?: undefined } | { key?: undefined; id: number };

function checkKey(key: unknown): number {
  if (typeof key !== 'number' || !Number.isInteger(key) || key < -0x8000_0000 || key > 0xffff_ffff || key === 0) {
    throw new InvalidNameError(String(key), 'a System V key is a 32-bit integer other than 0 (IPC_PRIVATE)');
  }
  return key | 0;
}

/**
 * Reads the key options. `allowId`: `{ id }` alone names the kernel object (open); `allowPrivate`: no key at
 * all means IPC_PRIVATE (create). Throws `InvalidNameError` for a bad key and TypeError for a bad mix.
 */
export function sysvTarget(
  n: SysvNative,
  what: string,
  o: SysvKeyOptions,
  allowId: boolean,
  allowPrivate: boolean,
): SysvTarget | undefined {
  if (o === null || typeof o !== 'object')
    throw new TypeError(`${what} takes an options object with key, path + id${allowId ? ' or id' : ''}`);
  if (o.key !== undefined) {
    if (o.path !== undefined || o.id !== undefined) throw new TypeError(`${what}: give key, or path + id, not both`);
    return { key: checkKey(o.key) };
  }
  if (o.path !== undefined) {
    if (typeof o.path !== 'string' || o.path.length === 0 || o.path.includes('\0'))
      throw new InvalidNameError(String(o.path), 'ftok needs the path of an existing file');
    if (!Number.isInteger(o.id) || o.id! < 1 || o.id! > 255)
      throw new InvalidNameError(String(o.id), 'ftok takes an id from 1 to 255');
    let key: number;
    try {
      key = n.sysv.ftok(o.path, o.id!);
    } catch (error) {
      throw errnoError(error, `ftok("${o.path}", ${o.id})`);
    }
    return { key: checkKey(key) };
  }
  if (o.id !== undefined) {
    if (!allowId) throw new TypeError(`${what}: id without path; a new object is found by key or by path + id`);
    if (!Number.isInteger(o.id) || o.id < 0 || o.id > 0x7fff_ffff)
      throw new InvalidNameError(String(o.id), 'a System V id is an integer from 0 to 2^31 - 1');
    return { id: o.id };
  }
  if (allowPrivate) return undefined;
  throw new TypeError(`${what} needs key, path + id${allowId ? ', or id' : ''}`);
}

/** How an object is named in messages and in the registry: `key 0x1234abcd` or `id 42`. */
export function describeTarget(t: SysvTarget | undefined, id: number): string {
  return t?.key !== undefined ? `key 0x${(t.key >>> 0).toString(16).padStart(8, '0')}` : `id ${id}`;
}

/**
 * Refuses an object this process must not adopt: owned or created by another user, or open to more than
 * `mode` allows. Root bypasses System V permission checks, so this is the only thing that stops a root
 * process from trusting an object someone else planted under a known key.
 */
export function checkAdoptable(what: string, stat: { uid: number; cuid: number; mode: number }, mode: number): void {
  const me = process.geteuid?.() ?? -1;
  if (stat.uid !== me || stat.cuid !== me) {
    throw new PermissionError(
      `${what} belongs to uid ${stat.uid} (created by uid ${stat.cuid}), not to this process's uid ${me}; it is not adopted`,
    );
  }
  if ((stat.mode & ~mode) !== 0) {
    throw new PermissionError(
      `${what} has mode 0o${stat.mode.toString(8)}, wider than the 0o${mode.toString(8)} asked for; it is not adopted (pass a wider mode to accept it)`,
    );
  }
}

const SYSV_LIMITS: ErrnoContext['limits'] = {
  ENOSPC: {
    limit: 'System V identifiers',
    hint: 'the system holds its maximum number of such objects (kernel.shmmni, kernel.msgmni, kernel.sem) or bytes (kernel.shmall); remove unused ones (ipcs, ipcrm) or raise the sysctl',
  },
};

/**
 * Maps a System V errno to a typed error: EIDRM (removed while in use) is `ClosedError`, ENOSPC (the system's
 * count of such objects) is `LimitError` naming the sysctl, the rest as `errnoError` (EEXIST: `AlreadyExistsError`).
 */
export function sysvError(what: string, error: unknown): Error {
  if ((error as NodeJS.ErrnoException).code === 'EIDRM')
    return new ClosedError(`${what} (the object was removed)`, { cause: error });
  return errnoError(error, what, { limits: SYSV_LIMITS });
}

/** Removes a System V object the creator owns, quietly: a peer or `ipcrm` may have removed it already. */
export function removeQuietly(n: SysvNative, kind: 'shm' | 'sem', id: number): void {
  try {
    n.sysv[kind].remove(id);
  } catch {
    // already removed
  }
}

/** The two kinds of System V object this package makes: shared memory and semaphore sets. */
export type SysvKind = 'shm' | 'sem';

const KINDS = {
  shm: { label: 'System V segment', registry: 'sysv-shm' },
  sem: { label: 'System V semaphore set', registry: 'sysv-sem' },
} as const;

/**
 * The kernel side of a `SysvSegment` or `SysvSemaphoreSet`: how it is made or found (`create` / `open`), its id
 * and name in messages, the registration of the object this process created (so `unlinkOwnedKernelObjects`
 * removes it), and the calls on it (`call`: `ClosedError` once closed, errno mapped by `sysvError`).
 */
export class SysvObject {
  /** Names it in errors: `System V segment key 0x1234abcd`. */
  readonly what: string;
  #registration: KernelObjectRegistration | undefined;
  #closed = false;

  private constructor(
    readonly native: SysvNative,
    readonly kind: SysvKind,
    readonly id: number,
    /** The key it was found by (0: IPC_PRIVATE, or opened by id and unknown). */
    readonly key: number,
    target: SysvTarget | undefined,
    /** True when this process created it: close removes it. */
    readonly created: boolean,
  ) {
    const name = describeTarget(target, id);
    this.what = `${KINDS[kind].label} ${name}`;
    if (created) {
      this.#registration = registerKernelObject({
        kind: KINDS[kind].registry,
        name,
        owner: '@ipcx/shm',
        unlink: () => removeQuietly(native, kind, id),
      });
    }
  }

  /**
   * Creates a new object (IPC_CREAT | IPC_EXCL: `AlreadyExistsError` when the key is taken; no key or path:
   * IPC_PRIVATE, which others reach by id). `size`: bytes of a segment, semaphores of a set.
   */
  static async create(
    kind: SysvKind,
    operation: string,
    options: SysvKeyOptions,
    size: number,
    mode: number,
  ): Promise<SysvObject> {
    const n = await loadSysv();
    const target = sysvTarget(n, operation, options, false, true);
    const { IPC_CREAT, IPC_EXCL, IPC_PRIVATE } = n.sysvConstants;
    const key = target?.key ?? IPC_PRIVATE;
    let id: number;
    try {
      id = n.sysv[kind].get(key, size, IPC_CREAT | IPC_EXCL | mode);
    } catch (error) {
      throw sysvError(`${KINDS[kind].label} ${describeTarget(target, -1)} create`, error);
    }
    return new SysvObject(n, kind, id, key, target, true);
  }

  /**
   * Finds an existing object by key, `path` + `id` (ftok) or kernel `id`, and refuses (`PermissionError`) one
   * that another uid owns or created or whose mode is wider than `mode`. Returns it with its IPC_STAT.
   */
  static async open<K extends SysvKind>(
    kind: K,
    operation: string,
    options: SysvKeyOptions,
    mode: number,
  ): Promise<{ object: SysvObject; stat: SysvStat<K> }> {
    const n = await loadSysv();
    const target = sysvTarget(n, operation, options, true, false)!;
    let id = target.id;
    if (id === undefined) {
      try {
        id = n.sysv[kind].get(target.key!, 0, 0);
      } catch (error) {
        throw sysvError(`${KINDS[kind].label} ${describeTarget(target, -1)} open`, error);
      }
    }
    const what = `${KINDS[kind].label} ${describeTarget(target, id)}`;
    let stat: SysvStat<K>;
    try {
      stat = n.sysv[kind].stat(id) as SysvStat<K>;
    } catch (error) {
      throw sysvError(`${what} stat`, error);
    }
    checkAdoptable(what, stat, mode);
    return { object: new SysvObject(n, kind, id, target.key ?? stat.key, target, false), stat };
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Runs `fn` on the id: `ClosedError` once closed; an OS error is mapped by `sysvError` as "`what` `operation`". */
  call<R>(operation: string, fn: (id: number) => R): R {
    if (this.#closed) throw new ClosedError(this.what);
    try {
      return fn(this.id);
    } catch (error) {
      if (error instanceof TypeError || error instanceof RangeError) throw error; // a bad argument, not an errno
      throw sysvError(`${this.what} ${operation}`, error);
    }
  }

  /** IPC_SET: owner uid/gid and permission bits (only those given; the rest as IPC_STAT shows them). */
  set(options: SysvSetOptions): void {
    const current = this.call('stat', (id) => this.native.sysv[this.kind].stat(id));
    const mode = options.mode === undefined ? current.mode : checkMode(options.mode);
    this.call('set', (id) =>
      this.native.sysv[this.kind].set(id, { uid: options.uid ?? current.uid, gid: options.gid ?? current.gid, mode }),
    );
  }

  /** IPC_RMID now: the key is free at once. The creator's registration ends. */
  remove(): void {
    this.call('remove', (id) => this.native.sysv[this.kind].remove(id));
    this.#registration?.unregister();
    this.#registration = undefined;
  }

  /** Marks it closed and, if this process created it and it was not removed yet, removes it. Idempotent. */
  close(): void {
    this.#closed = true;
    if (this.#registration === undefined) return;
    this.#registration.unregister();
    this.#registration = undefined;
    removeQuietly(this.native, this.kind, this.id);
  }
}

/** What IPC_STAT returns for each kind. */
export type SysvStat<K extends SysvKind> = K extends 'shm' ? SysvShmStat : SysvSemStat;

/** Options of `set` (IPC_SET) of a System V object: what to change. */
export interface SysvSetOptions {
  uid?: number;
  gid?: number;
  mode?: number;
}

/**
 * What `SysvSegment` and `SysvSemaphoreSet` share: their kernel identity, IPC_SET, IPC_RMID and closing. The
 * creator's close removes the object (unless `remove` did already); others only stop using it.
 */
export abstract class SysvResource implements AsyncDisposable {
  /** @internal */
  protected readonly sysv: SysvObject;

  protected constructor(sysv: SysvObject) {
    this.sysv = sysv;
  }

  /** The kernel's identifier (what `ipcs` shows). */
  get id(): number {
    return this.sysv.id;
  }

  /** The key it was found by (0: IPC_PRIVATE, or opened by id and unknown). */
  get key(): number {
    return this.sysv.key;
  }

  /** True when this object created it (it removes it on close). */
  get created(): boolean {
    return this.sysv.created;
  }

  /** True once `close` was called. */
  get closed(): boolean {
    return this.sysv.closed;
  }

  /** IPC_SET: changes the owner uid/gid and permission bits (only those given). */
  set(options: SysvSetOptions): void {
    this.sysv.set(options);
  }

  /**
   * IPC_RMID: the key is free at once. A segment's memory goes when the last process detaches; operations
   * waiting on a semaphore set fail (EIDRM, `ClosedError`).
   */
  remove(): void {
    this.sysv.remove();
  }

  /** Stops using it; the creator removes it (if not removed yet). Idempotent. */
  async close(): Promise<void> {
    this.destroy();
  }

  /** The same as `close` (nothing to flush). Idempotent. */
  destroy(_error?: Error): void {
    this.sysv.close();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
