/**
 * Finding ipcx's kernel objects on this machine and telling whose owner is alive.
 *
 * Sources, each read without changing anything:
 * - owner records (`@ipcx/native`): one file per process that owns objects, kept locked by it for its whole life;
 *   a record whose lock is free belongs to a dead process. This is the only way to find POSIX queues without a
 *   mounted mqueue file system, and the one that survives SIGKILL;
 * - `/dev/shm`: every POSIX segment named `ipcx*`, with the locks `/proc/locks` shows on it;
 * - `/proc/net/unix`: the Unix sockets bound and listening now (a socket file with no listener is stale);
 * - `/proc/sysvipc/{shm,msg,sem}`: System V objects named in records.
 *
 * Alive means the kernel vouches for it (a held lock, a listening socket), never that a pid answers `kill(pid, 0)`.
 */
import { closeSync, lstatSync, openSync, readFileSync, readSync, readdirSync, statSync } from 'node:fs';
import { mq, readOwnerRecords, type OwnerRecord } from '@ipcx/native';
import { listTopics, type TopicInfo } from '@ipcx/pubsub';
import { describeSegment } from '@ipcx/shm';

/** Whether an object's owner lives, as far as the kernel tells. */
export type Liveness = 'alive' | 'dead' | 'unknown';

/** One ipcx object as `ipcx ls` shows it. */
export interface IpcxObject {
  /** `shm`, `mq`, `sem`, `socket`, `fifo`, `sysv-shm`, `sysv-msg`, `sysv-sem`, `file`, `topic`. */
  readonly kind: string;
  /** The name the kernel knows it by: `/ipcx-jobs`, a socket path, a System V key. */
  readonly name: string;
  /** Whether the object itself still exists. */
  readonly exists: boolean;
  /** Size in bytes (segments), or undefined. */
  readonly size?: number;
  /** Owning uid and permission bits, where the kernel shows them. */
  readonly uid?: number;
  readonly mode?: number;
  /** Its owner: alive while the kernel holds its lock or its listening socket. */
  readonly owner: Liveness;
  /** The owner's pid in its own namespace: a label, not proof of life. */
  readonly pid?: number;
  /** The owner's process title, from its record. */
  readonly title?: string;
  /** How full it is: messages in a queue, bytes in a ring. */
  readonly fill?: { readonly used: number; readonly capacity: number; readonly unit: 'messages' | 'bytes' };
  /** What the object's header says (kind of shm object, layout version, ...). */
  readonly detail?: Readonly<Record<string, string | number | boolean>>;
  /** Owner records that name this object (their files), for `clean`. */
  readonly records: readonly string[];
}

/** Options of `listObjects`. */
export interface ListOptions {
  /** Every user's objects (needs root to read other users' records); default: this user's. */
  allUsers?: boolean;
  /** Only names containing this text. */
  filter?: string;
}

const SHM_DIR = '/dev/shm';

/** Device and inode of every file with a lock on it now: `/proc/locks` lists `maj:min:inode` in hex:hex:dec. */
function lockedInodes(): Map<string, number> {
  const locked = new Map<string, number>();
  let text = '';
  try {
    text = readFileSync('/proc/locks', 'utf8');
  } catch {
    return locked;
  }
  for (const line of text.split('\n')) {
    // "1: FLOCK  ADVISORY  WRITE 1234 00:1a:5678 0 EOF" (a "->" marks a waiter, which holds nothing)
    if (line.includes('->')) continue;
    const fields = line.trim().split(/\s+/);
    const id = fields[5];
    const pid = Number(fields[4]);
    if (!id) continue;
    const [major, minor, inode] = id.split(':');
    if (major === undefined || minor === undefined || inode === undefined) continue;
    locked.set(`${parseInt(major, 16)}:${parseInt(minor, 16)}:${inode}`, pid);
  }
  return locked;
}

function inodeKey(dev: number, ino: number): string {
  const major = Math.floor(dev / 256) & 0xfff;
  const minor = (dev & 0xff) | (Math.floor(dev / 4096) & 0xfff00);
  return `${major}:${minor}:${ino}`;
}

