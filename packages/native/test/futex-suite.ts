// The futex tests, run by futex.test.ts (waits through io_uring where the kernel has it) and by
// futex-threads.test.ts (IPCX_FUTEX_WAITER=thread: waiter threads), each in a process of its own.
import { readFileSync } from 'node:fs';
import { release } from 'node:os';
import { setImmediate as tick } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';

import { native } from '../src/binding.js';
import { futex, shm } from '../src/index.js';
import { defer, fixture, ignoring, succeeds, uniqueName, within } from './helpers.js';

function word(): Int32Array {
  return new Int32Array(new SharedArrayBuffer(16));
}

async function pendingWaits(): Promise<number> {
  return native.waiterStats()[2];
}

/** Notifies word 0 until that woke a waiter or `settled()` (a waiter may not be queued in the kernel yet). */
function notifyUntilWoken(i32: Int32Array, settled: () => boolean, what = 'notify'): Promise<void> {
  return within(
    (async () => {
      while (!settled() && futex.notify(i32, 0) === 0) await tick();
    })(),
    10_000,
    what,
  );
}

/**
 * Whether this machine lets futex waits go through io_uring: Linux 6.7 or later (IORING_OP_FUTEX_WAIT) with
 * io_uring enabled. A sandbox that filters the syscalls (seccomp) would also turn it off, and fail this check.
 */
function ringExpected(): boolean {
  const [major = 0, minor = 0] = release().split('.').map(Number);
  let disabled = '0';
  try {
    disabled = readFileSync('/proc/sys/kernel/io_uring_disabled', 'utf8').trim();
  } catch {}
  return (major > 6 || (major === 6 && minor >= 7)) && disabled === '0';
}

