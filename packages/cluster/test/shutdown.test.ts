import { afterEach, describe, expect, it } from 'vitest';
import { ShutdownCoordinator } from '@ipcx/signals';
import { Pool, Supervisor, forkChild } from '@ipcx/cluster';
import { fixture, leftovers } from './helpers.js';

const coordinators: ShutdownCoordinator[] = [];
afterEach(() => {
  for (const c of coordinators.splice(0)) c.close();
});

describe('shutdown through @ipcx/signals', () => {
  it('closes a supervisor of processes and a thread pool as one tree: no restart, nothing left', async () => {
    // SIGUSR2 only, and no exit: the test process keeps its own SIGTERM and lives on.
    const coordinator = new ShutdownCoordinator({ signals: ['SIGUSR2'], exit: false, log: false, timeout: 15_000 });
    coordinators.push(coordinator);
    const supervisor = new Supervisor({
      count: 2,
      spawn: () => forkChild(fixture('supervised.mjs')),
      heartbeatInterval: 100,
      shutdown: coordinator,
    });
    const pool = new Pool({ filename: fixture('pool-worker.mjs'), threads: 2, shutdown: coordinator });
    await supervisor.ready();
    expect(await pool.run(7)).toBe(7);
    const restarts: unknown[] = [];
    supervisor.on('restart', (r) => restarts.push(r));
    const pids = supervisor.workers.map((w) => w.pid);
    // The coordinator sends SIGTERM to the worker processes first, then closes pool and supervisor.
    const report = await coordinator.shutdown('test');
    expect(report.code).toBe(0);
    expect(report.closed).toEqual(['pool', 'supervisor']);
    expect(report.children.map((c) => c.pid).sort()).toEqual(expect.arrayContaining(pids.sort()));
    expect(restarts).toEqual([]);
    expect(supervisor.status().state).toBe('stopped');
    await expect(pool.run(1)).rejects.toMatchObject({ code: 'IPCX_ERR_CLOSED' });
    expect(leftovers()).toEqual([]);
  });
});
