/**
 * Test helpers: fixture processes (plain Node loading dist) killed when the test ends, their output
 * line by line, undo steps that run even when a test fails, and a bound on every awaited event.
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, expect } from 'vitest';
import { within } from '@ipcx/core/testing';
export { within };

/** `ipcx-<what>-<pid>-<random>`. */
export function uniqueName(what: string): string {
  return `ipcx-${what}-${process.pid}-${randomBytes(4).toString('hex')}`;
}

type Cleanup = () => void | Promise<void>;
const cleanups: Cleanup[] = [];
const running = new Set<ChildProcess>();

/** Registers an undo step; all run after the current test, last first, failures or not. */
export function defer(fn: Cleanup): void {
  cleanups.push(fn);
}

afterEach(async () => {
  for (const child of running) child.kill('SIGKILL');
  running.clear();
  const errors: unknown[] = [];
  while (cleanups.length > 0) {
    try {
      await cleanups.pop()!();
    } catch (error) {
      errors.push(error);
    }
  }
  if (errors.length > 0) throw new AggregateError(errors, 'cleanup failed');
});

/** Pids of the fixtures this file started: none of their doorbells may remain. */
const started = new Set<number>([process.pid]);
afterAll(() => {
  const leaked = readdirSync('/dev/shm').filter((n) => [...started].some((pid) => n === `ipcx-doorbell-${pid}`) || n.includes(`-${process.pid}-`));
  expect(leaked, 'kernel objects left in /dev/shm').toEqual([]);
});


export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface FixtureRun {
  child: ChildProcess;
  exited: Promise<Exit>;
  /** The first stdout line (printed already or to come) that satisfies `match`. */
  line(match: string | ((line: string) => boolean)): Promise<string>;
  /** Every stdout line so far. */
  readonly lines: readonly string[];
}

export const fixturesDir = fileURLToPath(new URL('./fixtures/', import.meta.url));

/** Spawns `node test/fixtures/<file> ...args`. */
export function fixture(file: string, args: string[] = [], options: SpawnOptions = {}): FixtureRun {
  return run(process.execPath, [`${fixturesDir}${file}`, ...args], options);
}

/** Spawns any command, killed after the test like fixtures. */
export function run(command: string, args: string[], options: SpawnOptions = {}): FixtureRun {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options });
  running.add(child);
  if (child.pid) started.add(child.pid);
  let stdout = '';
  let stderr = '';
  let pending = '';
  const lines: string[] = [];
  const waiters: { match: (l: string) => boolean; resolve: (l: string) => void }[] = [];
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
    pending += chunk;
    let nl: number;
    while ((nl = pending.indexOf('\n')) >= 0) {
      const line = pending.slice(0, nl);
      pending = pending.slice(nl + 1);
      lines.push(line);
      if (line.startsWith('pid ')) started.add(Number(line.slice(4)));
      for (const w of [...waiters]) {
        if (w.match(line)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(line);
        }
      }
    }
  });
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<Exit>((resolve) => {
    child.on('close', (code, signal) => {
      running.delete(child);
      resolve({ code, signal, stdout, stderr });
    });
  });
  return {
    child,
    exited,
    lines,
    line(m) {
      const match = typeof m === 'string' ? (l: string) => l === m || l.startsWith(`${m} `) : m;
      return new Promise<string>((resolve, reject) => {
        const seen = lines.find(match);
        if (seen !== undefined) return resolve(seen);
        waiters.push({ match, resolve });
        void exited.then((r) => reject(new Error(`${command} ${args.join(' ')} exited (${r.code ?? r.signal}) before line ${String(m)}; stderr: ${r.stderr}`)));
      });
    },
  };
}
