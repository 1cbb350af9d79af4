/**
 * POSIX shared memory (shm_open + mmap) exposed as a real SharedArrayBuffer.
 *
 * The descriptor is closed right after mmap. The mapping is released by V8 when the last
 * SharedArrayBuffer over it is garbage-collected — in this thread or any worker it was posted to — so
 * there is no close(): JavaScript can never reach unmapped memory. `unlink` removes the name; mappings
 * stay valid until collected.
 */
import { constants, native } from './binding.js';
import { isErrnoError } from './errors.js';
import { ipcName, validateBoolean, validateInt, validateMode } from './internal/validate.js';

export interface ShmOpenOptions {
  /** Create the object if it does not exist (default false). */
  create?: boolean;
  /** With `create`: fail with EEXIST if it exists (default false). */
  exclusive?: boolean;
  /** Size in bytes of an object this call creates (ftruncate). Ignored when opening an existing one. */
  size?: number;
  /** Permission bits of a created object (default 0o600, owner only). */
  mode?: number;
}

export interface ShmSegment {
  /** The normalized name, with its leading slash. */
  readonly name: string;
  /** The mapped memory. Length = size of the object when it was opened. */
  readonly buffer: SharedArrayBuffer;
  readonly size: number;
  /** True when this call created the object (so this caller owns it and should unlink it). */
  readonly created: boolean;
}

export interface ShmStat {
  size: number;
  uid: number;
  gid: number;
  mode: number;
}

// Number.MAX_SAFE_INTEGER would pass ftruncate; V8 refuses SharedArrayBuffers above 2^53 - 1 anyway. A size
// tmpfs cannot hold is ENOSPC from the addon, which reserves the pages when it sizes a segment (a sparse
// segment would kill the process with SIGBUS on a later write instead).
const MAX_SIZE = Number.MAX_SAFE_INTEGER;

function map(name: string, oflag: number, mode: number, truncateTo: number): SharedArrayBuffer {
  return native.shmOpen(name, oflag, mode, truncateTo) ?? new SharedArrayBuffer(0);
}

export const shm = {
  /**
   * Opens (and with `create`, creates) a segment and maps all of it.
   * Without `exclusive`, `created` tells whether this call won the race to create it.
   * @example
   * const seg = shm.open('/ipcx-demo', { create: true, size: 4096 });
   * const i32 = new Int32Array(seg.buffer);
   * Atomics.add(i32, 0, 1);
   * if (seg.created) process.on('exit', () => shm.unlink(seg.name));
   */
  open(name: string, options: ShmOpenOptions = {}): ShmSegment {
    const n = ipcName(name);
    const create = validateBoolean(options.create ?? false, 'options.create');
    const exclusive = validateBoolean(options.exclusive ?? false, 'options.exclusive');
    const mode = validateMode(options.mode ?? 0o600, 'options.mode');
    const size = options.size === undefined ? -1 : validateInt(options.size, 'options.size', 0, MAX_SIZE);
    if (!create) {
      const buffer = map(n, 0, 0, -1);
      return { name: n, buffer, size: buffer.byteLength, created: false };
    }
    // O_CREAT|O_EXCL first, so that we know whether we created it; on EEXIST open the existing one. If it
    // is unlinked between the two calls (ENOENT), try again.
    for (let attempt = 0; ; attempt++) {
      try {
        const buffer = createExclusive(n, mode, size);
        return { name: n, buffer, size: buffer.byteLength, created: true };
      } catch (error) {
        if (exclusive || !isErrnoError(error, 'EEXIST')) throw error;
      }
      try {
        const buffer = map(n, 0, 0, -1);
        return { name: n, buffer, size: buffer.byteLength, created: false };
      } catch (error) {
        if (!isErrnoError(error, 'ENOENT') || attempt >= 8) throw error;
      }
    }
  },

  /** Removes the name. Existing mappings stay valid; ENOENT if there is no such object. */
  unlink(name: string): void {
    native.shmUnlink(ipcName(name));
  },

  /** Size, owner and permission bits of a segment, without mapping it. */
  stat(name: string): ShmStat {
    const [size, uid, gid, mode] = native.shmStat(ipcName(name));
    return { size, uid, gid, mode };
  },
};

function createExclusive(name: string, mode: number, size: number): SharedArrayBuffer {
  try {
    return map(name, constants.O_CREAT | constants.O_EXCL, mode, size);
  } catch (error) {
    // shm_open succeeded but sizing or mapping failed: the object is ours and useless; remove it.
    if (isErrnoError(error) && error.syscall !== 'shm_open') {
      try {
        native.shmUnlink(name);
      } catch {
        // already gone
      }
    }
    throw error;
  }
}
