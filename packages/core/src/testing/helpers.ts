/**
 * Test helpers every package uses: unique names the leak check recognises, child processes killed after each
 * test, their output line by line, undo steps that run when a test fails too, and the error a promise rejects
 * with. Each wait is bounded (`within`); none is a sleep.
 */
import { execFile, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { within } from './within.js';

/**
 * `ipcx-<what>-<pid>-<random>`: unique per call, and recognised by the leak check (`vitest.leaks.ts`) as made by
 * this process. Prefix `/` for a POSIX shm or queue name; join it to `tmpdir()` for a socket path.
 */
export function uniqueName(what = 'test'): string {
  return `ipcx-${what}-${process.pid}-${randomBytes(4).toString('hex')}`;
}

const tracked = new Set<ChildProcess>();

function running(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null;
}

/** Records a child process so that `killTrackedChildren()` (in `afterEach`) kills it if it still runs. Returns it. */
export function trackChild<C extends ChildProcess>(child: C): C {
  tracked.add(child);
  child.once('exit', () => tracked.delete(child));
  return child;
}

/**
 * Kills every tracked child that still runs with SIGKILL and resolves once each has exited (so that what it held,
 * a lock, a socket, is released before the next test). Use as `afterEach(killTrackedChildren)`.
 */
export async function killTrackedChildren(): Promise<void> {
  const children = [...tracked];
  tracked.clear();
  await Promise.all(
    children.filter(running).map(
      (child) =>
        new Promise<void>((resolve) => {
          child.once('exit', () => resolve());
          if (!running(child)) return resolve(); // exited between the check and the listener
          child.kill('SIGKILL');
        }),
    ),
  );
}

/**
 * Spawns `node ...args` (a fixture that loads the built `dist`), piped and tracked. Its output is read from the
 * start (`childLines(child)` at any later time misses nothing).
 */
export function spawnNode(args: readonly string[], options: SpawnOptions = {}): ChildProcess {
  const child = trackChild(spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options }));
  childLines(child);
  return child;
}

/**
 * Runs `code` (an ES module) in a tracked child Node process; `cwd` is where `@ipcx/*` resolve (a package folder,
 * to load its built `dist`), and the other spawn options (`env`, `stdio`) pass through. With `dropTo`, the child
 * drops to that uid/gid where the comment `/*DROP*\/` stands in the code, after its imports ran.
 */
export function spawnCode(code: string, options: SpawnOptions & { dropTo?: number } = {}): ChildProcess {
  const { dropTo: id, ...spawnOptions } = options;
  const drop = id === undefined ? '' : `process.setgroups([]); process.setgid(${id}); process.setuid(${id});`;
  return spawnNode(['--input-type=module', '-e', code.replace('/*DROP*/', drop)], spawnOptions);
}

/**
 * Runs, as written, the ```js block of the README at `readme` whose first line is `header` (the comment that names
 * the example, `// udp.mjs: node udp.mjs`), from the README's folder with colours off; resolves with its stdout
 * once it exited 0, rejects with its stderr otherwise or after `ms`.
 */
export async function runReadmeExample(readme: URL, header: string, ms = 20_000): Promise<string> {
  const path = fileURLToPath(readme);
  const block = readFileSync(path, 'utf8')
    .split('```js\n')
    .slice(1)
    .find((text) => text.startsWith(`${header}\n`));
  if (block === undefined) throw new Error(`${basename(path)} has no js block starting with ${header}`);
  const code = block.slice(0, block.indexOf('```'));
  const env = { ...process.env, FORCE_COLOR: '0', NO_COLOR: '1' };
  const output = await exited(spawnCode(code, { cwd: dirname(path), env }), ms);
  if (output.code !== 0) throw new Error(`${header}: exit ${output.code ?? output.signal}\n${output.stderr}`);
  return output.stdout;
}

