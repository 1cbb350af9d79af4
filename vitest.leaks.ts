/**
 * The leak check over a whole test run (vitest `globalSetup`, wired in `vitest.shared.ts`): the run fails if
 * it leaves an ipcx POSIX shared-memory segment (/dev/shm), POSIX message queue (/dev/mqueue) or socket file /
 * FIFO (the temp folder) behind.
 *
 * Other runs on the same machine (other packages, other checkouts) create `ipcx*` objects at the same time,
 * so only objects that this run's processes made count: names that did not exist when the run started and
 * that carry the pid of one of this run's test workers (every test names its objects
 * `ipcx-<what>-<pid>-<random>`), or this run's id. Each worker records its pid through `vitest.leaks.worker.ts`.
 * Parallel runs never see each other's objects as leaks, since their workers' pids differ.
 *
 * Segments are listed with `shmLeftovers` of `@ipcx/core/testing`, the one listing of /dev/shm that tests use too.
 * Message queues are listed through the mqueue file system; where /dev/mqueue is not mounted, the check
 * mounts it when it runs as root, and otherwise says that queues were not checked.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { shmLeftovers } from './packages/core/src/testing/helpers.js';

declare module 'vitest' {
  export interface ProvidedContext {
    ipcxLeakRunDir: string;
  }
}

const SHM = '/dev/shm';
const MQUEUE = '/dev/mqueue';

function mqueueMounted(): boolean {
  try {
    return readFileSync('/proc/self/mounts', 'utf8')
      .split('\n')
      .some((line) => line.split(' ')[1] === MQUEUE);
  } catch {
    return false;
  }
}

function mountMqueue(): boolean {
  if (mqueueMounted()) return true;
  if (process.getuid?.() !== 0) return false;
  try {
    mkdirSync(MQUEUE, { recursive: true });
    execFileSync('mount', ['-t', 'mqueue', 'mqueue', MQUEUE], { stdio: 'ignore' });
    return mqueueMounted();
  } catch {
    return false;
  }
}

function list(dir: string, keep: (name: string) => boolean): string[] {
  try {
    return readdirSync(dir)
      .filter(keep)
      .map((name) => join(dir, name));
  } catch {
    return [];
  }
}

/** Socket files and FIFOs with "ipcx" in their name in the temp folder and in its ipcx* folders (one level). */
function specialFiles(): string[] {
  const found: string[] = [];
  const visit = (dir: string, depth: number): void => {
    for (const path of list(dir, (name) => name.includes('ipcx'))) {
      let stat;
      try {
        stat = lstatSync(path);
      } catch {
        continue;
      }
      if (stat.isSocket() || stat.isFIFO()) found.push(path);
      else if (stat.isDirectory() && depth === 0) visit(path, 1);
    }
  };
  visit(tmpdir(), 0);
  return found;
}

function snapshot(withQueues: boolean): string[] {
  return [
    ...shmLeftovers((name) => name.startsWith('ipcx') || name.startsWith('sem.ipcx')).map((name) => join(SHM, name)),
    ...(withQueues ? list(MQUEUE, (name) => name.startsWith('ipcx')) : []),
    ...specialFiles(),
  ];
}

function ours(path: string, pids: Set<string>, runId: string): boolean {
  const name = path.slice(path.lastIndexOf('/') + 1);
  if (name.includes(runId)) return true;
  for (const digits of name.match(/\d+/g) ?? []) if (pids.has(digits)) return true;
  return false;
}

export default function setup(project: { provide(key: 'ipcxLeakRunDir', value: string): void }): () => void {
  const runId = randomBytes(6).toString('hex');
  const runDir = mkdtempSync(join(tmpdir(), 'vitest-leaks-'));
  project.provide('ipcxLeakRunDir', runDir);
  const withQueues = mountMqueue();
  const before = new Set(snapshot(withQueues));
  return () => {
    let pids = new Set<string>();
    try {
      pids = new Set(readFileSync(join(runDir, 'pids'), 'utf8').split('\n').filter(Boolean));
    } catch {
      // no worker ran
    }
    rmSync(runDir, { recursive: true, force: true });
    const leaked = snapshot(withQueues).filter((path) => !before.has(path) && ours(path, pids, runId));
    if (!withQueues)
      console.warn(`leak check: ${MQUEUE} is not mounted and could not be: message queues were not checked`);
    if (leaked.length === 0) return;
    // Remove what was left so that the next run starts clean; the run still fails.
    for (const path of leaked) {
      try {
        if (existsSync(path)) unlinkSync(path);
      } catch {
        // reported below either way
      }
    }
    // vitest reports an error thrown here but exits 0: the exit code is what makes the run fail.
    process.exitCode = 1;
    throw new Error(
      `leak check: this run left ${leaked.length} ipcx kernel object(s) behind (now removed):\n  ${leaked.join('\n  ')}`,
    );
  };
}
