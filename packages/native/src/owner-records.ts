/**
 * Owner records: the on-disk half of `@ipcx/core`'s registry of kernel objects, so that a process that crashed
 * (SIGKILL, OOM) leaves nothing `ipcx clean` cannot find — POSIX queues included, which are invisible without a
 * mounted mqueue file system.
 *
 * Layout: one directory per user, `/dev/shm/.ipcx-<uid>/` (mode 0700, refused when another uid owns it or it is
 * wider), one file per process that owns objects, `<pid>-<random>.json`, holding
 * `{ version, pid, title, started, objects: [{ kind, name, owner, created }] }`.
 *
 * Liveness is what the kernel vouches for: the process holds an exclusive `flock` on its own record for as long as
 * it lives, and the kernel drops that lock when it dies, whatever its pid namespace and however its pid is later
 * reused. A reader that can take the lock (`LOCK_SH|LOCK_NB`) has found a dead owner. The file is created under a
 * `.tmp-` name, locked, then renamed into place, so no reader ever sees an unlocked record of a live process.
 *
 * /dev/shm is used (not $XDG_RUNTIME_DIR) because it is what containers that share segments share too.
 */
import {
  closeSync,
  ftruncateSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { randomBytes } from 'node:crypto';
import { flock } from './flock.js';

/** One object as written in a record. */
export interface OwnerRecordObject {
  readonly kind: string;
  readonly name: string;
  readonly owner?: string;
  readonly created: number;
}

/** A process's record as read back by `readOwnerRecords`. */
export interface OwnerRecord {
  /** Path of the record file. */
  readonly path: string;
  /** The owner's pid in its own namespace: a label, not proof of life. */
  readonly pid: number;
  readonly uid: number;
  readonly title: string;
  readonly started: number;
  /** True while the owner holds the record's lock (the kernel drops it when the owner dies). */
  readonly alive: boolean;
  readonly objects: readonly OwnerRecordObject[];
}

const RECORDS_ROOT = '/dev/shm';
const VERSION = 1;

/** The directory holding the records of `uid`. */
export function ownerRecordsDir(uid: number = process.getuid?.() ?? 0): string {
  return `${RECORDS_ROOT}/.ipcx-${uid}`;
}

interface Entry {
  readonly kind: string;
  readonly name: string;
  readonly owner?: string;
}

class RecordWriter {
  #fd = -1;
  #path = '';
  #disabled = false;
  readonly #objects = new Map<Entry, OwnerRecordObject>();

  add(entry: Entry): void {
    this.#objects.set(entry, { kind: entry.kind, name: entry.name, owner: entry.owner, created: Date.now() });
    this.#write();
  }

  remove(entry: Entry): void {
    if (!this.#objects.delete(entry)) return;
    if (this.#objects.size === 0) this.#drop();
    else this.#write();
  }

  #write(): void {
    if (this.#disabled) return;
    try {
      if (this.#fd < 0) this.#open();
      const body = JSON.stringify({
        version: VERSION,
        pid: process.pid,
        title: process.title,
        started: Math.round(Date.now() - process.uptime() * 1000),
        objects: [...this.#objects.values()],
      });
      ftruncateSync(this.#fd, 0);
      writeSync(this.#fd, body, 0, 'utf8');
    } catch {
      // Records are a help for cleanup after crashes, never a reason to fail the caller's create: a full or
      // read-only /dev/shm, or a directory another user squatted, leaves this process without records.
      this.#disabled = true;
      this.#drop();
    }
  }

  #open(): void {
    const dir = ownerRecordsDir();
    try {
      mkdirSync(dir, { mode: 0o700 });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const stat = lstatSync(dir);
    const uid = process.getuid?.() ?? 0;
    if (!stat.isDirectory() || stat.uid !== uid || (stat.mode & 0o077) !== 0) {
      throw new Error(`${dir} is not a private directory of uid ${uid}`);
    }
    const id = `${process.pid}-${randomBytes(6).toString('hex')}`;
    const temporary = `${dir}/.tmp-${id}.json`;
    const fd = openSync(temporary, 'wx', 0o600);
    try {
      flock(fd, 'exclusive', { nonBlocking: true });
      this.#path = `${dir}/${id}.json`;
      renameSync(temporary, this.#path);
    } catch (error) {
      closeSync(fd);
      try {
        unlinkSync(temporary);
      } catch {}
      throw error;
    }
    this.#fd = fd;
  }

  #drop(): void {
    if (this.#fd < 0) return;
    // Unlink before close: a reader never finds the record unlocked while this process lives.
    try {
      unlinkSync(this.#path);
    } catch {}
    try {
      closeSync(this.#fd);
    } catch {}
    this.#fd = -1;
    this.#path = '';
  }
}

const HOOK = Symbol.for('ipcx.ownerRecords');

/**
 * Makes `@ipcx/core`'s registry persist what it registers. Called once when the addon loads; idempotent, and the
 * first installed copy of this package wins.
 */
export function installOwnerRecords(): void {
  const holder = globalThis as unknown as Record<symbol, unknown>;
  if (holder[HOOK]) return;
  Object.defineProperty(globalThis, HOOK, {
    value: new RecordWriter(),
    enumerable: false,
    configurable: false,
    writable: false,
  });
}

/** True when the lock on `path` is held by a live process. */
function recordAlive(path: string): boolean {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return false;
  }
  try {
    const free = flock(fd, 'shared', { nonBlocking: true });
    return !free;
  } finally {
    closeSync(fd);
  }
}

/**
 * Reads every owner record of `uid` (default: this user; `'all'` reads every user's directory, which needs the
 * permission to read them). Unreadable or half-written files are skipped.
 */
export function readOwnerRecords(uid: number | 'all' = process.getuid?.() ?? 0): OwnerRecord[] {
  const dirs: { dir: string; uid: number }[] = [];
  if (uid === 'all') {
    for (const name of safeReaddir(RECORDS_ROOT)) {
      const match = /^\.ipcx-(\d+)$/.exec(name);
      if (match) dirs.push({ dir: `${RECORDS_ROOT}/${name}`, uid: Number(match[1]) });
    }
  } else {
    dirs.push({ dir: ownerRecordsDir(uid), uid });
  }
  const records: OwnerRecord[] = [];
  for (const { dir, uid: owner } of dirs) {
    for (const name of safeReaddir(dir)) {
      if (!name.endsWith('.json') || name.startsWith('.tmp-')) continue;
      const path = `${dir}/${name}`;
      try {
        const alive = recordAlive(path);
        const body = JSON.parse(readFileSync(path, 'utf8')) as {
          version?: number;
          pid?: number;
          title?: string;
          started?: number;
          objects?: OwnerRecordObject[];
        };
        if (body.version !== VERSION || !Array.isArray(body.objects)) continue;
        records.push({
          path,
          pid: Number(body.pid),
          uid: owner,
          title: String(body.title ?? ''),
          started: Number(body.started ?? 0),
          alive,
          objects: body.objects.filter((o) => typeof o?.kind === 'string' && typeof o?.name === 'string'),
        });
      } catch {}
    }
  }
  return records;
}

/** Removes a dead owner's record file; refuses (returns false) while its owner holds the lock. */
export function removeOwnerRecord(path: string): boolean {
  if (recordAlive(path)) return false;
  try {
    unlinkSync(path);
  } catch {}
  return true;
}

function safeReaddir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

// Every copy of the addon that loads makes core's registry persistent (see the top of this file).
installOwnerRecords();
