// Before the addon's first futex wait in this process (each test file runs in a process of its own): every
// futex wait of this file runs on a native waiter thread, as on kernels before 6.7 or without io_uring.
process.env.IPCX_FUTEX_WAITER = 'thread';

import { afterEach, describe, expect, it } from 'vitest';
import { AbortedError, ClosedError } from '@ipcx/core';
import { Barrier, Latch, RwLock, Semaphore, SharedState } from '@ipcx/shm';
import { segmentExists, uniqueName } from './helpers.js';

interface Closable {
  destroy(): void;
}

const made: { name: string; object: Closable }[] = [];
afterEach(async () => {
  for (const { name, object } of made.splice(0)) {
    object.destroy();
    await Semaphore.unlink(name).catch(() => {});
  }
});

/** A named object and a wait on it that cannot end on its own. */
type Start = (name: string, options: { signal?: AbortSignal }) => Promise<{ object: Closable; wait: Promise<unknown> }>;

const waits: Record<string, Start> = {
  'Semaphore.acquire': async (name, options) => {
    const object = await Semaphore.create(name);
    return { object, wait: object.acquire(options) };
  },
  'Latch.wait': async (name, options) => {
    const object = await Latch.create(name, { count: 1 });
    return { object, wait: object.wait(options) };
  },
  'Barrier.wait': async (name, options) => {
    const object = await Barrier.create(name, { parties: 2 });
    return { object, wait: object.wait(options) };
  },
  'RwLock.read': async (name, options) => {
    const object = await RwLock.create(name);
    object.tryWrite();
    return { object, wait: object.read(options) };
  },
  'SharedState.changed': async (name, options) => {
    const object = await SharedState.create<number>(name, { initial: 0 });
    return { object, wait: object.changed(object.get().version, options) };
  },
};

// A notify that changes no word reaches only waits already queued in the kernel. On a waiter thread the wait
// is queued some time after `waitAsync` returned: an abort or a close just after it was lost, and the wait
// slept for ever. Each wait is ended at once after it started, several times, so that some land in that gap.
describe('named objects whose futex waits run on waiter threads', () => {
  for (const [what, start] of Object.entries(waits)) {
    it(`${what} ends with AbortedError on an abort, and with ClosedError on close, however soon after it began`, async () => {
      for (let round = 0; round < 8; round++) {
        for (const how of ['abort', 'close'] as const) {
          const name = uniqueName('futex-thread');
          const controller = new AbortController();
          const { object, wait } = await start(name, how === 'abort' ? { signal: controller.signal } : {});
          made.push({ name, object });
          if (how === 'abort') controller.abort();
          else object.destroy();
          await expect(wait, `${how}, round ${round}`).rejects.toBeInstanceOf(
            how === 'abort' ? AbortedError : ClosedError,
          );
          object.destroy();
          expect(segmentExists(name)).toBe(false);
        }
      }
    }, 20_000);
  }
});
