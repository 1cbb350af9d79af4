import { Worker } from 'node:worker_threads';
import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { PeerGoneError, TimeoutError, TooLargeError, UnsupportedError, rawCodec } from '@ipcx/core';
import { SharedState } from '@ipcx/shm';
import { atomicsWaker } from '../src/internal/waker.js';

const workers: Worker[] = [];
afterEach(async () => {
  await Promise.all(workers.splice(0).map((w) => w.terminate()));
});
function start(name: string, workerData: unknown): Worker {
  const worker = new Worker(new URL(`./fixtures/${name}`, import.meta.url), { workerData });
  workers.push(worker);
  return worker;
}

describe('SharedState', () => {
  it('gives readers the latest value and its version', async () => {
    const state = new SharedState<{ n: number }>({ initial: { n: 0 } });
    const reader = SharedState.from<{ n: number }>(state.handle());
    expect(reader.get()).toEqual({ value: { n: 0 }, version: 1 });
    expect(state.set({ n: 5 })).toBe(2);
    expect(reader.get()).toEqual({ value: { n: 5 }, version: 2 });
    expect(state.update((v) => ({ n: v!.n + 1 }))).toBe(3);
    expect(reader.get().value).toEqual({ n: 6 });
    expect(() => reader.set({ n: 1 })).toThrow(UnsupportedError);
    await state.close();
  });

  it('refuses a value over its capacity with TooLargeError and keeps the old one', async () => {
    const state = new SharedState({ maxValueBytes: 16, codec: rawCodec });
    state.set(new Uint8Array(16).fill(1));
    expect(() => state.set(new Uint8Array(17))).toThrow(TooLargeError);
    expect([...state.get().value]).toEqual(new Array(16).fill(1));
  });

  it("a reader about to sleep sees its writer's close, and a new value, that land just before its sleep", async () => {
    // The waker lets the writer act after the reader's last look and before its sleep, as another thread can.
    // Readers slept on the version word, which a close does not change: that close was missed until the
    // reader's next check (here a minute away).
    const realWait = atomicsWaker.waitAsync;
    for (const act of ['close', 'set'] as const) {
      const state = new SharedState<number>({ initial: 1 });
      const reader = SharedState.from<number>(state.handle(), { peerCheckInterval: 60_000 });
      let beforeSleep: (() => void) | undefined = act === 'close' ? () => state.destroy() : () => state.set(2);
      atomicsWaker.waitAsync = (...args) => {
        beforeSleep?.();
        beforeSleep = undefined;
        return realWait(...args);
      };
      try {
        const waiting = reader.changed(reader.get().version, { timeout: 5_000 });
        if (act === 'close') await expect(waiting).rejects.toBeInstanceOf(PeerGoneError);
        else expect(await waiting).toBe(reader.get().version);
      } finally {
        atomicsWaker.waitAsync = realWait;
        state.destroy();
        reader.destroy();
      }
    }
  });

  it('wakes a reader waiting for a change, and times out or aborts one that waits in vain', async () => {
    const state = new SharedState<number>({ initial: 1 });
    const reader = SharedState.from<number>(state.handle());
    const { version } = reader.get();
    const waiting = reader.changed(version, { timeout: 5000 });
    state.set(2);
    expect(await waiting).toBe(version + 1);
    await expect(reader.changed(version + 1, { timeout: 20 })).rejects.toBeInstanceOf(TimeoutError);
    const controller = new AbortController();
    const aborted = reader.changed(version + 1, { signal: controller.signal });
    controller.abort();
    await expect(aborted).rejects.toMatchObject({ code: 'IPCX_ERR_ABORTED' });
  });

  it('watch yields the current value and then the latest after each change', async () => {
    const state = new SharedState<string>({ initial: 'a' });
    const seen: string[] = [];
    const watching = (async () => {
      for await (const { value } of state.watch()) {
        seen.push(value);
        if (value === 'c') break;
        state.set(value === 'a' ? 'b' : 'c');
      }
    })();
    await watching;
    expect(seen).toEqual(['a', 'b', 'c']);
  });

  it('never shows a torn value to readers while a writer rewrites 32 KiB as fast as it can', async () => {
    const size = 32 * 1024;
    const stop = new SharedArrayBuffer(4);
    const writer = start('state-writer.mjs', { size, stop });
    const [handle] = await once(writer, 'message');
    const writing = once(writer, 'message');
    writer.postMessage('go');
    // The writer initialises the value first: readers start once there is one.
    const readers = [0, 1].map(() => start('state-reader.mjs', { handle, snapshots: 3000 }));
    const stats = (await Promise.all(readers.map((r) => once(r, 'message')))).map(
      ([m]) => m as { changes: number; torn: number; backwards: number },
    );
    Atomics.store(new Int32Array(stop), 0, 1);
    const [versions] = await writing;
    for (const s of stats) {
      expect(s.torn).toBe(0);
      expect(s.backwards).toBe(0);
      // The readers really ran while the writer wrote.
      expect(s.changes).toBeGreaterThan(10);
    }
    expect(versions).toBeGreaterThan(1000);
  }, 60_000);
});
