import { AlreadyExistsError, LimitError, checkIpcName, fromSystemError } from '@ipcx/core';
import { Header, MAGIC } from './layout.js';
import { loadNative } from './internal/waker.js';

/**
 * Checks a POSIX shared-memory name and returns it with its leading slash: one slash at the start
 * (added if missing), then 1 to 250 bytes with no other slash or NUL.
 */
export function checkShmName(name: string): string {
  return checkIpcName(name, 'shared-memory', 'added');
}

/** A named segment mapped into this process. */
export interface Segment {
  readonly name: string;
  readonly buffer: SharedArrayBuffer;
}

/** True if a process with this pid exists (signal 0 probes without sending). */
export function processAlive(pid: number): boolean {
  if (pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function mapError(what: string, error: unknown): Error {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOSPC' || code === 'ENOMEM' || code === 'EMFILE' || code === 'ENFILE') {
    return new LimitError(
      code === 'ENOSPC' ? '/dev/shm size' : code === 'ENOMEM' ? 'memory' : 'open files',
      `${what} failed with ${code}: ` +
        (code === 'ENOSPC'
          ? '/dev/shm (a tmpfs) is full; free space there or remount it larger (mount -o remount,size=1G /dev/shm)'
          : code === 'ENOMEM'
            ? 'not enough memory to map the segment; use a smaller size'
            : 'too many open files; raise the limit (ulimit -n)'),
      { cause: error },
    );
  }
  return fromSystemError(what, error);
}

/**
 * Creates a named segment of `size` bytes, owned by this process (its pid goes into word PidA by the
 * caller's `init`). If the name exists and its owner is dead (or it was never initialised), the stale
 * segment is unlinked and created again; if its owner lives, `AlreadyExistsError`.
 */
export async function createSegment(name: string, size: number, mode: number, init: (buffer: SharedArrayBuffer) => void): Promise<Segment> {
  const full = checkShmName(name);
  const native = await loadNative();
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const segment = native.shm.open(full, { create: true, exclusive: true, size, mode });
      init(segment.buffer);
      return { name: full, buffer: segment.buffer };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw mapError(`shared memory "${full}" create`, error);
    }
    let owner = 0;
    try {
      const existing = native.shm.open(full, { create: false });
      const header = new Int32Array(existing.buffer, 0, Math.min(16, existing.buffer.byteLength >> 2));
      owner = header.length > Header.PidA && Atomics.load(header, Header.Magic) === MAGIC ? Atomics.load(header, Header.PidA) : 0;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw mapError(`shared memory "${full}" open`, error);
    }
    if (owner !== 0 && processAlive(owner)) {
      throw new AlreadyExistsError(`shared memory "${full}" (owned by live process ${owner})`);
    }
    try {
      native.shm.unlink(full);
    } catch {
      // Someone else removed it first: try again.
    }
  }
  throw new AlreadyExistsError(`shared memory "${full}" (it keeps being re-created)`);
}

/** Maps an existing named segment. */
export async function openSegment(name: string): Promise<Segment> {
  const full = checkShmName(name);
  const native = await loadNative();
  try {
    return { name: full, buffer: native.shm.open(full, { create: false }).buffer };
  } catch (error) {
    throw mapError(`shared memory "${full}" open`, error);
  }
}

/** Removes a segment's name; processes that mapped it keep their mapping. Missing names are ignored. */
export async function unlinkSegment(name: string): Promise<void> {
  const full = checkShmName(name);
  const native = await loadNative();
  try {
    native.shm.unlink(full);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw mapError(`shared memory "${full}" unlink`, error);
  }
}
