import { closeSync, fstatSync, openSync, statSync, unlinkSync } from 'node:fs';
import { AlreadyExistsError, IncompatibleError, NotFoundError, PermissionError, checkIpcName } from '@ipcx/core';
import { registerKernelObject, type KernelObjectRegistration } from '@ipcx/core/transport';
import { errnoError, type ErrnoContext } from '@ipcx/core/transport';
import { HEADER_BYTES, Header, MAGIC } from './layout.js';
import { loadNative, type Native } from './internal/waker.js';
import { exitHolder, releaseExit, type ExitHolder } from './internal/exit.js';

/**
 * Named segments: how they are made, found, kept alive and known dead.
 *
 * Creation is atomic. The creator makes an unnamed file in /dev/shm (O_TMPFILE), sizes it, writes the
 * whole object into it, takes its locks, and only then links it under its name (linkat, which fails
 * when the name exists). So nobody ever sees a half-written segment, and of several processes creating
 * one name exactly one wins; the others examine what they found.
 *
 * Liveness is what the kernel vouches for, never a pid (a pid is a label in the header, for messages).
 * Every user keeps the segment's file open and holds open-file-description (OFD) locks on bytes of it
 * (locks may lie past the end of the file, so they take no room):
 *
 * | byte | lock | held by |
 * | --- | --- | --- |
 * | 0 (SIDE_A) | write | the creator (channel side A, state writer, fan-in receiver) for its lifetime |
 * | 1 (SIDE_B) | write | the opener of a channel's second end: taking it is what makes it the one opener |
 * | 2 (USERS) | read | every user of the segment, creator included |
 * | 1024 + id (IDS) | write | one per named Mutex object: the id a holder writes into the lock word |
 *
 * The kernel drops a process's locks when it dies (SIGKILL included), whatever PID namespace it lives in;
 * a worker thread's are dropped by `atThreadExit`, which closes its descriptor when the thread ends.
 *
 * A segment found under the name is stale when nobody holds SIDE_A. Replacing it: take SIDE_A of the old
 * one (so no other creator can also decide to replace it), mark it RETIRED, then either adopt it (a named
 * Mutex whose users still hold USERS: replacing it would split the lock) or unlink its name and link ours.
 * An opener takes USERS, then checks RETIRED: of "the creator sees no user" and "the user sees no retire
 * mark", at most one can happen, so an opener never keeps a segment that its replacement no longer shares.
 */
export const LOCK_SIDE_A = 0;
export const LOCK_SIDE_B = 1;
export const LOCK_USERS = 2;
export const LOCK_IDS = 1024;

/** What a creator does with a segment it finds under its name whose creator is dead. */
export type StalePolicy = 'replace' | 'adopt-if-used';

/**
 * Checks a POSIX shared-memory name and returns it with its leading slash: one slash at the start
 * (added if missing), then 1 to 250 bytes with no other slash or NUL.
 */
export function checkShmName(name: string): string {
  return checkIpcName(name, 'shared-memory', 'added');
}

/**
 * The locks of an object that lives in memory without a file of its own (a System V segment): a `Segment` over
 * `path` (opened, created 0600 if absent; never unlinked by us) whose byte locks stand for the object's ends.
 */
export function lockFileSegment(path: string, buffer: SharedArrayBuffer, native: Native): Segment {
  if (typeof path !== 'string' || path.length === 0) throw new TypeError('options.lockFile must be a path');
  const fd = openSync(path, 'a+', 0o600);
  try {
    return new Segment(path, buffer, fd, native, false);
  } catch (error) {
    closeSync(fd);
    throw error;
  }
}

/** A named segment mapped into this thread, with the descriptor that carries its locks. */
export class Segment {
  #fd: number;
  readonly #exit: ExitHolder;
  #registration: KernelObjectRegistration | undefined;
  readonly #native: Native;

