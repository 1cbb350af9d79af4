import { getEventListeners } from 'node:events';
import { describe, expect, it } from 'vitest';
import { AbortedError, ClosedError, IncompatibleError, TimeoutError, UnsupportedError } from '@ipcx/core';
import { Mutex } from '../src/mutex.js';
import { Semaphore } from '../src/semaphore.js';
import { CondVar } from '../src/condvar.js';
import { Barrier } from '../src/barrier.js';
import { RwLock } from '../src/rwlock.js';
import { Latch } from '../src/latch.js';

/** Wakes whatever still sleeps on the words and returns how many did: 0 means no waiter leaked. */
function leakedWaiters(buffer: SharedArrayBuffer, byteOffset = 0, words = buffer.byteLength / 4): number {
  const i32 = new Int32Array(buffer, byteOffset, words);
  let woken = 0;
  for (let i = 0; i < words; i++) woken += Atomics.notify(i32, i);
  return woken;
}

/** Settles when `promise` settles, or fails the test after `ms`. */
function within<T>(promise: Promise<T>, ms = 2000): Promise<T> {
  return Promise.race([
    promise,
    new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`not settled within ${ms} ms`)), ms).unref()),
  ]);
}

const pending = (): Promise<'pending'> => new Promise((resolve) => setImmediate(() => resolve('pending')));

describe('Mutex', () => {
  it('excludes: tryLock fails while held and succeeds after release', () => {
    const mutex = new Mutex();
    const guard = mutex.tryLock();
    expect(guard).toBeDefined();
    expect(mutex.tryLock()).toBeUndefined();
    guard!.release();
    guard!.release(); // idempotent
    const again = mutex.tryLock();
    expect(again?.recovered).toBe(false);
    again!.release();
  });

  it('hands the lock to a waiting lock() when the holder releases, and works with await using', async () => {
    const mutex = new Mutex();
    const order: string[] = [];
    const first = await mutex.lock();
    const second = mutex.lock().then((g) => {
      order.push('second');
      return g;
    });
    expect(await Promise.race([second, pending()])).toBe('pending');
    order.push('release first');
    first.release();
    {
      await using g = await within(second);
      expect(g.released).toBe(false);
      expect(mutex.tryLock()).toBeUndefined();
    }
    expect(order).toEqual(['release first', 'second']);
    expect(mutex.tryLock()).toBeDefined();
  });

  it('rejects with TimeoutError after the timeout and leaves no waiter behind', async () => {
    const buffer = new SharedArrayBuffer(Mutex.BYTES);
    const mutex = new Mutex(buffer, 0);
    const guard = mutex.tryLock()!;
    const started = performance.now();
    await expect(mutex.lock({ timeout: 30 })).rejects.toBeInstanceOf(TimeoutError);
    expect(performance.now() - started).toBeGreaterThanOrEqual(25);
    guard.release();
    expect(leakedWaiters(buffer)).toBe(0);
    expect(new Int32Array(buffer)[0]).toBe(0);
  });

  it('rejects with AbortedError (reason as cause) when the signal fires, and with an already aborted signal', async () => {
    const buffer = new SharedArrayBuffer(Mutex.BYTES);
    const mutex = new Mutex(buffer);
    const guard = mutex.tryLock()!;
    const controller = new AbortController();
    const waiting = mutex.lock({ signal: controller.signal });
    const bystander = mutex.lock({ timeout: 5000 });
    await pending();
    controller.abort(new Error('stop'));
    const error = await within(waiting).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AbortedError);
    expect((error as AbortedError).cause).toEqual(new Error('stop'));
    await expect(mutex.lock({ signal: AbortSignal.abort() })).rejects.toBeInstanceOf(AbortedError);
    // The bystander woken by the abort went back to sleep and still gets the lock.
    guard.release();
    (await within(bystander)).release();
    expect(leakedWaiters(buffer)).toBe(0);
    expect(mutex.tryLock()).toBeDefined();
  });

  it('rejects pending lock() calls with ClosedError on close, and later calls throw it', async () => {
    const mutex = new Mutex();
    const guard = mutex.tryLock()!;
    const waiting = mutex.lock();
    await pending();
    await mutex.close();
    await expect(within(waiting)).rejects.toBeInstanceOf(ClosedError);
    expect(() => mutex.tryLock()).toThrow(ClosedError);
    await expect(mutex.lock()).rejects.toBeInstanceOf(ClosedError);
    guard.release();
  });

  it('refuses the blocking form on the main thread', () => {
    expect(() => new Mutex().lockSync()).toThrow(UnsupportedError);
  });

  it('lives at an offset of caller memory next to other primitives, and travels as a handle', () => {
    const buffer = new SharedArrayBuffer(64);
    const a = new Mutex(buffer, 8);
    const b = Mutex.from(a.handle());
    const other = new Mutex(buffer, 12);
    const g = a.tryLock()!;
    expect(b.tryLock()).toBeUndefined();
    expect(new Int32Array(buffer)[2]).toBe(process.pid);
    expect(other.tryLock()).toBeDefined();
    g.release();
    expect(() => new Mutex(buffer, 6)).toThrow(RangeError);
    expect(() => new Mutex(buffer, 64)).toThrow(RangeError);
    expect(() => new Mutex(new ArrayBuffer(4) as unknown as SharedArrayBuffer)).toThrow(TypeError);
    expect(() => Semaphore.from(a.handle())).toThrow(IncompatibleError);
  });

  it('validates timeouts', async () => {
    const mutex = new Mutex();
    await expect(mutex.lock({ timeout: -1 })).rejects.toBeInstanceOf(TypeError);
    await expect(mutex.lock({ timeout: Number.NaN })).rejects.toBeInstanceOf(TypeError);
  });
});

