/**
 * Named shared-memory segments as files of /dev/shm (where glibc's shm_open keeps them) held open by a
 * descriptor, so that a segment can be created whole before it has a name, and its users can hold
 * open-file-description (OFD) locks on it: liveness that the kernel vouches for.
 *
 * OFD locks (fcntl F_OFD_SETLK) belong to an open file description, not to a process: the kernel drops
 * them when the last descriptor of that description closes, which happens when the holder dies however
 * it dies. They are keyed on the inode, so they hold across PID namespaces (containers sharing /dev/shm)
 * and pid reuse. Two descriptions in one process conflict like two processes do, so threads can use them
 * too; a thread's death closes nothing, which is what `atThreadExit` is for.
 */
import { closeSync, constants as fsConstants, openSync } from 'node:fs';
import { native } from './binding.js';
import { ipcName, validateBoolean, validateFd, validateInt, validateMode } from './internal/validate.js';

/** Where POSIX shared memory lives on Linux. */
export const SHM_DIR = '/dev/shm';

/** A lock type: a shared (read) lock, an exclusive (write) lock, or none. */
export type OfdLockType = 'read' | 'write' | 'unlock';

/** What `ofd.held` found: nobody else, a reader, a writer. */
export type OfdHolder = 'none' | 'read' | 'write';

const MAX_OFFSET = 2 ** 53 - 1;

function range(start: number, length: number): void {
  validateInt(start, 'start', 0, MAX_OFFSET);
  validateInt(length, 'length', 0, MAX_OFFSET);
}

export const shmFile = {
  /** The path of a POSIX shared-memory name: `/x` → `/dev/shm/x`. */
  path(name: string): string {
    return SHM_DIR + ipcName(name);
  },

  /**
   * Creates an unnamed segment (O_TMPFILE in /dev/shm) of `size` bytes with exactly `mode` (the umask does
   * not narrow it) and returns its descriptor (close-on-exec). Nobody else can open it until `link` names it.
   */
  createUnnamed(size: number, mode = 0o600): number {
    validateInt(size, 'size', 0, Number.MAX_SAFE_INTEGER);
    return native.shmTmpfile(SHM_DIR, validateMode(mode, 'mode'), size);
  },

  /**
   * Names the segment of `fd` (from `createUnnamed`) atomically: throws EEXIST when the name exists, so of
   * several processes linking one name exactly one succeeds.
   */
  link(fd: number, name: string): void {
    native.linkFd(validateFd(fd), shmFile.path(name));
  },

  /** Opens an existing named segment read-write (not following a symbolic link); returns its descriptor. */
  open(name: string): number {
    return openSync(shmFile.path(name), fsConstants.O_RDWR | fsConstants.O_NOFOLLOW);
  },

  /** Maps all of the file of `fd` as a SharedArrayBuffer (empty for an empty file); the descriptor stays open. */
  map(fd: number): SharedArrayBuffer {
    return native.shmMapFd(validateFd(fd)) ?? new SharedArrayBuffer(0);
  },

  /** close(2). */
  close(fd: number): void {
    closeSync(validateFd(fd));
  },
};

export const ofd = {
  /**
   * Takes, converts or releases an OFD lock on bytes `[start, start + length)` of the file (length 0: to the
   * end, and beyond). Never waits: false when another open file description holds a conflicting lock.
   */
  lock(fd: number, type: OfdLockType, start: number, length = 1): boolean {
    validateFd(fd);
    range(start, length);
    const code = type === 'unlock' ? 0 : type === 'read' ? 1 : type === 'write' ? 2 : -1;
    if (code < 0)
      throw Object.assign(new TypeError(`type must be 'read', 'write' or 'unlock', got ${String(type)}`), {
        code: 'ERR_INVALID_ARG_VALUE',
      });
    return native.ofdLock(fd, code, start, length);
  },

  /** Who else (another open file description, in any process or thread) holds a lock on the range. */
  held(fd: number, start: number, length = 1): OfdHolder {
    validateFd(fd);
    range(start, length);
    const found = native.ofdHeld(fd, start, length);
    return found === 0 ? 'none' : found === 1 ? 'read' : 'write';
  },
};

/** What `atThreadExit` does when this thread's environment ends. */
export interface ThreadExitAction {
  /** A descriptor to close (its OFD locks go with it). */
  fd?: number;
  /** An Int32Array element to set to `value` (and futex-wake), e.g. a "this side died" word in shared memory. */
  i32?: Int32Array;
  index?: number;
  value?: number;
}

/** The handle of an `atThreadExit` registration. */
export interface ThreadExitRegistration {
  /** Forgets the action; with `run: true`, performs it now (closing the descriptor). Idempotent. */
  cancel(run?: boolean): void;
}

/**
 * Runs `action` when the Node environment of the calling thread ends: a worker thread that returns,
 * throws or is terminated, or the main thread at exit (not on SIGKILL: the kernel closes descriptors
 * then anyway). This is how a thread's death becomes visible to its peers. The registration keeps
 * `i32` (and its memory) alive until it runs or is cancelled: cancel it when the object it serves is
 * closed or collected (a FinalizationRegistry), or the memory stays until the thread ends.
 */
export function atThreadExit(action: ThreadExitAction): ThreadExitRegistration {
  const fd = action.fd === undefined ? -1 : validateFd(action.fd);
  let id: number;
  if (action.i32 !== undefined) {
    if (!(action.i32 instanceof Int32Array))
      throw Object.assign(new TypeError('i32 must be an Int32Array'), { code: 'ERR_INVALID_ARG_TYPE' });
    const index = validateInt(action.index ?? 0, 'index', 0, action.i32.length - 1);
    const value = validateInt(action.value ?? 0, 'value', -0x80000000, 0x7fffffff);
    id = native.atExit(fd, action.i32, index, value);
  } else {
    id = native.atExit(fd);
  }
  let done = false;
  return {
    cancel(run = false) {
      validateBoolean(run, 'run');
      if (done) return;
      done = true;
      native.cancelAtExit(id, run);
    },
  };
}
