import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { within } from '@ipcx/core/testing';
import { MessageQueue } from '@ipcx/mq';

const made: string[] = [];

/** A unique queue name for one test, unlinked by `unlinkAll` (with its duplex '.0' and '.1'). */
export function queueName(what: string): string {
  const name = `/ipcx-${what}-${process.pid}-${randomBytes(4).toString('hex')}`;
  made.push(name, `${name}.0`, `${name}.1`);
  return name;
}

/** Unlinks every queue the test made; call from afterEach so that it runs when a test fails too. */
export async function unlinkAll(): Promise<void> {
  for (const name of made.splice(0)) await MessageQueue.unlink(name);
}

/** The first line a child prints (its "ready"); rejects if the child exits first, or after 10 s (core's `within`). */
export function firstLine(child: ChildProcess): Promise<string> {
  return within(new Promise((resolve, reject) => {
    const onExit = (code: number | null, signal: string | null): void => reject(new Error(`the child exited (${code ?? signal}) before it was ready`));
    child.once('exit', onExit);
    child.stdout!.once('data', (chunk: Buffer) => {
      child.off('exit', onExit);
      resolve(String(chunk));
    });
  }), 10_000, "the child's first line");
}

/**
 * Runs `code` (an ES module) in a child Node process from this package's folder, where `@ipcx/*` resolve to
 * their built `dist`. With `dropTo`, the child imports as the caller's user and then drops to that uid/gid
 * (where `/*DROP*\/` stands in the code): a child of another user that still finds our modules wherever the
 * repository was cloned (a 0700 home directory included), since it never reads a file after it dropped.
 */
export function spawnCode(code: string, options: { dropTo?: number } = {}): ChildProcess {
  const id = options.dropTo;
  const drop = id === undefined ? '' : `process.setgroups([]); process.setgid(${id}); process.setuid(${id});`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', code.replace('/*DROP*/', drop)], {
    cwd: packageDir,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  spawned.add(child);
  child.once('exit', () => spawned.delete(child));
  return child;
}

const packageDir = fileURLToPath(new URL('..', import.meta.url));
const spawned = new Set<ChildProcess>();

/** Kills every child `spawnCode` started that still runs (call from afterEach). */
export function killSpawned(): void {
  for (const child of spawned) child.kill('SIGKILL');
  spawned.clear();
}

/** Everything a child printed, once it exited. */
export async function outputOf(child: ChildProcess): Promise<{ code: number | null; signal: string | null; out: string; err: string }> {
  let out = '';
  let err = '';
  child.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (err += chunk.toString()));
  const [code, signal] = (await once(child, 'exit')) as [number | null, string | null];
  return { code, signal, out, err };
}

/**
 * Compiles the C fixture `file` (in test/fixtures) into a temporary folder and returns the binary's path and a
 * function that removes the folder; skips the test when no C compiler builds it.
 */
export async function compileFixture(
  context: { skip(note?: string): never },
  file: string,
  libraries: string[] = [],
): Promise<{ binary: string; remove: () => void }> {
  const dir = mkdtempSync(join(tmpdir(), 'ipcx-mq-c-'));
  const remove = (): void => rmSync(dir, { recursive: true, force: true });
  const binary = join(dir, file.replace(/\.c$/, ''));
  try {
    await promisify(execFile)('cc', ['-O2', '-o', binary, fileURLToPath(new URL(`./fixtures/${file}`, import.meta.url)), ...libraries]);
  } catch (error) {
    remove();
    context.skip(`no C compiler could build the peer: ${(error as Error).message}`);
  }
  return { binary, remove };
}
