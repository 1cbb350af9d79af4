// Faults injected at random points (issue 12, findings 4, 5, 14 and the delivery promise): a producer
// killed mid-frame, a consumer killed mid-read, worker threads that throw or are terminated with their
// ends open, a SharedState writer thread terminated mid-write. Survivors must notice within a stated bound
// with a typed error; every line "[ipcx-fault] ..." records what was injected and how long noticing took.
import { Worker } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import { PeerGoneError } from '@ipcx/core';
import { SharedState, ShmChannel } from '@ipcx/shm';
import { killPeers, Peer } from './peers.js';
import { segmentExists, uniqueName } from './helpers.js';

/** Every survivor here must notice within this (peerCheckInterval is 500 ms by default). */
const NOTICE_BOUND_MS = 3000;
const peers: Peer[] = [];
const names: string[] = [];
const workers: Worker[] = [];

function name(what: string): string {
  const n = uniqueName(what);
  names.push(n);
  return n;
}

function record(fault: string, ms: number): void {
  console.log(`[ipcx-fault] ${fault}: noticed in ${ms.toFixed(1)} ms`);
}

const random = (min: number, max: number): number => min + Math.floor(Math.random() * (max - min + 1));

afterEach(async () => {
  await killPeers(peers);
  await Promise.all(workers.splice(0).map((w) => w.terminate()));
  for (const n of names.splice(0)) await ShmChannel.unlink(n);
});

/** The worker's exit (events.once would reject on the 'error' its throw emits first). */
const exitOf = (worker: Worker): Promise<number> => new Promise((resolve) => worker.once('exit', resolve));
const messageOf = (worker: Worker): Promise<unknown> => new Promise((resolve) => worker.once('message', resolve));

function dyingWorker(data: Record<string, unknown>): Worker {
  const worker = new Worker(new URL('./fixtures/dying-worker.mjs', import.meta.url), { workerData: data });
  worker.on('error', () => {}); // the throw is the point
  workers.push(worker);
  return worker;
}

describe('a peer process killed with SIGKILL (delivery promise)', () => {
  it('a producer killed mid-frame: every message it published arrives once, in order, then PeerGoneError', async () => {
    for (let round = 0; round < 3; round++) {
      const n = name('kill-producer');
      const channel = await ShmChannel.create<{ seq: number; pad: string }>(n, { capacity: 16 * 1024 });
      const producer = await Peer.start(peers);
      await producer.ask({ op: 'produce', name: n, size: random(10, 3000) });
      let expected = 0;
      const before = random(20, 400);
      for (; expected < before; expected++) expect((await channel.receive({ timeout: 5000 })).seq).toBe(expected);
      producer.child.kill('SIGKILL');
      await producer.exited;
      const killedAt = performance.now();
      let error: unknown;
      try {
        for (;;) expect((await channel.receive({ timeout: 10_000 })).seq).toBe(expected++);
      } catch (e) {
        error = e;
      }
      const took = performance.now() - killedAt;
      expect(error).toBeInstanceOf(PeerGoneError);
      expect(took).toBeLessThan(NOTICE_BOUND_MS);
      record(`producer process SIGKILLed mid-frame (round ${round}, ${expected - 1} messages delivered, none twice)`, took);
      await channel.close();
    }
  }, 30_000);

  it('a consumer killed mid-read: sends reject with PeerGoneError at once, not when the ring fills', async () => {
    for (let round = 0; round < 3; round++) {
      const n = name('kill-consumer');
      const channel = await ShmChannel.create<number>(n, { capacity: 64 * 1024 });
      const consumer = await Peer.start(peers);
      await consumer.ask({ op: 'consume', name: n });
      const sends = random(100, 3000);
      for (let i = 0; i < sends; i++) await channel.send(i, { timeout: 5000 });
      consumer.child.kill('SIGKILL');
      await consumer.exited;
      const killedAt = performance.now();
      let resolved = 0;
      let error: unknown;
      try {
        for (let i = 0; i < 2048; i++) {
          await channel.send(i);
          resolved++;
        }
      } catch (e) {
        error = e;
      }
      const took = performance.now() - killedAt;
      expect(error).toBeInstanceOf(PeerGoneError);
      // 2048 eight-byte frames would fit the 64 KiB ring: a rejection means it was not "when full".
      expect(resolved).toBeLessThan(64);
      record(`consumer process SIGKILLed mid-read (round ${round}): ${resolved} sends resolved after its death`, took);
      await channel.close();
    }
  }, 30_000);
});

