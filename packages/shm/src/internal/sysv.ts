/**
 * What the System V objects of this package share: loading the addon, reading `{ key | path + id | id }`,
 * and refusing to adopt an object that another user made or that is open wider than asked.
 */
import { ClosedError, InvalidNameError, LimitError, PermissionError, UnsupportedError, fromSystemError } from '@ipcx/core';

export type SysvNative = typeof import('@ipcx/native');

const NATIVE = '@ipcx/native';
let native: SysvNative | undefined;

/** Loads `@ipcx/native` once (System V objects always need it). */
export async function loadSysv(): Promise<SysvNative> {
  if (native === undefined) {
    try {
      native = (await import(NATIVE)) as SysvNative;
    } catch (error) {
      throw new UnsupportedError('System V IPC (the @ipcx/native addon did not load)', { cause: error });
    }
  }
  return native;
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
export function sysvTarget(n: SysvNative, what: string, o: SysvKeyOptions, allowId: boolean, allowPrivate: boolean): SysvTarget | undefined {
  if (o === null || typeof o !== 'object') throw new TypeError(`${what} takes an options object with key, path + id${allowId ? ' or id' : ''}`);
  if (o.key !== undefined) {
    if (o.path !== undefined || o.id !== undefined) throw new TypeError(`${what}: give key, or path + id, not both`);
    return { key: checkKey(o.key) };
  }
  if (o.path !== undefined) {
    if (typeof o.path !== 'string' || o.path.length === 0 || o.path.includes('\0')) throw new InvalidNameError(String(o.path), 'ftok needs the path of an existing file');
    if (!Number.isInteger(o.id) || o.id! < 1 || o.id! > 255) throw new InvalidNameError(String(o.id), 'ftok takes an id from 1 to 255');
    let key: number;
    try {
      key = n.sysv.ftok(o.path, o.id!);
    } catch (error) {
      throw fromSystemError(`ftok("${o.path}", ${o.id})`, error);
    }
    return { key: checkKey(key) };
  }
  if (o.id !== undefined) {
    if (!allowId) throw new TypeError(`${what}: id without path; a new object is found by key or by path + id`);
    if (!Number.isInteger(o.id) || o.id < 0 || o.id > 0x7fff_ffff) throw new InvalidNameError(String(o.id), 'a System V id is an integer from 0 to 2^31 - 1');
    return { id: o.id };
  }
  if (allowPrivate) return undefined;
  throw new TypeError(`${what} needs key, path + id${allowId ? ', or id' : ''}`);
}

/** A permission mode from 0 to 0o777 (System V objects have no setuid/sticky bits). */
export function sysvMode(mode: unknown, fallback = 0o600): number {
  if (mode === undefined) return fallback;
  if (typeof mode !== 'number' || !Number.isInteger(mode) || mode < 0 || mode > 0o777) throw new RangeError(`mode must be a permission mode from 0 to 0o777, got ${String(mode)}`);
  return mode;
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
    throw new PermissionError(`${what} belongs to uid ${stat.uid} (created by uid ${stat.cuid}), not to this process's uid ${me}; it is not adopted`);
  }
  if ((stat.mode & ~mode) !== 0) {
    throw new PermissionError(
      `${what} has mode 0o${stat.mode.toString(8)}, wider than the 0o${mode.toString(8)} asked for; it is not adopted (pass a wider mode to accept it)`,
    );
  }
}

/**
 * Maps a System V errno to a typed error: EIDRM (removed while in use) is `ClosedError`, ENOSPC (the system's
 * count of such objects) is `LimitError`, the rest as `fromSystemError`.
 */
export function sysvError(what: string, error: unknown): Error {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'EIDRM') return new ClosedError(`${what} (the object was removed)`, { cause: error });
  if (code === 'ENOSPC') {
    return new LimitError(
      'System V identifiers',
      `${what}: the system holds its maximum number of such objects (kernel.shmmni, kernel.msgmni, kernel.sem) or bytes (kernel.shmall); remove unused ones (ipcs, ipcrm) or raise the sysctl`,
      { cause: error },
    );
  }
  return fromSystemError(what, error);
}

/** Removes a System V object the creator owns, quietly: a peer or `ipcrm` may have removed it already. */
export function removeQuietly(n: SysvNative, kind: 'shm' | 'sem', id: number): void {
  try {
    n.sysv[kind].remove(id);
  } catch {
    // already removed
  }
}
