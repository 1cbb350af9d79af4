/**
 * Test helpers: unique kernel object names, cleanup that runs even when a test fails, fixture processes
 * that are killed when the test ends, and a deadline for awaited events.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { readdirSync } from 'node:fs';
import { afterAll, afterEach, expect } from 'vitest';
import { within } from '@ipcx/core/testing';
export { within };

/** `ipcx-<pid>-<random>-<label>`: unique per test run, recognisable when something leaks. */
export function uniqueName(label: string): string {
  return `ipcx-${process.pid}-${randomBytes(4).toString('hex')}-${label}`;
}

type Cleanup = () => void | Promise<void>;
const cleanups: Cleanup[] = [];
const children = new Set<ChildProcess>();

/** Registers an undo step; all run after the current test (last registered first), failures or not. */
export function defer(fn: Cleanup): void {
  cleanups.push(fn);
}

/** Runs `fn` and ignores the errors listed (typically ENOENT from an unlink of something already gone). */
export function ignoring(codes: string[], fn: () => void): void {
  try {
    fn();
  } catch (error) {
    if (!codes.includes((error as { code?: string }).code ?? '')) throw error;
  }
}

afterEach(async () => {
  for (const child of children) child.kill('SIGKILL');
  children.clear();
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

// Shared memory segments and named semaphores ("sem.<name>") live in /dev/shm: none of ours may remain.
afterAll(() => {
  const leaked = readdirSync('/dev/shm').filter((n) => n.includes(`ipcx-${process.pid}-`));
  expect(leaked, 'kernel objects left in /dev/shm').toEqual([]);
});


export interface FixtureRun {
  child: ChildProcess;
  /** Resolves with exit code and output when the process exits. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>;
  /** Resolves with the first stdout line (already printed or to come) that satisfies `match`. */
  line(match: (line: string) => boolean): Promise<string>;
}

/** Spawns `node test/fixtures/<file> ...args` (plain Node: it loads dist and build/Release). */
export function fixture(file: string, args: string[] = [], nodeArgs: string[] = []): FixtureRun {
  const path = fileURLToPath(new URL(`./fixtures/${file}`, import.meta.url));
  return fixtureProcess(process.execPath, [...nodeArgs, path, ...args]);
}

/** Spawns any executable, killed after the test like fixtures. */
export function fixtureProcess(command: string, args: string[]): FixtureRun {
  const file = command;
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let stdout = '';
  let stderr = '';
  const waiters: { match: (l: string) => boolean; resolve: (l: string) => void }[] = [];
  const lines: string[] = [];
  let pending = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
    pending += chunk;
    let nl: number;
    while ((nl = pending.indexOf('\n')) >= 0) {
      const line = pending.slice(0, nl);
      pending = pending.slice(nl + 1);
      lines.push(line);
      for (const w of [...waiters]) {
        if (w.match(line)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(line);
        }
      }
    }
  });
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>((resolve) => {
    child.on('close', (code, signal) => {
      children.delete(child);
      resolve({ code, signal, stdout, stderr });
    });
  });
  return {
    child,
    exited,
    line: (match) =>
      new Promise<string>((resolve, reject) => {
        const seen = lines.find(match);
        if (seen !== undefined) return resolve(seen);
        waiters.push({ match, resolve });
        void exited.then((r) => reject(new Error(`fixture ${file} exited (${r.code ?? r.signal}) before the line; stderr: ${r.stderr}`)));
      }),
  };
}

/** Waits for a fixture to exit 0 and returns its stdout; includes stderr in the failure. */
export async function succeeds(run: FixtureRun, ms: number, what: string): Promise<string> {
  const r = await within(run.exited, ms, what);
  if (r.code !== 0) throw new Error(`${what}: exit ${r.code ?? r.signal}\n${r.stderr}`);
  return r.stdout;
}
