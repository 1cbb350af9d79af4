import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { Supervisor, forkChild, forkClusterWorker, spawnWorker, type SupervisorExitEvent } from '@ipcx/cluster';
import { within } from '@ipcx/core/testing';
import { fixture, freePort, get, leftovers } from './helpers.js';

const supervisors: Supervisor[] = [];
function supervise(options: ConstructorParameters<typeof Supervisor>[0]): Supervisor {
  const s = new Supervisor(options);
  supervisors.push(s);
  return s;
}
afterEach(async () => {
  await Promise.all(supervisors.splice(0).map((s) => s.close()));
  expect(leftovers()).toEqual([]);
});

function next<T = unknown>(emitter: Supervisor, event: string, ms = 10_000): Promise<T> {
  return within(
    once(emitter, event).then(([value]) => value as T),
    ms,
    `'${event}'`,
  );
}

describe('Supervisor', () => {
  it('restarts a worker that exits, reporting the code', async () => {
    const s = supervise({ count: 2, spawn: () => spawnWorker(fixture('supervised.mjs')), restart: { backoff: 10 } });
    await s.ready();
    const [first] = s.workers;
    const exit = next<SupervisorExitEvent>(s, 'exit');
    const restarted = next(s, 'restart');
    // s.ready() follows the workers' ready words; the supervisor's own 'ready' events of the first start may
    // still be on their way, so wait for the one of the replacement (index 0, another thread).
    const replaced = within(
      (async () => {
        for (;;) {
          const [event] = (await once(s, 'ready')) as [{ index: number; threadId?: number }];
          if (event.index === 0 && event.threadId !== first!.threadId) return event;
        }
      })(),
      10_000,
      "the replacement's 'ready'",
    );
    await first!.channel.send('hang'); // then terminate it from outside: a thread cannot be SIGKILLed
    await first!.destroy();
    expect((await exit).code).toBe(1);
    expect(await restarted).toMatchObject({ index: 0, attempt: 1, delay: 10 });
    await replaced;
    expect(s.status().workers.map((w) => w.state)).toEqual(['ready', 'ready']);
    expect(s.status().workers[0]!.totalRestarts).toBe(1);
  });

  it('reports a SIGKILLed process with code null and its signal, and restarts it', async () => {
    const s = supervise({ count: 1, spawn: () => forkChild(fixture('supervised.mjs')), restart: { backoff: 10 } });
    await s.ready();
    const exit = next<SupervisorExitEvent>(s, 'exit');
    s.workers[0]!.child!.kill('SIGKILL');
    expect(await exit).toMatchObject({ code: null, signal: 'SIGKILL', expected: false });
    await next(s, 'ready');
    expect(s.status().workers[0]!.lastExit).toMatchObject({ code: null, signal: 'SIGKILL' });
  });

  it('stops a crash loop after maxRestarts and reports it', async () => {
    const s = supervise({
      count: 1,
      spawn: () => forkChild(fixture('supervised.mjs'), { env: { ...process.env, MODE: 'crash' } }),
      restart: { backoff: { initial: 5, factor: 2 }, maxRestarts: 3, window: 60_000 },
    });
    const exits: SupervisorExitEvent[] = [];
    s.on('exit', (e) => exits.push(e));
    const loop = await next<{ restarts: number }>(s, 'crash-loop', 20_000);
    expect(loop.restarts).toBe(3);
    expect(exits).toHaveLength(4);
    expect(exits.every((e) => e.code === 1)).toBe(true);
    expect(s.status()).toMatchObject({ state: 'crash-loop', workers: [{ state: 'crash-loop', restarts: 3 }] });
  });

  for (const [name, spawn] of [
    ['thread', () => spawnWorker(fixture('supervised.mjs'))],
    ['process', () => forkChild(fixture('supervised.mjs'))],
  ] as const) {
    it(`detects a hung ${name} by its stale heartbeat and replaces it`, async () => {
      const s = supervise({ count: 1, spawn, heartbeatInterval: 50, heartbeatTimeout: 400, restart: { backoff: 10 } });
      await s.ready();
      const old = s.workers[0]!;
      const hung = next<{ silentFor: number }>(s, 'hung');
      const exit = next<SupervisorExitEvent>(s, 'exit');
      await old.channel.send('hang');
      expect((await hung).silentFor).toBeGreaterThanOrEqual(400);
      const info = await exit;
      if (name === 'process') expect(info.signal).toBe('SIGKILL');
      await next(s, 'ready');
      const fresh = s.workers[0]!;
      await fresh.channel.send('ping');
      expect(await fresh.channel.receive({ timeout: 5000 })).toMatchObject({ echo: 'ping' });
    });
  }

  it('gets heartbeats from a worker that only connected, and replaces it when it hangs', async () => {
    const s = supervise({
      count: 1,
      spawn: () => spawnWorker(fixture('echo.mjs')),
      heartbeatInterval: 50,
      heartbeatTimeout: 400,
      restart: { backoff: 10 },
    });
    await s.start();
    const worker = s.workers[0]!;
    await worker.channel.receive({ timeout: 10_000 }); // hello: it has connected (and beats)
    const hung = next(s, 'hung');
    const respawned = next<{ index: number }>(s, 'spawn');
    await worker.channel.send({ hang: true });
    await hung;
    expect((await respawned).index).toBe(0);
    expect(s.workers[0]).not.toBe(worker);
  });

  it('rolling-restarts an HTTP cluster under load without losing a request', async () => {
    const port = await freePort();
    const s = supervise({
      count: 2,
      spawn: () => forkClusterWorker({ file: fixture('http-worker.mjs'), env: { PORT: String(port) } }),
      heartbeatInterval: 100,
      heartbeatTimeout: 5000,
    });
    await s.ready();
    const before = new Set(s.workers.map((w) => w.pid));
    const served = new Set<string>();
    const failures: unknown[] = [];
    let sent = 0;
    let rolling = true;
    const client = async (): Promise<void> => {
      while (rolling || sent < 300) {
        sent++;
        try {
          served.add(await get(port));
        } catch (error) {
          failures.push(error);
        }
      }
    };
    const clients = Array.from({ length: 4 }, () => client());
    await s.rollingRestart();
    rolling = false;
    await Promise.all(clients);
    expect(failures).toEqual([]);
    expect(sent).toBeGreaterThanOrEqual(300);
    const after = new Set(s.workers.map((w) => w.pid));
    expect([...after].some((pid) => before.has(pid))).toBe(false);
    // Both generations answered.
    expect([...served].some((pid) => before.has(Number(pid)))).toBe(true);
    expect([...served].some((pid) => after.has(Number(pid)))).toBe(true);
  }, 60_000);

  it('validates its options', () => {
    expect(() => new Supervisor({} as never)).toThrow(TypeError);
    expect(() => new Supervisor({ spawn: async () => undefined as never, count: 0 })).toThrow(RangeError);
    expect(
      () => new Supervisor({ spawn: async () => undefined as never, heartbeatInterval: 100, heartbeatTimeout: 50 }),
    ).toThrow(RangeError);
  });
});