describe('Semaphore', () => {
  it('hands out exactly its permits and wakes one waiter per release', async () => {
    const buffer = new SharedArrayBuffer(Semaphore.BYTES);
    const sem = new Semaphore(buffer);
    sem.release(2);
    const a = await sem.acquire();
    const b = sem.tryAcquire()!;
    expect(sem.tryAcquire()).toBeUndefined();
    const c = sem.acquire();
    const d = sem.acquire();
    expect(await Promise.race([c, pending()])).toBe('pending');
    a.release();
    const gc = await within(c);
    expect(await Promise.race([d, pending()])).toBe('pending');
    b.release();
    const gd = await within(d);
    expect(sem.available).toBe(0);
    gc.release();
    gd.release();
    expect(sem.available).toBe(2);
    expect(new Int32Array(buffer)[1]).toBe(0); // no registered sleeper left
    expect(leakedWaiters(buffer)).toBe(0);
  });

  it('times out and aborts without losing a permit or leaving a waiter', async () => {
    const buffer = new SharedArrayBuffer(Semaphore.BYTES);
    const sem = new Semaphore(buffer);
    await expect(sem.acquire({ timeout: 10 })).rejects.toBeInstanceOf(TimeoutError);
    const controller = new AbortController();
    const aborted = sem.acquire({ signal: controller.signal });
    const kept = sem.acquire({ timeout: 5000 });
    await pending();
    controller.abort();
    await expect(within(aborted)).rejects.toBeInstanceOf(AbortedError);
    sem.release();
    (await within(kept)).release();
    expect(sem.available).toBe(1);
    expect(new Int32Array(buffer)[1]).toBe(0);
    expect(leakedWaiters(buffer)).toBe(0);
  });

  it('many waits, with and without a long-lived signal, leave no listener behind and raise no warning', async () => {
    const buffer = new SharedArrayBuffer(Semaphore.BYTES);
    const sem = new Semaphore(buffer);
    const shutdown = new AbortController();
    const warnings: Error[] = [];
    const onWarning = (warning: Error): number => warnings.push(warning);
    process.on('warning', onWarning);
    try {
      for (let round = 0; round < 3; round++) {
        // 12 at once without a signal (each wait's cancel is its own), then 8 with the app's shutdown signal.
        const waits = [
          ...Array.from({ length: 12 }, () => sem.acquire()),
          ...Array.from({ length: 8 }, () => sem.acquire({ signal: shutdown.signal })),
        ];
        await pending();
        sem.release(waits.length);
        await within(Promise.all(waits)); // each keeps its permit: the next round waits again
        expect(getEventListeners(shutdown.signal, 'abort')).toHaveLength(0);
      }
      await new Promise((resolve) => setImmediate(resolve)); // warnings are emitted on the next tick
      expect(warnings.map((w) => w.message)).toEqual([]);
    } finally {
      process.off('warning', onWarning);
    }
    expect(sem.available).toBe(0);
    expect(leakedWaiters(buffer)).toBe(0);
  });

  it('validates counts', () => {
    expect(() => new Semaphore(-1)).toThrow(RangeError);
    expect(() => new Semaphore(1).release(0)).toThrow(RangeError);
    expect(() => new Semaphore(0x7fffffff).release()).toThrow(expect.objectContaining({ code: 'IPCX_ERR_LIMIT' }));
    expect(() => new Semaphore().acquireSync()).toThrow(UnsupportedError);
  });
});

