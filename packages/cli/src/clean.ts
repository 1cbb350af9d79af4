/**
 * Removing what dead processes left behind. An object is removed only when every record that names it belongs to
 * a dead process and nothing else the kernel shows (a lock on a segment, a listening socket) says someone still
 * uses it. An object no record names is left alone unless the caller asks for it (`includeUnknown`), and even then
 * only a POSIX segment called `ipcx*` with no lock on it.
 */
import { execFileSync } from 'node:child_process';
import { unlinkSync } from 'node:fs';
import { mq, readOwnerRecords, removeOwnerRecord, shm } from '@ipcx/native';
import { Publisher } from '@ipcx/pubsub';
import { listObjects, type IpcxObject } from './objects.js';

/** Options of `cleanObjects`. */
export interface CleanOptions {
  /** List what would be removed, remove nothing. */
  dryRun?: boolean;
  /** Also remove `ipcx*` POSIX segments that no record names and nobody holds a lock on. */
  includeUnknown?: boolean;
  /** Every user's objects (root). */
  allUsers?: boolean;
  /** Only names containing this text. */
  filter?: string;
}

/** What `cleanObjects` did (or, with `dryRun`, would do). */
export interface CleanResult {
  /** Objects removed (or to remove). */
  readonly removed: readonly IpcxObject[];
  /** Objects that could not be removed, with why. */
  readonly failed: readonly { readonly object: IpcxObject; readonly error: string }[];
  /** Owner records of dead processes removed (or to remove). */
  readonly records: readonly string[];
}

async function unlinkObject(object: IpcxObject): Promise<void> {
  switch (object.kind) {
    case 'shm':
      shm.unlink(object.name);
      return;
    case 'mq':
      mq.unlink(object.name);
      return;
    case 'socket':
    case 'fifo':
    case 'file':
      if (object.name.startsWith('@') || object.name.startsWith('\0')) return; // abstract: nothing on disk
      unlinkSync(object.name);
      return;
    case 'sysv-shm':
    case 'sysv-msg':
    case 'sysv-sem': {
      const flag = object.kind === 'sysv-shm' ? '-M' : object.kind === 'sysv-msg' ? '-Q' : '-S';
      execFileSync('ipcrm', [flag, object.name], { stdio: 'pipe' });
      return;
    }
    case 'topic':
      // Its segments, socket and lock files (pubsub refuses while a publisher holds the topic's lock).
      await Publisher.unlink(object.name);
      return;
    default:
      throw new Error(`ipcx clean does not know how to remove a ${object.kind}`);
  }
}

function ignorable(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException).code;
  return code === 'ENOENT';
}

/** Removes the objects whose owners are dead, and the records of those owners. */
export async function cleanObjects(options: CleanOptions = {}): Promise<CleanResult> {
  const objects = await listObjects({ allUsers: options.allUsers, filter: options.filter });
  const removed: IpcxObject[] = [];
  const failed: { object: IpcxObject; error: string }[] = [];
  const uid = process.getuid?.() ?? 0;
  const deadRecords = readOwnerRecords(options.allUsers ? 'all' : uid)
    .filter((r) => !r.alive && (!options.filter || r.objects.some((o) => o.name.includes(options.filter!))))
    .map((r) => r.path);
  const keepRecords = new Set<string>();
  for (const object of objects) {
    const orphan =
      object.owner === 'dead' ||
      (options.includeUnknown === true && object.owner === 'unknown' && object.kind === 'shm');
    if (!orphan) continue;
    if (!object.exists) continue;
    if (options.dryRun) {
      removed.push(object);
      continue;
    }
    try {
      await unlinkObject(object);
      removed.push(object);
    } catch (error) {
      if (ignorable(error)) continue;
      failed.push({ object, error: (error as Error).message });
      for (const record of object.records) keepRecords.add(record);
    }
  }
  // A dead owner's record goes only when nothing it names is left: with --filter, or after a failure, it may
  // still name objects this run did not remove, and dropping the record would leave them with no owner to show.
  const left = options.dryRun ? [] : await listObjects({ allUsers: options.allUsers });
  const records: string[] = [];
  for (const record of deadRecords) {
    if (keepRecords.has(record)) continue;
    if (left.some((object) => object.exists && object.records.includes(record))) continue;
    if (options.dryRun || removeOwnerRecord(record)) records.push(record);
  }
  return { removed, failed, records };
}
