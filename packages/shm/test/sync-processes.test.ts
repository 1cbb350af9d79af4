import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { AlreadyExistsError, IncompatibleError, NotFoundError, UnsupportedError } from '@ipcx/core';
import { futex, shm } from '@ipcx/native';
import { Mutex } from '../src/mutex.js';
import { Semaphore } from '../src/semaphore.js';
import { CondVar } from '../src/condvar.js';
import { Barrier } from '../src/barrier.js';
import { RwLock } from '../src/rwlock.js';
import { Latch } from '../src/latch.js';
import { killAll, segmentExists, uniqueName } from './helpers.js';
import { within } from '@ipcx/core/testing';

// Children run plain Node and load the built package (`nx run @ipcx/shm:test` builds it first).
const fixture = new URL('./fixtures/sync-process.mjs', import.meta.url).pathname;
const children: ChildProcess[] = [];
const names: string[] = [];

function name(what: string): string {
  const n = uniqueName(`sync-${what}`);
  names.push(n);
  return n;
}

/** A plain segment for the data the primitives guard (counters, tables, a queue). */
function memory(what: string, bytes = 4096): { name: string; i32: Int32Array } {
  const n = name(what);
  return { name: n, i32: new Int32Array(shm.open(n, { create: true, exclusive: true, size: bytes }).buffer) };
}