describe('CondVar', () => {
  it('wakes a waiter on signal, which then holds the mutex again', async () => {
    const mutex = new Mutex();
    const cv = new CondVar();
    let ready = false;
    const consumer = (async () => {
      const guard = await mutex.lock();
      try {
        while (!ready) await cv.wait(guard, { timeout: 5000 });
        expect(mutex.tryLock()).toBeUndefined(); // held again
        return 'consumed';
      } finally {
        guard.release();
      }
    })();
    await pending();
    {
      await using _guard = await mutex.lock();
      ready = true;
      cv.signal();
    }
    expect(await within(consumer)).toBe('consumed');
    expect(mutex.tryLock()).toBeDefined();
  });

  it('broadcast wakes every waiter; signal wakes one', async () => {
    const buffer = new SharedArrayBuffer(Mutex.BYTES + CondVar.BYTES);
    const mutex = new Mutex(buffer, 0);
    const cv = new CondVar(buffer, Mutex.BYTES);
    let woken = 0;
    const waiters = Array.from({ length: 3 }, async () => {
      await using guard = await mutex.lock();
      await cv.wait(guard, { timeout: 5000 });
      woken++;
    });
    await pending();
    await pending();
    cv.signal();
    await within(
      (async () => {
        while (woken < 1) await pending();
      })(),
    );
    expect(woken).toBe(1);
    cv.broadcast();
    await within(Promise.all(waiters));
    expect(woken).toBe(3);
    expect(new Int32Array(buffer)[2]).toBe(0);
    expect(leakedWaiters(buffer)).toBe(0);
  });

  it('retakes the mutex before it rejects on timeout or abort', async () => {
    const mutex = new Mutex();
    const cv = new CondVar();
    const guard = await mutex.lock();
    await expect(cv.wait(guard, { timeout: 10 })).rejects.toBeInstanceOf(TimeoutError);
    expect(mutex.tryLock()).toBeUndefined();
    const controller = new AbortController();
    const waiting = cv.wait(guard, { signal: controller.signal });
    await pending();
    const free = mutex.tryLock(); // released while waiting
    expect(free).toBeDefined();
    free!.release();
    controller.abort();
    await expect(within(waiting)).rejects.toBeInstanceOf(AbortedError);
    expect(mutex.tryLock()).toBeUndefined();
    guard.release();
    await expect(cv.wait(guard)).rejects.toBeInstanceOf(TypeError);
  });
});