/** What a child printed and how it ended. */
export interface ChildOutput {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * A child's stdout line by line, and its end. One per child: `childLines(child)` returns the same reader on every
 * call. `spawnNode` and `spawnCode` make it when they spawn; for another child make it right after spawning, so
 * that nothing printed is missed.
 */
export interface ChildLines {
  readonly child: ChildProcess;
  /** Every stdout line so far. */
  readonly lines: readonly string[];
  /** The next line not yet taken by `next` (lines are queued: none is lost between calls). */
  next(ms?: number): Promise<string>;
  /** The first line (printed already or to come) equal to `match`, starting with `match + ' '`, or passing it. */
  line(match: string | ((line: string) => boolean), ms?: number): Promise<string>;
  /** Resolves once the child exited, with everything it printed. */
  readonly exited: Promise<ChildOutput>;
}

const readers = new WeakMap<ChildProcess, ChildLines>();

/** Reads a child's output; every wait rejects when the child exits first (with its stderr) or after `ms` (default 10 s). */
export function childLines(child: ChildProcess): ChildLines {
  let reader = readers.get(child);
  if (reader === undefined) {
    reader = readChild(child);
    readers.set(child, reader);
  }
  return reader;
}

/** Resolves once `child` exited, with what it printed; rejects after `ms` (default 10 s). */
export function exited(child: ChildProcess, ms = 10_000): Promise<ChildOutput> {
  return within(childLines(child).exited, ms, 'the child to exit');
}

/** Sends `signal` (default SIGKILL) to `child` and resolves once it exited, with what it printed; bounded by `ms`. */
export function killChild(child: ChildProcess, signal: NodeJS.Signals = 'SIGKILL', ms = 10_000): Promise<ChildOutput> {
  const output = exited(child, ms);
  child.kill(signal);
  return output;
}

function readChild(child: ChildProcess): ChildLines {
  const lines: string[] = [];
  let taken = 0;
  let stdout = '';
  let stderr = '';
  let pending = '';
  const waiters = new Set<() => void>();
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
    pending += chunk;
    for (let nl = pending.indexOf('\n'); nl >= 0; nl = pending.indexOf('\n')) {
      lines.push(pending.slice(0, nl));
      pending = pending.slice(nl + 1);
    }
    for (const waiter of [...waiters]) waiter();
  });
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<ChildOutput>((resolve) => {
    const done = (): void => resolve({ code: child.exitCode, signal: child.signalCode, stdout, stderr });
    const streamsClosed = [child.stdout, child.stderr].every((stream) => stream === null || stream.destroyed);
    if (!running(child) && streamsClosed) done();
    else child.once('close', done);
  });
  let ended = false;
  void exited.then(() => {
    ended = true;
    for (const waiter of [...waiters]) waiter();
  });
  const waitFor = <T>(find: () => T | undefined, ms: number, what: string): Promise<T> => {
    const found = find();
    if (found !== undefined) return Promise.resolve(found);
    let waiter!: () => void;
    const result = new Promise<T>((resolve, reject) => {
      waiter = () => {
        const value = find();
        if (value !== undefined) resolve(value);
        else if (ended)
          reject(
            new Error(`the child exited (${child.exitCode ?? child.signalCode}) before ${what}; stderr: ${stderr}`),
          );
        else return;
        waiters.delete(waiter);
      };
      waiters.add(waiter);
      if (ended) waiter();
    });
    return within(result, ms, what).finally(() => waiters.delete(waiter));
  };
  return {
    child,
    lines,
    exited,
    next: (ms = 10_000) =>
      waitFor(() => (taken < lines.length ? lines[taken++] : undefined), ms, 'a line from the child'),
    line(match, ms = 10_000) {
      const test = typeof match === 'string' ? (l: string) => l === match || l.startsWith(`${match} `) : match;
      return waitFor(
        () => lines.find(test),
        ms,
        typeof match === 'string' ? `the line ${match}` : 'a line that matches',
      );
    },
  };
}

/**
 * Resolves once `condition()` holds, checking every 10 ms; rejects after `ms` (default 10 s) naming `what`. For a
 * state that another process or thread changes where no event tells (a subscriber count, a pid gone); await the
 * event itself (`within`) where there is one.
 */