/** Paths of the Unix sockets that are bound and listening now (state 01 = listening in /proc/net/unix). */
function listeningSockets(): Set<string> {
  const listening = new Set<string>();
  for (const file of ['/proc/net/unix']) {
    let text = '';
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      // Num RefCount Protocol Flags Type St Inode Path
      const fields = line.trim().split(/\s+/);
      const flags = parseInt(fields[3] ?? '0', 16);
      const path = fields[7];
      // __SO_ACCEPTCON (0x10000) in Flags marks a listening socket; datagram sockets are "bound" without it.
      const type = fields[4];
      if (!path) continue;
      if ((flags & 0x10000) !== 0 || type === '0002' || type === '0005') listening.add(path);
    }
  }
  return listening;
}

/** Keys and ids of System V objects that exist now, by kind. */
function sysvObjects(): Map<string, { key: string; id: string; uid: number; mode: number; size?: number }[]> {
  const result = new Map<string, { key: string; id: string; uid: number; mode: number; size?: number }[]>();
  for (const [kind, file] of [
    ['sysv-shm', 'shm'],
    ['sysv-msg', 'msg'],
    ['sysv-sem', 'sem'],
  ] as const) {
    const list: { key: string; id: string; uid: number; mode: number; size?: number }[] = [];
    try {
      const [header = '', ...lines] = readFileSync(`/proc/sysvipc/${file}`, 'utf8').split('\n');
      const columns = header.trim().split(/\s+/);
      for (const line of lines) {
        const fields = line.trim().split(/\s+/);
        if (fields.length < 4) continue;
        const at = (name: string) => fields[columns.indexOf(name)] ?? '';
        list.push({
          key: at('key'),
          id: at(file === 'shm' ? 'shmid' : file === 'msg' ? 'msqid' : 'semid'),
          uid: Number(at('uid')),
          mode: parseInt(at('perms'), 8),
          size: file === 'shm' ? Number(at('size')) : undefined,
        });
      }
    } catch {
      // no System V support in this kernel
    }
    result.set(kind, list);
  }
  return result;
}

/** What a segment's header says, read through its file in /dev/shm (no mapping, nothing changed). */
function shmDetail(path: string): Record<string, string | number | boolean> | undefined {
  let fd = -1;
  try {
    fd = openSync(path, 'r');
    const file = fd;
    const description = describeSegment((offset, length) => {
      const bytes = Buffer.alloc(length);
      return bytes.subarray(0, readSync(file, bytes, 0, length, offset));
    });
    if (!description.ipcx) return { layout: 'not ipcx' };
    const detail: Record<string, string | number | boolean> = {
      layout: `ipcx v${description.version}`,
      object: description.kind ?? 'unknown',
    };
    if (!description.compatible) detail.compatible = false;
    for (const ring of description.rings ?? []) {
      detail[`ring ${ring.direction} used`] = ring.used;
      detail[`ring ${ring.direction} written`] = ring.written;
      detail['ring capacity'] = ring.capacity;
    }
    if (description.state) {
      detail.revision = description.state.revision;
      detail.writing = description.state.writing;
      detail['value bytes'] = description.state.length;
      detail['value capacity'] = description.state.capacity;
    }
    return detail;
  } catch {
    return undefined;
  } finally {
    if (fd >= 0) closeSync(fd);
  }
}

function mqState(name: string): { exists: boolean; fill?: IpcxObject['fill'] } {
  let fd = -1;
  try {
    fd = mq.open(name, { write: false, nonBlocking: true });
    const attributes = mq.getAttributes(fd);
    return {
      exists: true,
      fill: { used: attributes.currentMessages, capacity: attributes.maxMessages, unit: 'messages' },
    };
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    // EACCES: it exists but is not ours to open.
    return { exists: code !== 'ENOENT' && code !== 'EINVAL' };
  } finally {
    if (fd >= 0) mq.close(fd);
  }
}

