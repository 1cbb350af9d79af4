import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';

import { describe, expect, it } from 'vitest';

import { ownedKernelObjects } from '@ipcx/core';
import { registerKernelObject } from '@ipcx/core/transport';
import { shm } from '@ipcx/native';
import { shmLeftovers } from '@ipcx/core/testing';

import { EXIT_TIMEOUT, ShutdownCoordinator, raise } from '../src/index.js';
import { defer, fixture, fixturesDir, run, uniqueName, within, type FixtureRun } from './helpers.js';

/** PID namespaces need root (CAP_SYS_ADMIN) and util-linux's unshare: probe once. */
const canUnshare = spawnSync('unshare', ['-p', '-f', '--mount-proc', 'true']).status === 0;

const shmLeft = (pid: number) => shmLeftovers((n) => n === `ipcx-service-${pid}` || n === `ipcx-doorbell-${pid}`);

/** Running (not gone, not a zombie waiting for its new parent to reap it). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^[ZX]$/.test(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0]!);
  } catch {
    return false;
  }
}

async function started(service: FixtureRun): Promise<number> {
  await within(service.line('ready'), 15_000, 'service ready');
  const pid = Number((await service.line('pid')).split(' ')[1]);
  return pid;
}

describe('ShutdownCoordinator in a real process', () => {
  it('closes every registered resource in reverse order on SIGTERM, unlinks its kernel objects and exits 0', async () => {
    const service = fixture('service.mjs', ['--priority']);
    const pid = await started(service);
    expect(shmLeft(pid).sort()).toEqual([`ipcx-doorbell-${pid}`, `ipcx-service-${pid}`]);
    process.kill(pid, 'SIGTERM');
    const exit = await within(service.exited, 15_000, 'exit');
    expect(exit.code).toBe(0);
    const order = exit.stdout.split('\n').filter((l) => /^(stop|closed) /.test(l));
    expect(order).toEqual(['stop c', 'stop b', 'stop a', 'closed d', 'closed c', 'closed b', 'closed a']);
    expect(shmLeft(pid)).toEqual([]);
  });

  it('cuts off a resource that never closes at the deadline, exits non-zero and names it', async () => {
    const service = fixture('service.mjs', ['--stuck', '--timeout=300']);
    const pid = await started(service);
    process.kill(pid, 'SIGTERM');
    const exit = await within(service.exited, 15_000, 'exit');
    expect(exit.code).toBe(EXIT_TIMEOUT);
    expect(exit.stdout).toMatch(/deadline of 300 ms passed; did not close: stuck, c, b, a/);
    // Kernel objects are unlinked even so.
    expect(shmLeft(pid)).toEqual([]);
  });

  it('exits at once on a second SIGINT, naming what was still closing', async () => {
    const service = fixture('service.mjs', ['--stuck', '--timeout=60000']);
    const pid = await started(service);
    process.kill(pid, 'SIGINT');
    await within(service.line('closing stuck'), 10_000, 'closing');
    process.kill(pid, 'SIGINT');
    const exit = await within(service.exited, 10_000, 'exit');
    expect(exit.code).toBe(130);
    expect(exit.stdout).toMatch(/second signal SIGINT; did not close: stuck, c, b, a/);
    expect(shmLeft(pid)).toEqual([]);
  });

  it('forwards SIGTERM to its children (registered and found in /proc) and waits for them', async () => {
    const service = fixture('service.mjs', ['--children=3']);
    const pid = await started(service);
    const children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(' ').map(Number);
    expect(children).toHaveLength(3);
    process.kill(pid, 'SIGTERM');
    const exit = await within(service.exited, 15_000, 'exit');
    expect(exit.code).toBe(0);
    for (const child of children) expect(exit.stdout).toContain(`child ${child} got SIGTERM`);
    // Each child said it got SIGTERM before the parent's last words.
    const lines = exit.stdout.split('\n');
    const done = lines.findIndex((l) => l.startsWith('shutdown: done'));
    for (const child of children) expect(lines.indexOf(`child ${child} got SIGTERM`)).toBeLessThan(done);
    for (const child of children) expect(alive(child)).toBe(false);
    // The children are told only once every resource stopped accepting (a supervisor must not restart them).
    const lastStop = Math.max(...['a', 'b', 'c'].map((name) => lines.indexOf(`stop ${name}`)));
    expect(lastStop).toBeGreaterThanOrEqual(0);
    for (const child of children) expect(lines.indexOf(`child ${child} got SIGTERM`)).toBeGreaterThan(lastStop);
  });

  it('kills a child that ignores SIGTERM at the deadline and names it', async () => {
    const service = fixture('service.mjs', ['--children=2', '--stubborn-child', '--timeout=500']);
    const pid = await started(service);
    const children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(' ').map(Number);
    process.kill(pid, 'SIGTERM');
    const exit = await within(service.exited, 15_000, 'exit');
    expect(exit.code).toBe(EXIT_TIMEOUT);
    const stubborn = children.find((c) => !exit.stdout.includes(`child ${c} got SIGTERM`));
    expect(exit.stdout).toMatch(new RegExp(`did not close: child ${stubborn}$`, 'm'));
    await within(
      new Promise<void>((resolve) => {
        const t = setInterval(() => !alive(stubborn!) && (clearInterval(t), resolve()), 20);
      }),
      10_000,
      'stubborn child killed',
    );
  });

  it('in a node:cluster primary, forwards SIGTERM to the workers and waits for them to close', async () => {
    const service = fixture('service.mjs', ['--cluster=2']);
    const pid = await started(service);
    process.kill(pid, 'SIGTERM');
    const exit = await within(service.exited, 15_000, 'exit');
    expect(exit.code).toBe(0);
    expect(exit.stdout.split('\n').filter((l) => /^worker \d+ closed$/.test(l))).toHaveLength(2);
    expect(exit.stdout).toMatch(/sent SIGTERM to 2 children/);
  });

  it('shuts down on SIGTERM as PID 1 of a PID namespace, children included', async (ctx) => {
    if (!canUnshare) ctx.skip();
    const service = run('unshare', [
      '-p',
      '-f',
      '--mount-proc',
      process.execPath,
      `${fixturesDir}service.mjs`,
      '--children=1',
    ]);
    await within(service.line('ready'), 15_000, 'service ready');
    expect(await service.line('pid')).toBe('pid 1');
    // unshare forked the namespace's init: signal that process from outside.
    const init = Number(readFileSync(`/proc/${service.child.pid}/task/${service.child.pid}/children`, 'utf8').trim());
    process.kill(init, 'SIGTERM');
    const exit = await within(service.exited, 15_000, 'exit');
    expect(exit.code).toBe(0);
    expect(exit.stdout).toMatch(/^child \d+ got SIGTERM$/m);
    expect(exit.stdout).toContain('closed a');
    expect(shmLeft(1)).toEqual([]); // the segment was named after pid 1 inside the namespace
  });
  it('(without it) plain Node as PID 1 survives SIGTERM: the kernel drops what Node re-raises', async (ctx) => {
    if (!canUnshare) ctx.skip();
    const plain = run('unshare', ['-p', '-f', '--mount-proc', process.execPath, `${fixturesDir}plain.mjs`]);
    expect(await within(plain.line('pid'), 15_000, 'plain ready')).toBe('pid 1');
    const init = Number(readFileSync(`/proc/${plain.child.pid}/task/${plain.child.pid}/children`, 'utf8').trim());
    process.kill(init, 'SIGTERM');
    // Wait until the kernel has delivered it (no longer pending), then ask whether the process lives.
    const pending = () => /^ShdPnd:\s*(\w+)/m.exec(readFileSync(`/proc/${init}/status`, 'utf8'))![1]!;
    await within(
      new Promise<void>((resolve) => {
        const t = setInterval(
          () => (BigInt(`0x${pending()}`) & (1n << 14n)) === 0n && (clearInterval(t), resolve()),
          10,
        );
      }),
      10_000,
      'SIGTERM delivered',
    );
    process.kill(init, 'SIGUSR2');
    const exit = await within(plain.exited, 10_000, 'exit');
    expect(exit.stdout).toContain('alive');
    expect(exit.code).toBe(0);
  });
});

describe('ShutdownCoordinator.shutdown()', () => {
  it('counts an HTTP server that something else already closed as closed', async () => {
    const { createServer } = await import('node:http');
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    await new Promise<void>((resolve) => server.close(() => resolve())); // as node:cluster's disconnect does
    const coordinator = new ShutdownCoordinator({
      exit: false,
      children: false,
      notify: false,
      unlinkKernelObjects: false,
      log: false,
    });
    defer(() => coordinator.close());
    coordinator.register({ name: 'http', close: (done: (error?: Error | null) => void) => server.close(done) });
    coordinator.register({
      name: 'other',
      close: () => Promise.reject(Object.assign(new Error('real failure'), { code: 'EIO' })),
    });
    const report = await coordinator.shutdown('test');
    expect(report.closed).toEqual(['http']);
    expect(report.failed.map((f) => f.name)).toEqual(['other']);
  });

  it('runs the phases, reports what closed and unlinks the kernel objects in the registry', async () => {
    const name = `/${uniqueName('shutdown')}`;
    shm.open(name, { create: true, size: 64 });
    defer(() => {
      if (existsSync(`/dev/shm${name}`)) shm.unlink(name);
    });
    registerKernelObject({ kind: 'shm', name, owner: 'test', unlink: () => shm.unlink(name) });
    const log: string[] = [];
    const coordinator = new ShutdownCoordinator({
      exit: false,
      children: false,
      notify: false,
      log: (m) => log.push(m),
    });
    defer(() => coordinator.close());
    const events: string[] = [];
    coordinator.register({ name: 'first', close: () => void events.push('close first') });
    const off = coordinator.register({ name: 'removed', close: () => void events.push('close removed') });
    coordinator.register({
      name: 'second',
      stopAccepting: () => void events.push('stop second'),
      drain: async () => void events.push('drain second'),
      close: (done: (error?: Error | null) => void) => setImmediate(() => (events.push('close second'), done())),
    });
    coordinator.register({ name: 'broken', close: () => Promise.reject(new Error('disk on fire')) });
    off();
    const report = await coordinator.shutdown('test over');
    expect(events).toEqual(['stop second', 'drain second', 'close second', 'close first']);
    expect(report).toMatchObject({
      reason: 'test over',
      code: 1,
      forced: false,
      closed: ['second', 'first'],
      pending: [],
    });
    expect(report.failed.map((f) => f.name)).toEqual(['broken']);
    expect(report.kernelObjects.map((k) => k.object.name)).toContain(name);
    expect(existsSync(`/dev/shm${name}`)).toBe(false);
    expect(ownedKernelObjects()).toEqual([]);
    expect(coordinator.shutdown()).toBeInstanceOf(Promise);
    expect(() => coordinator.register({ name: 'late', close: () => {} })).toThrow(
      expect.objectContaining({ code: 'IPCX_ERR_CLOSED' }),
    );
  });

  it('calls onSecondSignal and onTimeout with what did not close, and exits nothing with exit: false', async () => {
    const seconds: string[] = [];
    const c1 = new ShutdownCoordinator({
      signals: ['SIGUSR2'],
      exit: false,
      children: false,
      notify: false,
      log: false,
      onSecondSignal: (s) => seconds.push(s),
    });
    defer(() => c1.close());
    c1.register({ name: 'forever', close: () => new Promise(() => {}) });
    raise('SIGUSR2');
    await within(
      new Promise<void>((resolve) => {
        const t = setInterval(() => c1.shuttingDown && (clearInterval(t), resolve()), 5);
      }),
      5000,
      'started',
    );
    raise('SIGUSR2');
    const report = await within(c1.shutdown(), 5000, 'forced');
    expect(seconds).toEqual(['SIGUSR2']);
    expect(report).toMatchObject({ reason: 'SIGUSR2', code: 128 + 12, forced: true, pending: ['forever'] });

    const timeouts: (readonly string[])[] = [];
    const c2 = new ShutdownCoordinator({
      timeout: 50,
      exit: false,
      children: false,
      notify: false,
      log: false,
      onTimeout: (pending) => timeouts.push(pending),
    });
    defer(() => c2.close());
    c2.register({ name: 'slow', close: () => new Promise(() => {}) });
    const r2 = await within(c2.shutdown(new Error('test')), 5000, 'deadline');
    expect(r2).toMatchObject({ reason: 'test', code: EXIT_TIMEOUT, forced: true, pending: ['slow'] });
    expect(timeouts).toEqual([['slow']]);
  });

  it('validates its options before listening', () => {
    expect(() => new ShutdownCoordinator({ signals: ['SIGKILL'] })).toThrow(
      expect.objectContaining({ code: 'IPCX_ERR_UNSUPPORTED' }),
    );
    expect(() => new ShutdownCoordinator({ timeout: -1 })).toThrow(RangeError);
    expect(() => new ShutdownCoordinator({ exit: 'yes' as unknown as boolean })).toThrow(TypeError);
    const c = new ShutdownCoordinator({ exit: false, log: false });
    expect(() => c.register({ name: '', close: () => {} })).toThrow(TypeError);
    c.close();
    c.close();
  });
});
