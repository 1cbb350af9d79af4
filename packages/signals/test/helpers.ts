/**
 * What the signals tests share beyond `@ipcx/core/testing`: fixture processes (plain Node loading dist, or any
 * command), killed and undone after every test, and a check that none of them left its doorbell behind.
 */
import { spawn, type SpawnOptions } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, expect } from 'vitest';
import {
  childLines,
  killTrackedChildren,
  runDeferred,
  shmLeftovers,
  spawnNode,
  trackChild,
  type ChildLines,
} from '@ipcx/core/testing';
export { defer, uniqueName, within } from '@ipcx/core/testing';

/** A fixture or command run by a test, with its output line by line. */
export type FixtureRun = ChildLines;

afterEach(async () => {
  await killTrackedChildren();
  await runDeferred();
});

/** What this file ran: a doorbell is named after the pid of the process that rings it (its own, or one it printed). */
const runs: FixtureRun[] = [];
afterAll(() => {
  const pids = new Set(
    runs.flatMap((r) => [r.child.pid, ...r.lines.filter((l) => l.startsWith('pid ')).map((l) => Number(l.slice(4)))]),
  );
  expect(
    shmLeftovers((name) => name.startsWith('ipcx-doorbell-') && pids.has(Number(name.slice(14)))),
    'doorbells left in /dev/shm',
  ).toEqual([]);
});

export const fixturesDir = fileURLToPath(new URL('./fixtures/', import.meta.url));

/** Spawns `node test/fixtures/<file> ...args`. */
export function fixture(file: string, args: string[] = [], options: SpawnOptions = {}): FixtureRun {
  return recorded(childLines(spawnNode([`${fixturesDir}${file}`, ...args], options)));
}

/** Spawns any command, killed after the test like fixtures. */
export function run(command: string, args: string[], options: SpawnOptions = {}): FixtureRun {
  return recorded(childLines(trackChild(spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options }))));
}

function recorded(run: FixtureRun): FixtureRun {
  runs.push(run);
  return run;
}
