import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort, get, within } from './helpers.js';

const children: ChildProcess[] = [];
afterEach(() => {
  for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
});

function run(file: string, env: NodeJS.ProcessEnv = {}): { child: ChildProcess; output: () => string; line: (re: RegExp) => Promise<void>; exited: Promise<[number | null, string | null]> } {
  const child = spawn(process.execPath, [new URL(`../examples/${file}`, import.meta.url).pathname], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ...env } });
  children.push(child);
  let out = '';
  const waiters = new Set<() => void>();
  child.stdout!.on('data', (chunk: Buffer) => {
    out += chunk.toString();
    for (const w of waiters) w();
  });
  const exited = new Promise<[number | null, string | null]>((resolve) => child.once('exit', (code, signal) => resolve([code, signal])));
  const line = (re: RegExp) =>
    new Promise<void>((resolve, reject) => {
      const check = () => re.test(out) && (waiters.delete(check), resolve());
      waiters.add(check);
      check();
      void exited.then(([code, signal]) => reject(new Error(`${file} exited (${code ?? signal}) before ${re}: ${out.slice(-500)}`)));
    });
  return { child, output: () => out, line, exited };
}

describe('README examples', () => {
  it('main.mjs: a worker thread with a connected channel answers and ends', async () => {
    const example = run('main.mjs');
    expect(await within(example.exited, 20_000, 'the example to end')).toEqual([0, null]);
    expect(example.output().replace(/\x1b\[[0-9;]*m/g, '')).toContain('{ doubled: 42 }'); // colours when run under nx
  });

  it('cluster.mjs: workers share config and a counter; SIGTERM stops everything and removes the segments', async () => {
    const app = `ipcx-example-${process.pid}-${randomBytes(3).toString('hex')}`;
    const port = await freePort();
    const example = run('cluster.mjs', { APP: app, PORT: String(port) });
    await within(example.line(/ready/), 30_000, 'the cluster to be ready');
    const bodies: string[] = [];
    for (let i = 0; i < 6; i++) bodies.push(await get(port));
    expect(bodies.every((b) => b.startsWith('hello #'))).toBe(true);
    expect(bodies.map((b) => Number(b.split('#')[1])).sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 6]);
    example.child.kill('SIGTERM');
    expect(await within(example.exited, 15_000, 'a clean exit')).toEqual([0, null]);
    // The pubsub topic, the counters and the supervisor's control slots are all gone.
    expect(readdirSync('/dev/shm').filter((n) => n.includes(app) || n.startsWith(`ipcx-cluster-${example.child.pid}-`))).toEqual([]);
    expect(existsSync(`/dev/shm/${app}-counters`)).toBe(false);
  }, 60_000);

  it('pool.mjs: squares numbers in a thread pool; SIGTERM finishes and exits 0', async () => {
    const example = run('pool.mjs');
    await within(example.line(/^3² = 9$/m), 20_000, 'results');
    example.child.kill('SIGTERM');
    expect(await within(example.exited, 15_000, 'a clean exit')).toEqual([0, null]);
    const lines = example.output().trim().split('\n');
    lines.forEach((l, n) => expect(l).toBe(`${n}² = ${n * n}`));
  }, 60_000);
});