function pathExists(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * Every ipcx object on this machine (this user's, or every user's), with whether its owner lives.
 */
export async function listObjects(options: ListOptions = {}): Promise<IpcxObject[]> {
  const uid = process.getuid?.() ?? 0;
  const records = readOwnerRecords(options.allUsers ? 'all' : uid);
  const locks = lockedInodes();
  const listening = listeningSockets();
  const sysv = sysvObjects();
  // pubsub's own view of its topics (latest revision, whether a publisher holds the topic's lock), for this
  // user's runtime directory; topics of other users show without it.
  let topics: TopicInfo[] = [];
  try {
    topics = await listTopics();
  } catch {
    topics = [];
  }

  // Everything the records name, grouped by kind and name (a name can be in a dead and in a live record when a
  // restarted service made it again).
  const named = new Map<string, { kind: string; name: string; records: OwnerRecord[] }>();
  for (const record of records) {
    for (const object of record.objects) {
      const key = `${object.kind}\0${object.name}`;
      const entry = named.get(key) ?? { kind: object.kind, name: object.name, records: [] };
      entry.records.push(record);
      named.set(key, entry);
    }
  }

  // POSIX segments called ipcx* that no record names still show up, as 'shm' with an owner we cannot name.
  for (const file of safeReaddir(SHM_DIR)) {
    if (!file.startsWith('ipcx')) continue;
    const key = `shm\0/${file}`;
    if (!named.has(key)) named.set(key, { kind: 'shm', name: `/${file}`, records: [] });
  }

  const objects: IpcxObject[] = [];
  for (const { kind, name, records: owners } of named.values()) {
    if (options.filter && !name.includes(options.filter)) continue;
    const live = owners.find((r) => r.alive);
    const anyRecord = live ?? owners[0];
    let owner: Liveness = live ? 'alive' : owners.length > 0 ? 'dead' : 'unknown';
    let pid = anyRecord?.pid;
    let exists = true;
    let size: number | undefined;
    let objectUid: number | undefined;
    let mode: number | undefined;
    let fill: IpcxObject['fill'];
    let detail: IpcxObject['detail'];
    switch (kind) {
      case 'shm': {
        const path = `${SHM_DIR}${name}`;
        try {
          const stat = statSync(path);
          size = stat.size;
          objectUid = stat.uid;
          mode = stat.mode & 0o777;
          const holder = locks.get(inodeKey(stat.dev, stat.ino));
          if (holder !== undefined && owner !== 'alive') {
            owner = 'alive';
            pid = holder;
          }
          detail = shmDetail(path);
          const used = detail?.['ring a->b used'];
          if (typeof used === 'number') {
            const back = Number(detail?.['ring b->a used'] ?? 0);
            fill = { used: used + back, capacity: 2 * Number(detail?.['ring capacity'] ?? 0), unit: 'bytes' };
          }
        } catch {
          exists = false;
        }
        break;
      }
      case 'mq': {
        const state = mqState(name);
        exists = state.exists;
        fill = state.fill;
        break;
      }
      case 'socket':
      case 'fifo':
      case 'file': {
        const abstract = name.startsWith('@') || name.startsWith('\0');
        exists = abstract ? listening.has(`@${name.slice(1)}`) : pathExists(name);
        if (kind === 'socket' && listening.has(abstract ? `@${name.slice(1)}` : name) && owner !== 'alive')
          owner = 'alive';
        break;
      }
      case 'topic': {
        // A pubsub topic: its current generation is a segment /dev/shm/ipcx-topic-<topic>.<generation>.
        const prefix = `ipcx-topic-${name}.`;
        const generations = safeReaddir(SHM_DIR).filter(
          (f) => f.startsWith(prefix) && /^\d+$/.test(f.slice(prefix.length)),
        );
        exists = generations.length > 0;
        const info = topics.find((t) => t.topic === name);
        if (exists)
          detail = {
            generations: generations.length,
            ...(info ? { revision: info.revision, bufferBytes: info.bufferBytes, history: info.history } : {}),
          };
        if (info?.alive && owner !== 'alive') owner = 'alive';
        break;
      }
      case 'sysv-shm':
      case 'sysv-msg':
      case 'sysv-sem': {
        const found = sysv
          .get(kind)
          ?.find((o) => o.key === name || o.id === name || `0x${Number(o.key).toString(16)}` === name);
        exists = found !== undefined;
        size = found?.size;
        objectUid = found?.uid;
        mode = found?.mode;
        break;
      }
      default:
        break;
    }
    objects.push({
      kind,
      name,
      exists,
      size,
      uid: objectUid,
      mode,
      owner,
      pid,
      title: anyRecord?.title,
      fill,
      detail,
      records: owners.map((r) => r.path),
    });
  }
  return objects.sort((a, b) => a.kind.localeCompare(b.kind) || a.name.localeCompare(b.name));
}

function safeReaddir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}