  constructor(
    readonly name: string,
    readonly buffer: SharedArrayBuffer,
    fd: number,
    native: Native,
    /** True when this thread created (or adopted) it: it unlinks the name on close. */
    readonly owner: boolean,
  ) {
    this.#fd = fd;
    this.#native = native;
    // A thread that ends without close() (throws, is terminated) closes the descriptor: its locks go.
    // Dropped without close: the same, once collected.
    this.#exit = exitHolder(this, native.atThreadExit({ fd }));
    if (owner) {
      const ino = fstatSync(fd).ino;
      this.#registration = registerKernelObject({
        kind: 'shm',
        name,
        owner: '@ipcx/shm',
        unlink: () => unlinkIfSame(name, ino),
      });
    }
  }

  /** Also stores `value` into `i32[index]` when this thread ends without `close` (a "this side died" word). */
  markOnThreadExit(i32: Int32Array, index: number, value: number): void {
    releaseExit(this.#exit);
    this.#exit.current = this.#native.atThreadExit({ fd: this.#fd, i32, index, value });
  }

  /** Takes an OFD lock on `byte` without waiting; false when someone else holds it. */
  lock(byte: number, type: 'read' | 'write'): boolean {
    return this.#native.ofd.lock(this.#fd, type, byte, 1);
  }

  /** Releases this description's lock on `byte`. */
  unlock(byte: number): void {
    if (this.#fd >= 0) this.#native.ofd.lock(this.#fd, 'unlock', byte, 1);
  }

  /** True when another open file description (a live process or thread) holds a lock on `byte`. */
  held(byte: number): boolean {
    if (this.#fd < 0) return true; // closed: we know nothing more; callers stopped asking
    return this.#native.ofd.held(this.#fd, byte, 1) !== 'none';
  }

  /** Drops every lock (closes the descriptor) and, for the owner, unlinks the name if it is still this segment. */
  close(): void {
    if (this.#fd < 0) return;
    const fd = this.#fd;
    const ino = this.owner ? safeIno(fd) : undefined;
    this.#fd = -1;
    // Unlink before the locks go: a creator racing us must not find our segment stale and still named.
    if (this.#registration !== undefined) {
      this.#registration.unregister();
      if (ino !== undefined) unlinkIfSame(this.name, ino);
    }
    // Forget the thread-exit action (it would mark this side DEAD), then let the locks go.
    releaseExit(this.#exit);
    this.#native.shmFile.close(fd);
  }

  get fd(): number {
    return this.#fd;
  }
}

function safeIno(fd: number): number | undefined {
  try {
    return fstatSync(fd).ino;
  } catch {
    return undefined;
  }
}

/** Unlinks `name` only while it still names the inode `ino` (a successor's segment is left alone). */
function unlinkIfSame(name: string, ino: number): void {
  try {
    if (statSync(`/dev/shm${name}`).ino === ino) unlinkSync(`/dev/shm${name}`);
  } catch {
    // already gone
  }
}

/** The limits behind a segment's ENOSPC and ENOMEM, more precise than errnoError's generic ones. */
const SEGMENT_LIMITS: ErrnoContext['limits'] = {
  ENOSPC: {
    limit: '/dev/shm size',
    hint: '/dev/shm (a tmpfs) is full; free space there or remount it larger (mount -o remount,size=1G /dev/shm)',
  },
  ENOMEM: { limit: 'memory', hint: 'not enough memory to map the segment; use a smaller size' },
};

/** A segment call's OS error as a typed one (`what`: `create`, `open`, `unlink`); a symbolic link planted under the name is `PermissionError`. */
function segmentError(full: string, what: string, error: unknown): Error {
  if ((error as NodeJS.ErrnoException).code === 'ELOOP') {
    return new PermissionError(`shared memory "${full}" is a symbolic link; remove /dev/shm${full}`, { cause: error });
  }
  return errnoError(error, `shared memory "${full}" ${what}`, { limits: SEGMENT_LIMITS });
}

const uid = (): number => process.geteuid?.() ?? -1;

/**
 * Refuses a segment this user did not make, or one with wider permissions than `mode`: never adopt or
 * open as ours what someone else could have planted or can read.
 */
function checkOwnership(fd: number, full: string, mode: number, _native: Native): void {
  const stat = fstatSync(fd);
  const found = stat.mode & 0o777;
  if (stat.uid !== uid()) {
    throw new PermissionError(
      `shared memory "${full}" belongs to uid ${stat.uid} (mode 0o${found.toString(8)}), not to this user (uid ${uid()}); ` +
        `ipcx never uses a segment another user made: remove /dev/shm${full} (as its owner or root) or choose another name`,
    );
  }
  if ((found & ~mode) !== 0) {
    throw new PermissionError(
      `shared memory "${full}" has mode 0o${found.toString(8)}, wider than the 0o${mode.toString(8)} asked for; ` +
        `pass { mode: 0o${found.toString(8)} } if that access is intended, or remove /dev/shm${full}`,
    );
  }
}

/** The pid label in a mapped header, for messages. */
function ownerLabel(buffer: SharedArrayBuffer): string {
  if (buffer.byteLength < HEADER_BYTES) return '';
  const header = new Int32Array(buffer, 0, HEADER_BYTES / 4);
  return Atomics.load(header, Header.Magic) === MAGIC
    ? ` (creator pid ${Atomics.load(header, Header.PidA)}, as it saw itself)`
    : '';
}

/**
 * Creates a named segment of `size` bytes that this thread owns. `init` writes the whole object before
 * the name exists. A segment under the name whose creator lives is `AlreadyExistsError`; one whose creator
 * died is replaced (or, with 'adopt-if-used', taken over while others still use it: `init` does not run
 * then, `adopted` is true). One of another user or wider mode is `PermissionError`.
 */
export async function createSegment(
  name: string,
  size: number,
  mode: number,
  init: (buffer: SharedArrayBuffer) => void,
  policy: StalePolicy = 'replace',
  check?: (buffer: SharedArrayBuffer) => void,
): Promise<{ segment: Segment; adopted: boolean }> {
  const full = checkShmName(name);
  const native = await loadNative();
  let fd: number;
  try {
    fd = native.shmFile.createUnnamed(size, mode);
  } catch (error) {
    throw segmentError(full, 'create', error);
  }
  let buffer: SharedArrayBuffer;
  try {
    buffer = native.shmFile.map(fd);
    init(buffer);
    native.ofd.lock(fd, 'write', LOCK_SIDE_A, 1);
    native.ofd.lock(fd, 'read', LOCK_USERS, 1);
  } catch (error) {
    native.shmFile.close(fd);
    throw segmentError(full, 'create', error);
  }
  try {
    for (let attempt = 0; attempt < 16; attempt++) {
      try {
        native.shmFile.link(fd, full);
        return { segment: new Segment(full, buffer, fd, native, true), adopted: false };
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw segmentError(full, 'create', error);
      }
      const adopted = examineExisting(full, mode, policy, native, check);
      if (adopted !== undefined) {
        native.shmFile.close(fd);
        return { segment: adopted, adopted: true };
      }
    }
  } catch (error) {
    native.shmFile.close(fd);
    throw error;
  }
  native.shmFile.close(fd);
  throw new AlreadyExistsError(`shared memory "${full}" (it keeps being re-created by others)`);
}

/**
 * A segment exists under the name: throws if it is live (or not ours), unlinks it if stale, or (policy
 * 'adopt-if-used', stale creator but live users) returns it adopted. Returns undefined to retry the link.
 */
function examineExisting(
  full: string,
  mode: number,
  policy: StalePolicy,
  native: Native,
  check?: (buffer: SharedArrayBuffer) => void,
): Segment | undefined {
  let fd: number;
  try {
    fd = native.shmFile.open(full);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined; // gone meanwhile: link again
    throw segmentError(full, 'open', error);
  }
  let keep = false;
  try {
    checkOwnership(fd, full, mode, native);
    if (!native.ofd.lock(fd, 'write', LOCK_SIDE_A, 1)) {
      let label = '';
      try {
        label = ownerLabel(native.shmFile.map(fd));
      } catch {
        // unreadable: no label
      }
      throw new AlreadyExistsError(`shared memory "${full}" (its creator is alive${label})`);
    }
    // We hold SIDE_A of the old segment: no other creator decides about it now.
    const buffer = native.shmFile.map(fd);
    const header = buffer.byteLength >= HEADER_BYTES ? new Int32Array(buffer, 0, HEADER_BYTES / 4) : undefined;
    const ours = header !== undefined && Atomics.load(header, Header.Magic) === MAGIC;
    if (ours) Atomics.store(header, Header.Retired, 1);
    if (policy === 'adopt-if-used' && ours && native.ofd.held(fd, LOCK_USERS, 1) !== 'none') {
      check?.(buffer);
      Atomics.store(header, Header.Retired, 0);
      native.ofd.lock(fd, 'read', LOCK_USERS, 1);
      Atomics.store(header, Header.PidA, process.pid);
      keep = true;
      return new Segment(full, buffer, fd, native, true);
    }
    // Stale: remove the name if it still is this segment (only a SIDE_A holder removes a segment's name).
    unlinkIfSame(full, fstatSync(fd).ino);
    return undefined;
  } finally {
    if (!keep) native.shmFile.close(fd);
  }
}

/**
 * Maps an existing named segment as a user: takes USERS (and re-opens the name if its creator's
 * replacement retired this one meanwhile). `minBytes`: smaller is `IncompatibleError`.
 */
export async function openSegment(name: string, what: string, minBytes = HEADER_BYTES, mode = 0o600): Promise<Segment> {
  const full = checkShmName(name);
  const native = await loadNative();
  for (let attempt = 0; attempt < 16; attempt++) {
    let fd: number;
    try {
      fd = native.shmFile.open(full);
    } catch (error) {
      throw segmentError(full, 'open', error);
    }
    let keep = false;
    try {
      checkOwnership(fd, full, mode, native);
      const buffer = native.shmFile.map(fd);
      if (buffer.byteLength < minBytes)
        throw new IncompatibleError(
          `${what} "${full}"`,
          `the segment has ${buffer.byteLength} bytes, at least ${minBytes} expected`,
        );
      native.ofd.lock(fd, 'read', LOCK_USERS, 1);
      const header = new Int32Array(buffer, 0, HEADER_BYTES / 4);
      if (Atomics.load(header, Header.Magic) === MAGIC && Atomics.load(header, Header.Retired) !== 0) continue; // being replaced: look again
      keep = true;
      return new Segment(full, buffer, fd, native, false);
    } finally {
      if (!keep) native.shmFile.close(fd);
    }
  }
  throw new NotFoundError(`shared memory "${full}" (it is being replaced; its creator died)`);
}

/** Removes a segment's name; processes that mapped it keep their mapping. Missing names are ignored. */
export async function unlinkSegment(name: string): Promise<boolean> {
  const full = checkShmName(name);
  const native = await loadNative();
  try {
    native.shm.unlink(full);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw segmentError(full, 'unlink', error);
    return false;
  }
}