describe('Barrier', () => {
  it('releases a round when the last party arrives, exactly one of them as the last, and is reusable', async () => {
    const barrier = new Barrier(3);
    for (let round = 0; round < 3; round++) {
      const a = barrier.wait();
      const b = barrier.wait();
      expect(await Promise.race([a, pending()])).toBe('pending');
      expect(barrier.waiting).toBe(2);
      const c = barrier.wait();
      expect(await within(Promise.all([a, b, c]))).toEqual([false, false, true]);
      expect(barrier.waiting).toBe(0);
    }
  });

  it('withdraws the arrival of a waiter that times out or is aborted', async () => {
    const buffer = new SharedArrayBuffer(Barrier.BYTES);
    const barrier = new Barrier(buffer, 0, 2);
    await expect(barrier.wait({ timeout: 10 })).rejects.toBeInstanceOf(TimeoutError);
    expect(barrier.waiting).toBe(0);
    await expect(barrier.wait({ signal: AbortSignal.timeout(10) })).rejects.toBeInstanceOf(AbortedError);
    expect(barrier.waiting).toBe(0);
    const a = barrier.wait({ timeout: 5000 });
    await pending();
    expect(await within(Promise.all([a, barrier.wait()]))).toEqual([false, true]);
    expect(leakedWaiters(buffer)).toBe(0);
  });

  it('is sized once: later constructors may omit or must repeat the number of parties', () => {
    const buffer = new SharedArrayBuffer(16);
    expect(() => new Barrier(buffer, 8)).toThrow(TypeError);
    const b = new Barrier(buffer, 8, 4);
    expect(new Barrier(buffer, 8).parties).toBe(4);
    expect(() => new Barrier(buffer, 8, 5)).toThrow(RangeError);
    expect(Barrier.from(b.handle()).parties).toBe(4);
    expect(() => new Barrier(0)).toThrow(RangeError);
  });
});

describe('RwLock', () => {
  it('shares between readers and excludes a writer', async () => {
    const rw = new RwLock();
    const r1 = await rw.read();
    const r2 = rw.tryRead()!;
    expect(rw.tryWrite()).toBeUndefined();
    const w = rw.write();
    expect(await Promise.race([w, pending()])).toBe('pending');
    // A writer waits: new readers queue behind it.
    expect(rw.tryRead()).toBeUndefined();
    const r3 = rw.read();
    r1.release();
    expect(await Promise.race([w, pending()])).toBe('pending');
    r2.release();
    const wg = await within(w);
    expect(await Promise.race([r3, pending()])).toBe('pending');
    wg.release();
    (await within(r3)).release();
    expect(rw.tryWrite()).toBeDefined();
  });

  it('lets readers in again when the only waiting writer gives up', async () => {
    const buffer = new SharedArrayBuffer(RwLock.BYTES);
    const rw = new RwLock(buffer);
    const r1 = rw.tryRead()!;
    const controller = new AbortController();
    const w = rw.write({ signal: controller.signal });
    await pending();
    const r2 = rw.read({ timeout: 5000 });
    await pending();
    controller.abort();
    await expect(within(w)).rejects.toBeInstanceOf(AbortedError);
    (await within(r2)).release();
    await expect(rw.write({ timeout: 10 })).rejects.toBeInstanceOf(TimeoutError);
    r1.release();
    const words = new Int32Array(buffer);
    expect([words[0], words[1], words[3]]).toEqual([0, 0, 0]);
    expect(leakedWaiters(buffer)).toBe(0);
  });
});

describe('Latch', () => {
  it('opens after count count-downs and stays open', async () => {
    const buffer = new SharedArrayBuffer(Latch.BYTES);
    const latch = new Latch(buffer, 0, 3);
    const waiting = latch.wait();
    latch.countDown();
    latch.countDown();
    expect(latch.count).toBe(1);
    expect(await Promise.race([waiting, pending()])).toBe('pending');
    latch.countDown();
    await within(waiting);
    expect(latch.open).toBe(true);
    latch.countDown(5);
    expect(latch.count).toBe(0);
    await within(latch.wait());
    expect(new Latch(buffer, 0, 7).open).toBe(true); // sized once
    expect(new Latch(0).open).toBe(true);
    expect(leakedWaiters(buffer)).toBe(0);
  });

  it('times out and aborts its waits', async () => {
    const buffer = new SharedArrayBuffer(Latch.BYTES);
    const latch = new Latch(buffer, 0, 1);
    await expect(latch.wait({ timeout: 10 })).rejects.toBeInstanceOf(TimeoutError);
    await expect(latch.wait({ signal: AbortSignal.timeout(10) })).rejects.toBeInstanceOf(AbortedError);
    expect(leakedWaiters(buffer)).toBe(0);
    expect(() => new Latch(new SharedArrayBuffer(4))).toThrow(TypeError);
  });
});
