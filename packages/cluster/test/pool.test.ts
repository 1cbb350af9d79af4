import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { Pool } from '@ipcx/cluster';
import { rejection } from '@ipcx/core/testing';
import { fixture, leftovers } from './helpers.js';

const pools: Pool[] = [];
function pool(options: Partial<ConstructorParameters<typeof Pool>[0]> = {}): Pool {
  const p = new Pool({ filename: fixture('pool-worker.mjs'), threads: 2, ...options });
  pools.push(p);
  return p;
}
afterEach(async () => {
  await Promise.all(pools.splice(0).map((p) => p.destroy()));
  expect(leftovers()).toEqual([]);
});

for (const kind of ['threads', 'processes'] as const) {
  describe(`a pool of ${kind}`, () => {
    it('runs tasks and returns results, many in flight', async () => {
      const p = pool({ [kind]: 2, threads: kind === 'threads' ? 2 : undefined });
      const results = await Promise.all(Array.from({ length: 500 }, (_, i) => p.run({ i })));
      expect(results).toEqual(Array.from({ length: 500 }, (_, i) => ({ i })));
      await p.close();
    });

    it('fails only the task that kills its worker, and replaces the worker', async () => {
      const p = pool({ [kind]: 2, threads: kind === 'threads' ? 2 : undefined });
      const before = await p.run({ op: 'pid' });
      const others = Array.from({ length: 50 }, (_, i) => p.run({ op: 'sleep', ms: 5, value: i }));
      const killer = p.run(kind === 'threads' ? { op: 'exit', code: 7 } : { op: 'kill' });
      const more = Array.from({ length: 50 }, (_, i) => p.run({ op: 'sleep', ms: 1, value: 100 + i }));
      const exited = once(p, 'exit');
      const error = await rejection(killer);
      expect(error.code).toBe('IPCX_ERR_PEER_GONE');
      expect(await Promise.all(others)).toEqual(Array.from({ length: 50 }, (_, i) => i));
      expect(await Promise.all(more)).toEqual(Array.from({ length: 50 }, (_, i) => 100 + i));
      const [info] = await exited;
      expect(kind === 'threads' ? info.code : info.signal).toBe(kind === 'threads' ? 7 : 'SIGKILL');
      // The pool is whole again.
      expect(await Promise.all(Array.from({ length: 20 }, (_, i) => p.run(i)))).toHaveLength(20);
      expect(p.size).toBe(2);
      expect(before).toBeDefined();
      await p.close();
    });
  });
}

describe('Pool', () => {
  it('runs over a Unix socket with transport: unix', async () => {
    const p = pool({ processes: 1, threads: undefined, transport: 'unix' });
    expect(await Promise.all([1, 2, 3].map((n) => p.run({ n })))).toEqual([{ n: 1 }, { n: 2 }, { n: 3 }]);
  });

  it('rejects with RemoteError when the handler throws', async () => {
    const p = pool();
    const error = await rejection(p.run({ op: 'throw', message: 'nope' }));
    expect(error.code).toBe('IPCX_ERR_REMOTE');
    expect(error.message).toContain('nope');
    expect(await p.run(1)).toBe(1);
  });

  it('is a bounded queue: FullError beyond maxQueue, then drain', async () => {
    // The sleep is sent at once (not begun yet: it counts), 1 to 4 wait in the pool's queue.
    const p = pool({ threads: 1, maxQueue: 5, concurrentTasksPerWorker: 1 });
    await p.run('warm'); // the worker is up: the next task goes to it, not to the queue
    const running = [p.run({ op: 'sleep', ms: 50, value: 0 })];
    for (let i = 1; i <= 4; i++) running.push(p.run(i));
    await expect(p.run(99)).rejects.toMatchObject({ code: 'IPCX_ERR_FULL' });
    await once(p, 'drain');
    expect(await Promise.all(running)).toEqual([0, 1, 2, 3, 4]);
  });

  it('counts tasks sent ahead to a worker as waiting until they begin: FullError past maxQueue, then drain', async () => {
    const p = pool({ threads: 1, maxQueue: 3 });
    await p.run('warm');
    const errors: { code?: string }[] = [];
    const results = Array.from({ length: 10 }, (_, i) =>
      p.run({ op: 'sleep', ms: 30, value: i }).catch((e) => (errors.push(e), 'refused')),
    );
    expect(p.queueSize).toBe(3);
    const drained = once(p, 'drain');
    expect(await Promise.all(results)).toEqual([0, 1, 2, ...Array(7).fill('refused')]);
    expect(errors.every((e) => e.code === 'IPCX_ERR_FULL')).toBe(true);
    await drained;
    expect(p.queueSize).toBe(0);
  });

  it('aborts a queued task and times out a running one (replacing a looping worker)', async () => {
    const p = pool({ threads: 1, concurrentTasksPerWorker: 1 });
    const loop = p.run({ op: 'loop' }, { timeout: 300 });
    const controller = new AbortController();
    const queued = p.run(5, { signal: controller.signal });
    controller.abort();
    expect((await rejection(queued)).code).toBe('IPCX_ERR_ABORTED');
    expect((await rejection(loop)).code).toBe('IPCX_ERR_TIMEOUT');
    expect(await p.run('after')).toBe('after');
  });

  it('round-robin spreads tasks over the workers', async () => {
    const p = pool({ threads: 2, balance: 'round-robin', concurrentTasksPerWorker: 1 });
    const seen = new Set<number>();
    for (let i = 0; i < 6; i++) seen.add(((await p.run({ op: 'pid' })) as { thread: number }).thread);
    expect(seen.size).toBe(2);
  });

  it('validates its options and refuses tasks after close', async () => {
    expect(() => new Pool({ filename: fixture('pool-worker.mjs'), threads: 0 })).toThrow(RangeError);
    expect(() => new Pool({ filename: fixture('pool-worker.mjs'), balance: 'random' as never })).toThrow(TypeError);
    const p = pool();
    await p.close();
    await expect(p.run(1)).rejects.toMatchObject({ code: 'IPCX_ERR_CLOSED' });
  });
});

describe('Pool whose workers cannot start', () => {
  it('fails its tasks after five workers in a row died before answering, instead of respawning for ever', async () => {
    const p = new Pool({ filename: fixture('supervised.mjs'), processes: 1, env: { ...process.env, MODE: 'crash' } });
    pools.push(p);
    const error = await rejection(p.run(1));
    expect(error.code).toBe('IPCX_ERR_PEER_GONE');
    expect(error.message).toContain('5 in a row');
    await expect(p.run(2)).rejects.toMatchObject({ code: 'IPCX_ERR_PEER_GONE' });
  });
});