afterEach(async () => {
  await killAll(children);
  for (const n of names.splice(0)) {
    try {
      shm.unlink(n);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }
});

interface Child {
  readonly process: ChildProcess;
  /** The first line starting with "ready" (rest of the line). */
  readonly ready: Promise<string>;
  /** The parsed "result" line, once the child exited with 0. */
  readonly result: Promise<Record<string, number | boolean>>;
}

/** Spawns the fixture with `args`; rejects `ready` / `result` if it exits first or fails. */
function child(args: Record<string, unknown>): Child {
  const proc = spawn(process.execPath, [fixture, JSON.stringify(args)], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(proc);
  let out = '';
  let onLine: ((line: string) => void)[] = [];
  proc.stdout!.on('data', (chunk: Buffer) => {
    out += chunk.toString();
    let nl: number;
    while ((nl = out.indexOf('\n')) !== -1) {
      const line = out.slice(0, nl);
      out = out.slice(nl + 1);
      for (const f of onLine) f(line);
    }
  });
  const exited = once(proc, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  const line = (prefix: string): Promise<string> =>
    new Promise((resolve, reject) => {
      onLine.push((l) => l.startsWith(prefix) && resolve(l.slice(prefix.length).trim()));
      void exited.then(([code, signal]) =>
        reject(new Error(`${String(args.scenario)} child exited (${code ?? signal}) before "${prefix}"`)),
      );
    });
  const ready = line('ready');
  const result = line('result').then(async (json) => {
    const [code] = await exited;
    if (code !== 0) throw new Error(`child exited with ${code}`);
    onLine = [];
    return JSON.parse(json) as Record<string, number | boolean>;
  });
  ready.catch(() => {});
  result.catch(() => {});
  return { process: proc, ready, result };
}

/** Starts `count` children of one scenario behind a named "start" latch, so they contend from the first iteration. */
async function race(
  count: number,
  args: (id: number) => Record<string, unknown>,
): Promise<Record<string, number | boolean>[]> {
  const startName = name('start');
  const start = await Latch.create(startName, { count: 1 });
  try {
    const kids = Array.from({ length: count }, (_, id) => child({ id, start: startName, ...args(id) }));
    await within(Promise.all(kids.map((k) => k.ready)), 15_000, 'children ready');
    start.countDown();
    return await within(Promise.all(kids.map((k) => k.result)), 30_000, 'children done');
  } finally {
    await start.close();
  }
}

describe('named sync primitives between processes', () => {
  it('Mutex: 3 processes (async, blocking in a worker, async) x 3000 increments of a plain counter add up exactly', async () => {
    const n = name('mutex');
    const mutex = await Mutex.create(n);
    const counter = memory('counter');
    await race(3, (id) => ({
      scenario: 'mutexCounter',
      mode: id === 1 ? 'sync' : 'async',
      name: n,
      memory: counter.name,
      iterations: 3000,
    }));
    expect(counter.i32[0]).toBe(9000);
    expect(mutex.tryLock()).toBeDefined();
    await mutex.close();
    expect(segmentExists(n)).toBe(false);
  });

  it('Mutex: a holder killed with SIGKILL is taken over by a waiting process, which learns it (recovered)', async () => {
    const n = name('mutex-kill');
    const mutex = await Mutex.create(n, { peerCheckInterval: 50 });
    try {
      const holder = child({ scenario: 'mutexHold', name: n, mode: 'async' });
      expect(await within(holder.ready, 10_000, 'holder')).toBe('false');
      const taker = child({ scenario: 'mutexTake', name: n, mode: 'sync' }); // lockSync in a worker of another process
      await within(taker.ready, 10_000, 'taker');
      expect(mutex.tryLock()).toBeUndefined();
      const exited = once(holder.process, 'exit');
      holder.process.kill('SIGKILL');
      await exited;
      const result = await within(taker.result, 5000, 'recovery');
      expect(result.recovered).toBe(true);
      // Taken over within a few owner-check intervals, not at the 10 s timeout.
      expect(result.ms).toBeLessThan(3000);
      // Released by the taker: plain again for everyone.
      const guard = mutex.tryLock();
      expect(guard?.recovered).toBe(false);
      guard?.release();
    } finally {
      await mutex.close();
    }
  });

  it('Mutex: this process recovers a lock whose holder died before it even asked (lock and tryLock)', async () => {
    const n = name('mutex-dead');
    const mutex = await Mutex.create(n, { peerCheckInterval: 50 });
    try {
      for (const how of ['lock', 'tryLock'] as const) {
        const holder = child({ scenario: 'mutexHold', name: n, mode: how === 'lock' ? 'sync' : 'async' });
        await within(holder.ready, 10_000, 'holder');
        const exited = once(holder.process, 'exit');
        holder.process.kill('SIGKILL');
        await exited;
        const guard = how === 'lock' ? await mutex.lock({ timeout: 3000 }) : mutex.tryLock();
        expect(guard?.recovered).toBe(true);
        guard?.release();
      }
      // Nobody left asleep on the word.
      const word = new Int32Array(shm.open(n).buffer, 64, 1);
      expect(futex.notify(word, 0)).toBe(0);
    } finally {
      await mutex.close();
    }
  });

  it('Semaphore: 3 processes never hold more than 2 permits at once, and every permit comes back', async () => {
    const n = name('sem');
    const sem = await Semaphore.create(n, { permits: 2 });
    const stats = memory('stats');
    await race(3, (id) => ({
      scenario: 'semaphore',
      mode: id === 1 ? 'sync' : 'async',
      name: n,
      memory: stats.name,
      iterations: 1500,
    }));
    expect(stats.i32[0]).toBe(0);
    expect(stats.i32[1]).toBeLessThanOrEqual(2);
    expect(sem.available).toBe(2);
    await sem.close();
  });

  it('RwLock: readers in 3 processes never see a half-written table', async () => {
    const n = name('rw');
    const rw = await RwLock.create(n);
    const slots = memory('slots');
    const results = await race(3, (id) => ({
      scenario: 'rwlock',
      mode: id === 1 ? 'sync' : 'async',
      name: n,
      memory: slots.name,
      iterations: 1500,
    }));
    expect(results.map((r) => r.torn)).toEqual([0, 0, 0]);
    expect(rw.tryWrite()).toBeDefined();
    await rw.close();
  });

  it('Barrier: 3 processes pass 200 rounds together, one of them last in each', async () => {
    const n = name('barrier');
    const barrier = await Barrier.create(n, { parties: 3 });
    const rounds = memory('rounds');
    const kids = Array.from({ length: 3 }, (_, id) =>
      child({
        scenario: 'barrier',
        mode: id === 1 ? 'sync' : 'async',
        id,
        name: n,
        memory: rounds.name,
        iterations: 200,
      }),
    );
    const results = await within(Promise.all(kids.map((k) => k.result)), 30_000, 'barrier rounds');
    expect(results.reduce((s, r) => s + (r.early as number), 0)).toBe(0);
    expect(results.reduce((s, r) => s + (r.lasts as number), 0)).toBe(200);
    await barrier.close();
  });

  it('Latch: opens when 3 processes counted down, and lets them all through a second one', async () => {
    const arrived = await Latch.create(name('latch'), { count: 3 });
    const go = await Latch.create(name('go'), { count: 1 });
    const kids = Array.from({ length: 3 }, (_, id) =>
      child({ scenario: 'latch', mode: id === 1 ? 'sync' : 'async', name: names.at(-2), go: names.at(-1) }),
    );
    await within(arrived.wait(), 15_000, 'three count-downs');
    expect(arrived.count).toBe(0);
    go.countDown();
    expect((await within(Promise.all(kids.map((k) => k.result)), 10_000, 'go')).map((r) => r.open)).toEqual([
      true,
      true,
      true,
    ]);
    await arrived.close();
    await go.close();
  });

  it('CondVar: a bounded queue between producer and consumer processes loses and duplicates nothing', async () => {
    const n = name('cv-mutex');
    const mutex = await Mutex.create(n);
    const notEmpty = await CondVar.create(name('cv-not-empty'));
    const notFull = await CondVar.create(name('cv-not-full'));
    const queue = memory('queue');
    const perProducer = 1000;
    const results = await race(4, (id) => ({
      scenario: 'condvar',
      mode: id < 2 ? 'sync' : 'async',
      name: n,
      notEmpty: names[1],
      notFull: names[2],
      memory: queue.name,
      iterations: perProducer,
      total: 2 * perProducer,
    }));
    const produced = (results[0]!.sum as number) + (results[2]!.sum as number);
    const consumed = (results[1]!.sum as number) + (results[3]!.sum as number);
    expect(produced).toBe(perProducer * (perProducer + 1));
    expect(consumed).toBe(produced);
    for (const o of [mutex, notEmpty, notFull]) await o.close();
  });

  it('refuses what it cannot do: missing, wrong kind, live duplicate, handles of named objects', async () => {
    const n = name('refuse');
    await expect(Mutex.open(n)).rejects.toBeInstanceOf(NotFoundError);
    const sem = await Semaphore.create(n, { permits: 1 });
    await expect(Mutex.open(n)).rejects.toBeInstanceOf(IncompatibleError);
    await expect(Semaphore.create(n)).rejects.toBeInstanceOf(AlreadyExistsError);
    expect(() => sem.handle()).toThrow(UnsupportedError);
    const other = await Semaphore.open(n);
    expect(other.tryAcquire()).toBeDefined();
    expect(sem.available).toBe(0);
    await other.close();
    expect(segmentExists(n)).toBe(true); // only the creator unlinks
    await sem.close();
    expect(segmentExists(n)).toBe(false);
    await expect(Mutex.create(n, { peerCheckInterval: 0 })).rejects.toBeInstanceOf(RangeError);
  });
});
