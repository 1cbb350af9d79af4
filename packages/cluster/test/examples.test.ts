import { existsSync } from 'node:fs';
import { stripVTControlCharacters } from 'node:util';
import { describe, expect, it } from 'vitest';
import { childLines, shmLeftovers, spawnNode, uniqueName, within, type ChildLines } from '@ipcx/core/testing';
import { freePort, get } from './helpers.js';

/** Runs `examples/<file>` with plain Node (it loads the built packages). */
function run(file: string, env: NodeJS.ProcessEnv = {}): ChildLines {
  return childLines(
    spawnNode([new URL(`../examples/${file}`, import.meta.url).pathname], {
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { ...process.env, ...env },
    }),
  );
}

describe('README examples', () => {
  it('main.mjs: a worker thread with a connected channel answers and ends', async () => {
    const example = run('main.mjs');
    const end = await within(example.exited, 20_000, 'the example to end');
    expect(end).toMatchObject({ code: 0, signal: null });
    expect(stripVTControlCharacters(end.stdout)).toContain('{ doubled: 42 }'); // colours when run under nx
  });

  it('cluster.mjs: workers share config and a counter; SIGTERM stops everything and removes the segments', async () => {
    const app = uniqueName('example');
    const port = await freePort();
    const example = run('cluster.mjs', { APP: app, PORT: String(port) });
    await example.line((l) => l.includes('ready'), 30_000);
    const bodies: string[] = [];
    for (let i = 0; i < 6; i++) bodies.push(await get(port));
    expect(bodies.every((b) => b.startsWith('hello #'))).toBe(true);
    expect(bodies.map((b) => Number(b.split('#')[1])).sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 6]);
    example.child.kill('SIGTERM');
    expect(await within(example.exited, 15_000, 'a clean exit')).toMatchObject({ code: 0, signal: null });
    // The pubsub topic, the counters and the supervisor's control slots are all gone.
    expect(shmLeftovers((n) => n.includes(app) || n.startsWith(`ipcx-cluster-${example.child.pid}-`))).toEqual([]);
    expect(existsSync(`/dev/shm/${app}-counters`)).toBe(false);
  }, 60_000);

  it('pool.mjs: squares numbers in a thread pool; SIGTERM finishes and exits 0', async () => {
    const example = run('pool.mjs');
    await example.line('3² = 9', 20_000);
    example.child.kill('SIGTERM');
    const end = await within(example.exited, 15_000, 'a clean exit');
    expect(end).toMatchObject({ code: 0, signal: null });
    const lines = end.stdout.trim().split('\n');
    for (const [n, l] of lines.entries()) expect(l).toBe(`${n}² = ${n * n}`);
  }, 60_000);
});
