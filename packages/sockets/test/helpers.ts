import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { once } from 'node:events';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach } from 'vitest';
import { within } from '@ipcx/core/testing';
export { within };

/** Fixture scripts: plain Node processes that load the built `dist` of our packages. */
export const fixtures = fileURLToPath(new URL('./fixtures/', import.meta.url));

/**
 * Unique names for kernel objects ("ipcx" + pid + random), each removed after the test that made it,
 * also when the test fails (after each test, or after all tests of the file with scope 'all').
 */
export function uniqueNames(scope: 'each' | 'all' = 'each'): { path(tag: string): string; abstract(tag: string): { abstract: string } } {
  const made: string[] = [];
  (scope === 'each' ? afterEach : afterAll)(() => {
    for (const path of made.splice(0)) rmSync(path, { force: true });
  });
  const unique = (tag: string): string => `ipcx${process.pid}-${Math.random().toString(36).slice(2, 10)}-${tag}`;
  return {
    path(tag) {
      const path = join(tmpdir(), unique(tag));
      made.push(path);
      return path;
    },
    abstract: (tag) => ({ abstract: unique(tag) }),
  };
}

/** Children spawned by a test, killed after it. */
export function children(): { spawn(args: string[], options?: SpawnOptions): ChildProcess } {
  const alive = new Set<ChildProcess>();
  afterEach(() => {
    for (const child of alive) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    alive.clear();
  });
  return {
    spawn(args, options = {}) {
      const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options });
      alive.add(child);
      return child;
    },
  };
}


/** The next line a child writes to stdout. */
export async function lineFrom(child: ChildProcess, ms = 10_000): Promise<string> {
  let text = '';
  const stdout = child.stdout!;
  stdout.setEncoding('utf8');
  return within(
    new Promise<string>((resolve, reject) => {
      const onData = (chunk: string): void => {
        text += chunk;
        const newline = text.indexOf('\n');
        if (newline >= 0) {
          stdout.off('data', onData);
          resolve(text.slice(0, newline));
        }
      };
      stdout.on('data', onData);
      child.once('exit', (code, signal) => reject(new Error(`child exited (${code ?? signal}) before writing a line; stderr follows`)));
    }),
    ms,
    'a line from the child',
  );
}

/** Waits for a child to exit; resolves to [code, signal]. */
export async function exited(child: ChildProcess, ms = 10_000): Promise<[number | null, NodeJS.Signals | null]> {
  if (child.exitCode !== null || child.signalCode !== null) return [child.exitCode, child.signalCode];
  return within(once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>, ms, 'child exit');
}


const packageDir = fileURLToPath(new URL('..', import.meta.url));

/**
 * Runs `code` (an ES module) in a child Node process started from this package's folder, where `@ipcx/*`
 * resolve to their built `dist`. With `dropTo`, the child drops to that uid/gid where `/*DROP*\/` stands in the
 * code, after its imports ran: it works wherever the repository was cloned (a 0700 folder too), since the child
 * reads no file of ours once it dropped. Killed after the test.
 */
export function codeChildren(): { spawn(code: string, options?: { dropTo?: number }): ChildProcess } {
  const procs = children();
  return {
    spawn(code, options = {}) {
      const id = options.dropTo;
      const drop = id === undefined ? '' : `process.setgroups([]); process.setgid(${id}); process.setuid(${id});`;
      return procs.spawn(['--input-type=module', '-e', code.replace('/*DROP*/', drop)], { cwd: packageDir, stdio: ['pipe', 'pipe', 'pipe'] });
    },
  };
}

/** Reads a child's stdout line by line: `next()` resolves to the next line (none is lost between calls). */
export function lineReader(child: ChildProcess): { next(ms?: number): Promise<string> } {
  const lines: string[] = [];
  const waiting: ((line: string) => void)[] = [];
  let text = '';
  let err = '';
  child.stderr?.on('data', (chunk: Buffer) => (err += chunk.toString()));
  child.stdout!.setEncoding('utf8');
  child.stdout!.on('data', (chunk: string) => {
    text += chunk;
    for (let newline = text.indexOf('\n'); newline >= 0; newline = text.indexOf('\n')) {
      const line = text.slice(0, newline);
      text = text.slice(newline + 1);
      const waiter = waiting.shift();
      if (waiter) waiter(line);
      else lines.push(line);
    }
  });
  return {
    next(ms = 10_000) {
      if (lines.length > 0) return Promise.resolve(lines.shift()!);
      return within(
        new Promise<string>((resolve, reject) => {
          waiting.push(resolve);
          child.once('exit', (code, signal) => reject(new Error(`child exited (${code ?? signal}) before writing a line: ${err}`)));
        }),
        ms,
        `a line from the child (stderr: ${err})`,
      );
    },
  };
}