export async function until(condition: () => boolean, ms = 10_000, what = 'the condition'): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() >= deadline) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** A C program `compileC` built, and the removal of its temporary folder. */
export interface CompiledC {
  binary: string;
  remove(): void;
}

/**
 * Compiles the C program at `source` (`cc -O2 -Wall`, then `libraries` such as `-lrt`) into a new temporary
 * folder; `remove()` deletes it. When no compiler builds it: with `context` (a vitest test context) the test is
 * skipped, saying why; without, the promise rejects with the compiler's message.
 */
export async function compileC(
  source: string | URL,
  options: { libraries?: readonly string[]; context?: { skip(note?: string): never } } = {},
): Promise<CompiledC> {
  const path = typeof source === 'string' ? source : fileURLToPath(source);
  const dir = mkdtempSync(join(tmpdir(), 'ipcx-c-'));
  const remove = (): void => rmSync(dir, { recursive: true, force: true });
  const binary = join(dir, basename(path).replace(/\.c$/, ''));
  try {
    await promisify(execFile)('cc', ['-O2', '-Wall', '-o', binary, path, ...(options.libraries ?? [])]);
  } catch (error) {
    remove();
    const note = `no C compiler could build ${basename(path)}: ${(error as Error).message}`;
    if (options.context) options.context.skip(note);
    throw new Error(note, { cause: error });
  }
  return { binary, remove };
}

/**
 * Runs `code` (an ES module, as `spawnCode`) and resolves with how the child ended once it exited by itself;
 * rejects if it still runs after `ms` (default 15 s). For "the process ends on its own" tests: a pending wait
 * that lets it end early (exit code 13), or a timer that keeps it alive when nothing is left to do.
 */
export function exitOf(code: string, options: { cwd?: string; ms?: number } = {}): Promise<ChildOutput> {
  // Without colours, whatever the runner's FORCE_COLOR: the output is compared as text.
  const env = { ...process.env, FORCE_COLOR: '0', NO_COLOR: '1' };
  return exited(spawnCode(code, options.cwd === undefined ? { env } : { cwd: options.cwd, env }), options.ms ?? 15_000);
}

/** The error `promise` rejects with; fails when it resolves. */
export async function rejection(promise: Promise<unknown>): Promise<Error & { code?: string }> {
  try {
    await promise;
  } catch (error) {
    return error as Error & { code?: string };
  }
  throw new Error('expected a rejection, the promise resolved');
}

type Cleanup = () => void | Promise<void>;
const cleanups: Cleanup[] = [];

/** Registers an undo step (unlink, close); `runDeferred()` in `afterEach` runs them, last first, failures or not. */
export function defer(fn: Cleanup): void {
  cleanups.push(fn);
}

/** Runs every step `defer` registered, last first; throws an AggregateError of the steps that failed, after all ran. */
export async function runDeferred(): Promise<void> {
  const errors: unknown[] = [];
  while (cleanups.length > 0) {
    try {
      await cleanups.pop()!();
    } catch (error) {
      errors.push(error);
    }
  }
  if (errors.length > 0) throw new AggregateError(errors, 'cleanup failed');
}

/** Runs `fn`, ignoring errors with one of `codes` (ENOENT from an unlink of something already gone). */
export function ignoring<T>(codes: readonly string[], fn: () => T): T | undefined {
  try {
    return fn();
  } catch (error) {
    if (!codes.includes((error as { code?: string }).code ?? '')) throw error;
    return undefined;
  }
}

/**
 * Names in /dev/shm (segments, `sem.` semaphores) that contain `match` (by default this process's pid as
 * `uniqueName` writes it) or pass it: what a test or the leak check of the run (`vitest.leaks.ts`) finds left.
 */
export function shmLeftovers(match: string | ((name: string) => boolean) = `-${process.pid}-`): string[] {
  const test = typeof match === 'string' ? (name: string) => name.includes(match) : match;
  return readdirSync('/dev/shm').filter(test);
}
