import { Worker } from 'node:worker_threads';
import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { Mutex } from '../src/mutex.js';
import { Semaphore } from '../src/semaphore.js';
import { CondVar } from '../src/condvar.js';
import { Barrier } from '../src/barrier.js';
import { RwLock } from '../src/rwlock.js';
import { Latch } from '../src/latch.js';

// Workers run plain Node and load the built package (`nx run @ipcx/shm:test` builds it first).
const fixture = new URL('./fixtures/sync-worker.mjs', import.meta.url);
const workers: Worker[] = [];

afterEach(async () => {
  await Promise.all(workers.splice(0).map((w) => w.terminate()));
});

/** Starts `count` workers running `scenario` and resolves with what each posted (or rejects on error). */
async function runWorkers<R = Record<string, number>>(
  count: number,
  data: (id: number) => Record<string, unknown>,
  ms = 30_000,
): Promise<R[]> {
  const results = Array.from({ length: count }, (_, id) => {
    const worker = new Worker(fixture, { workerData: { id, ...data(id) } });
    workers.push(worker);
    const message = once(worker, 'message').then(([m]) => m as R);
    const failed = once(worker, 'error').then(([e]) => Promise.reject(e as Error));
    const exited = once(worker, 'exit').then(([code]) =>
      Promise.reject(new Error(`worker ${id} exited (${code}) without a result`)),
    );
    return Promise.race([message, failed, exited]);
  });
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>(
    (_, reject) => (timer = setTimeout(() => reject(new Error(`workers not done within ${ms} ms`)), ms)),
  );
  try {
    return await Promise.race([Promise.all(results), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

describe('sync primitives under contention from real worker threads', () => {
  for (const mode of ['sync', 'async'] as const) {
    it(`Mutex (${mode}): 4 workers x 10 000 increments of a plain counter add up exactly`, async () => {
      const mutex = new Mutex();
      const counter = new SharedArrayBuffer(4);
      await runWorkers(4, () => ({
        scenario: 'mutexCounter',
        mode,
        iterations: 10_000,
        mutex: mutex.handle(),
        counter,
      }));
      expect(new Int32Array(counter)[0]).toBe(40_000);
      expect(mutex.tryLock()).toBeDefined();
    });
  }

  it('Semaphore: 4 workers never hold more than 2 permits at once, and every permit comes back', async () => {
    const sem = new Semaphore(2);
    const stats = new SharedArrayBuffer(8);
    await runWorkers(4, (id) => ({
      scenario: 'semaphore',
      mode: id % 2 ? 'sync' : 'async',
      iterations: 3000,
      semaphore: sem.handle(),
      stats,
    }));
    const [now, most] = new Int32Array(stats);
    expect(now).toBe(0);
    expect(most).toBeLessThanOrEqual(2);
    expect(most).toBeGreaterThanOrEqual(1);
    expect(sem.available).toBe(2);
  });

  it('RwLock: readers in 4 workers never see a half-written table', async () => {
    const rw = new RwLock();
    const slots = new SharedArrayBuffer(64 * 4);
    const results = await runWorkers<{ torn: number; reads: number }>(4, (id) => ({
      scenario: 'rwlock',
      mode: id < 2 ? 'sync' : 'async',
      iterations: 4000,
      rwlock: rw.handle(),
      slots,
    }));
    expect(results.reduce((n, r) => n + r.torn, 0)).toBe(0);
    expect(results.reduce((n, r) => n + r.reads, 0)).toBeGreaterThan(0);
    expect(rw.tryWrite()).toBeDefined();
  });

  it('Barrier: 4 workers pass 500 rounds together, one of them last in each', async () => {
    const barrier = new Barrier(4);
    const rounds = new SharedArrayBuffer(4 * 4);
    const results = await runWorkers<{ early: number; lasts: number }>(4, (id) => ({
      scenario: 'barrier',
      mode: id % 2 ? 'sync' : 'async',
      iterations: 500,
      barrier: barrier.handle(),
      rounds,
    }));
    expect(results.reduce((n, r) => n + r.early, 0)).toBe(0);
    expect(results.reduce((n, r) => n + r.lasts, 0)).toBe(500);
  });

  it('Latch: workers waiting on it see what was written before it opened', async () => {
    const latch = new Latch(1);
    const ready = new Latch(4);
    const data = new SharedArrayBuffer(4);
    const results = runWorkers<{ seen: number }>(4, (id) => ({
      scenario: 'latch',
      mode: id % 2 ? 'sync' : 'async',
      latch: latch.handle(),
      ready: ready.handle(),
      data,
    }));
    await ready.wait({ timeout: 10_000 });
    new Int32Array(data)[0] = 42; // a plain write, published by the count-down
    latch.countDown();
    expect((await results).map((r) => r.seen)).toEqual([42, 42, 42, 42]);
  });

  for (const mode of ['sync', 'async'] as const) {
    it(`CondVar (${mode}): a bounded queue between 2 producer and 2 consumer workers loses and duplicates nothing`, async () => {
      const buffer = new SharedArrayBuffer(Mutex.BYTES + 2 * CondVar.BYTES);
      const mutex = new Mutex(buffer, 0);
      const notEmpty = new CondVar(buffer, Mutex.BYTES);
      const notFull = new CondVar(buffer, Mutex.BYTES + CondVar.BYTES);
      const queue = new SharedArrayBuffer((3 + 4) * 4); // head, tail, consumed, 4 slots
      const perProducer = 2000;
      const results = await runWorkers<{ sum: number }>(4, () => ({
        scenario: 'condvar',
        mode,
        iterations: perProducer,
        total: 2 * perProducer,
        mutex: mutex.handle(),
        notEmpty: notEmpty.handle(),
        notFull: notFull.handle(),
        queue,
      }));
      const produced = results.filter((_, id) => id % 2 === 0).reduce((n, r) => n + r.sum, 0);
      const consumed = results.filter((_, id) => id % 2 === 1).reduce((n, r) => n + r.sum, 0);
      expect(produced).toBe(2 * ((perProducer * (perProducer + 1)) / 2));
      expect(consumed).toBe(produced);
      expect(new Int32Array(queue)[2]).toBe(2 * perProducer);
    });
  }

  it('a blocked lockSync in a worker times out with TimeoutError while the main thread holds the lock', async () => {
    const mutex = new Mutex();
    const guard = mutex.tryLock()!;
    const worker = new Worker(
      `const { workerData, parentPort } = require('node:worker_threads');
       import(workerData.url).then(({ Mutex }) => {
         try { Mutex.from(workerData.handle).lockSync({ timeout: 50 }); parentPort.postMessage('locked'); }
         catch (e) { parentPort.postMessage(e.code); }
       });`,
      { eval: true, workerData: { handle: mutex.handle(), url: import.meta.resolve('@ipcx/shm') } },
    );
    workers.push(worker);
    const [code] = await once(worker, 'message');
    guard.release();
    expect(code).toBe('IPCX_ERR_TIMEOUT');
  });
});