describe('a worker thread that ends without closing its end', () => {
  for (const how of ['throw', 'terminate'] as const) {
    it(`ends the main thread's pending receive with PeerGoneError when the worker ${how === 'throw' ? 'throws' : 'is terminated'}`, async () => {
      const [main, forWorker] = ShmChannel.pair<number>({ capacity: 4096 });
      const worker = dyingWorker({ scenario: `channel-${how}`, handle: forWorker.handle, count: 5 });
      await messageOf(worker);
      for (let i = 0; i < 5; i++) expect(await main.receive({ timeout: 5000 })).toBe(i);
      const pending = main.receive();
      pending.catch(() => {});
      if (how === 'terminate') await worker.terminate();
      else await exitOf(worker);
      const diedAt = performance.now();
      await expect(pending).rejects.toBeInstanceOf(PeerGoneError);
      const took = performance.now() - diedAt;
      expect(took).toBeLessThan(NOTICE_BOUND_MS);
      record(`worker thread ${how === 'throw' ? 'threw' : 'terminated'} with its ShmChannel end open: pending receive`, took);
      const sendAt = performance.now();
      await expect(main.send(1)).rejects.toBeInstanceOf(PeerGoneError);
      record(`worker thread gone: next send`, performance.now() - sendAt);
      await main.close();
    }, 15_000);
  }

  it('a worker that opened a named channel and throws: the creator notices through the kernel lock', async () => {
    const n = name('worker-named');
    const channel = await ShmChannel.create<number>(n, { capacity: 4096 });
    const worker = dyingWorker({ scenario: 'named-channel-throw', name: n, count: 3 });
    await messageOf(worker);
    const pending = (async () => {
      const got = [];
      for (;;) got.push(await channel.receive());
    })();
    pending.catch(() => {});
    await exitOf(worker);
    const diedAt = performance.now();
    await expect(pending).rejects.toBeInstanceOf(PeerGoneError);
    const took = performance.now() - diedAt;
    expect(took).toBeLessThan(NOTICE_BOUND_MS);
    record('worker thread threw with a named ShmChannel end open: pending receive', took);
    await channel.close();
    expect(segmentExists(n)).toBe(false);
  }, 15_000);
});

describe('a SharedState writer thread terminated in the middle of set', () => {
  it('get() throws PeerGoneError instead of spinning for ever on the odd sequence it left', async () => {
    const worker = dyingWorker({ scenario: 'state-stuck' });
    const [handle] = await messageOf(worker);
    const state = SharedState.attach(handle);
    await worker.terminate();
    const diedAt = performance.now();
    expect(() => state.get()).toThrow(PeerGoneError);
    const took = performance.now() - diedAt;
    record('SharedState writer thread terminated mid-set (sequence left odd): get()', took);
    await expect(state.changed(0, { timeout: 5000 })).rejects.toBeInstanceOf(PeerGoneError);
    await state.close();
  }, 15_000);

  for (const named of [false, true]) {
    it(`readers ${named ? 'in another thread of a named state' : 'of a thread state'} never hang when the writer is terminated at a random point`, async () => {
      for (let round = 0; round < 3; round++) {
        const n = named ? name('state-writer') : undefined;
        const worker = dyingWorker({ scenario: 'state-mid-write', size: 64 * 1024, ...(n ? { named: n } : {}) });
        const [handle] = await messageOf(worker);
        const state = n ? await SharedState.open<{ v: number }>(n) : SharedState.attach<{ v: number }>(handle);
        const until = performance.now() + random(5, 60);
        let last = 0;
        while (performance.now() < until) {
          last = state.get().value.v;
          await new Promise((resolve) => setImmediate(resolve));
        }
        expect(last).toBeGreaterThanOrEqual(0);
        await worker.terminate();
        const diedAt = performance.now();
        let snapshot: { version: number } | undefined;
        try {
          snapshot = state.get();
        } catch (error) {
          expect(error).toBeInstanceOf(PeerGoneError);
        }
        await expect(state.changed(snapshot?.version ?? -1, { timeout: 5000 })).rejects.toBeInstanceOf(PeerGoneError);
        const took = performance.now() - diedAt;
        expect(took).toBeLessThan(NOTICE_BOUND_MS);
        record(`SharedState${named ? ' (named)' : ''} writer thread terminated at a random point (round ${round}): get + changed`, took);
        await state.close();
        if (n !== undefined) await ShmChannel.unlink(n);
      }
    }, 30_000);
  }
});