export function futexSuite(mode: 'ring' | 'thread'): void {
  describe(`futex (waitAsync on ${mode === 'ring' ? "the event loop's io_uring where the kernel has it" : 'waiter threads'})`, () => {
    it(
      mode === 'ring' ? 'waits through io_uring where the kernel has futex waits on it' : 'waits on waiter threads',
      async () => {
        const i32 = word();
        expect(await futex.waitAsync(i32, 0, 0, 1)).toBe('timed-out');
        const [, , pending, ring] = native.waiterStats();
        expect(pending).toBe(0);
        if (mode === 'thread') expect(ring).toBe(0);
        else if (ringExpected())
          expect(ring, 'Linux >= 6.7 with io_uring enabled, but futex waits use threads').toBe(1);
      },
    );

    it('gives a new wait no id still in use when the 32-bit wait ids wrap', async () => {
      const i32 = word();
      const controller = new AbortController();
      // The long wait takes id 2^32 - 1; after 2^32 more waits (reached here by setting the next id), the ids
      // come round to it while it still waits.
      native.setNextWaitId(0xffff_ffff);
      const long = futex.waitAsync(i32, 0, 0, undefined, { signal: controller.signal });
      long.catch(() => undefined);
      defer(() => {
        controller.abort(); // should the test fail before its own abort
        futex.notify(i32, 0); // and should that abort not reach the wait (the bug this test looks for)
      });
      native.setNextWaitId(0xffff_ffff);
      const results = [];
      for (let i = 0; i < 3; i++) results.push(await futex.waitAsync(i32, 1, 0, 1));
      expect(results).toEqual(['timed-out', 'timed-out', 'timed-out']);
      expect(await pendingWaits()).toBe(1);
      controller.abort(); // reaches the long wait: its id was not given to another
      await expect(within(long, 5000, 'the long wait, aborted')).rejects.toMatchObject({ name: 'AbortError' });
      expect(await pendingWaits()).toBe(0);
    });

    it('returns not-equal at once when the word differs and timed-out after the timeout', () => {
      const i32 = word();
      i32[0] = 7;
      expect(futex.wait(i32, 0, 6, 1000)).toBe('not-equal');
      const t0 = performance.now();
      expect(futex.wait(i32, 0, 7, 30)).toBe('timed-out');
      expect(performance.now() - t0).toBeGreaterThanOrEqual(29);
    });

    it('resolves waitAsync on notify while the event loop keeps serving timers', async () => {
      const i32 = word();
      let ticks = 0;
      const interval = setInterval(() => ticks++, 1);
      defer(() => clearInterval(interval));
      let settled = false;
      const waiting = futex.waitAsync(i32, 0, 0, 10_000).finally(() => (settled = true));
      // The loop is free: timers fire while the wait is pending.
      await within(
        (async () => {
          while (ticks < 5) await new Promise((r) => setTimeout(r, 1));
        })(),
        5000,
        'timers while waiting',
      );
      expect(settled).toBe(false);
      // A waiter may not be queued in the kernel yet; notify reports how many it woke.
      Atomics.store(i32, 0, 1);
      await notifyUntilWoken(i32, () => settled, 'notify');
      expect(await within(waiting, 5000, 'waitAsync')).toBe('ok');
      expect(ticks).toBeGreaterThanOrEqual(5);
      expect(await pendingWaits()).toBe(0);
    });

    it('resolves waitAsync with timed-out after its timeout, and not-equal without a thread', async () => {
      const i32 = word();
      expect(await within(futex.waitAsync(i32, 0, 0, 20), 5000, 'timeout')).toBe('timed-out');
      expect(await futex.waitAsync(i32, 0, 1)).toBe('not-equal');
      expect(await futex.waitAsync(i32, 0, 0, 0)).toBe('timed-out');
    });

    it('wakes nobody with a count of 0 (like Atomics.notify), and refuses a value that is not an int32', async () => {
      const i32 = word();
      const waiting = futex.waitAsync(i32, 0, 0, 10_000);
      let woken = 0;
      // Once the waiter sleeps in the kernel a notify of 1 wakes it; before that, notify 0 must never.
      while (woken === 0) {
        expect(futex.notify(i32, 0, 0)).toBe(0);
        await tick();
        woken = futex.notify(i32, 0, 1);
      }
      expect(await within(waiting, 5000, 'woken')).toBe('ok');
      for (const value of [2 ** 31, -(2 ** 31) - 1, 1.5, undefined as unknown as number]) {
        expect(() => futex.wait(i32, 0, value, 0)).toThrow(
          expect.objectContaining({ code: expect.stringMatching(/^ERR_/) }),
        );
      }
    });

    it('wakes many async waiters with one notify', async () => {
      const i32 = word();
      // More than the 64 completions the ring holds at once: the rest wait in the kernel's overflow list.
      const n = 150;
      const waits = Array.from({ length: n }, () => futex.waitAsync(i32, 0, 0, 10_000));
      let woken = 0;
      await within(
        (async () => {
          while (woken < n) {
            woken += futex.notify(i32, 0);
            if (woken < n) await tick();
          }
        })(),
        5000,
        'all waiters queued',
      );
      expect(await within(Promise.all(waits), 5000, 'all woken')).toEqual(Array(n).fill('ok'));
    });

    it('rejects waitAsync with the abort reason and frees the waiter', async () => {
      const i32 = word();
      const ac = new AbortController();
      const waiting = futex.waitAsync(i32, 0, 0, undefined, { signal: ac.signal });
      ac.abort(new Error('stop'));
      await expect(within(waiting, 5000, 'abort')).rejects.toThrow('stop');
      expect(await pendingWaits()).toBe(0);
      expect(futex.notify(i32, 0)).toBe(0);
    });

    it("wakes a worker thread's wait from the main thread, and survives a worker ended while it waits", async () => {
      const { Worker } = await import('node:worker_threads');
      const buffer = new SharedArrayBuffer(16);
      const i32 = new Int32Array(buffer);
      const start = (timeout?: number) => {
        const worker = new Worker(new URL('./fixtures/futex-worker.mjs', import.meta.url), {
          workerData: { buffer, timeout },
        });
        defer(async () => {
          await worker.terminate();
        });
        const messages: unknown[] = [];
        let waiter: ((m: unknown) => void) | undefined;
        worker.on('message', (m) => {
          if (waiter) {
            const w = waiter;
            waiter = undefined;
            w(m);
          } else messages.push(m);
        });
        const next = () =>
          messages.length > 0
            ? Promise.resolve(messages.shift())
            : new Promise<unknown>((resolve, reject) => {
                waiter = resolve;
                worker.once('error', reject);
              });
        return { worker, next: () => within(next(), 10_000, 'worker message') };
      };
      const woken = start();
      expect(await woken.next()).toBe('waiting');
      let settled = false;
      const result = woken.next().then((r) => ((settled = true), r));
      await notifyUntilWoken(i32, () => settled, 'notify the worker');
      expect(await result).toBe('ok');
      // A worker that ends while its wait is queued: its environment closes the wait (and its ring).
      const ended = start();
      expect(await ended.next()).toBe('waiting');
      await within(ended.worker.terminate(), 10_000, 'terminate');
      const timed = start(20);
      expect(await timed.next()).toBe('waiting');
      expect(await timed.next()).toBe('timed-out');
      expect(await pendingWaits()).toBe(0);
    });

    it('waits for a notify when the timeout is longer than a century (no overflowing deadline)', async () => {
      const i32 = word();
      let settled = false;
      const waiting = futex.waitAsync(i32, 0, 0, 1e300).finally(() => (settled = true));
      await notifyUntilWoken(i32, () => settled, 'notify');
      expect(await within(waiting, 5000, 'woken')).toBe('ok');
    });

    it('validates the array and index', () => {
      expect(() => futex.wait(new Int32Array(4), 0, 0, 0)).toThrow(TypeError);
      expect(() => futex.notify(word(), 4)).toThrow(RangeError);
    });

    describe('across processes on a shared segment', () => {
      function segment() {
        const name = `/${uniqueName('futex')}`;
        const seg = shm.open(name, { create: true, exclusive: true, size: 64 });
        defer(() => ignoring(['ENOENT'], () => shm.unlink(name)));
        return seg;
      }

      it('wakes a waiter blocked in another process', async () => {
        const seg = segment();
        const i32 = new Int32Array(seg.buffer);
        const peer = fixture('futex-peer.mjs', [seg.name, 'wait']);
        await within(
          peer.line((l) => l === 'waiting'),
          10_000,
          'peer waiting',
        );
        let woken = 0;
        await within(
          (async () => {
            while ((woken = futex.notify(i32, 0, 1)) === 0) await tick();
          })(),
          10_000,
          'peer queued',
        );
        expect(woken).toBe(1);
        expect(await succeeds(peer, 10_000, 'peer')).toContain('result ok');
      });

      it('is woken by another process', async () => {
        const seg = segment();
        const i32 = new Int32Array(seg.buffer);
        const waiting = futex.waitAsync(i32, 0, 0, 10_000);
        const peer = fixture('futex-peer.mjs', [seg.name, 'wake']);
        expect(await within(waiting, 10_000, 'woken by peer')).toBe('ok');
        expect(await succeeds(peer, 10_000, 'peer')).toContain('woken 1');
      });
    });

    it('keeps the buffer of a pending waitAsync mapped though the caller dropped it, and releases it after', async () => {
      const name = `/${uniqueName('keepalive')}`;
      shm.open(name, { create: true, exclusive: true, size: 4096 });
      defer(() => ignoring(['ENOENT'], () => shm.unlink(name)));
      const out = await succeeds(fixture('futex-keepalive.mjs', [name], ['--expose-gc']), 15_000, 'keepalive fixture');
      // While waiting, the waiter's mapping survives GC (only the pending wait holds it); after the wake
      // only the mapping used to notify is left.
      expect(JSON.parse(out)).toEqual({ whileWaiting: 1, result: 'ok', afterWake: 1 });
    });
  });
}
