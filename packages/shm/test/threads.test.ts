import { Worker } from 'node:worker_threads';
import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { rawCodec } from '@ipcx/core';
import { ShmChannel } from '@ipcx/shm';

const fixture = (name: string): URL => new URL(`./fixtures/${name}`, import.meta.url);
const workers: Worker[] = [];

function start(name: string, workerData: unknown): Worker {
  const worker = new Worker(fixture(name), { workerData });
  workers.push(worker);
  return worker;
}

afterEach(async () => {
  await Promise.all(workers.splice(0).map((w) => w.terminate()));
});

describe('ShmChannel with a real worker thread', () => {
  for (const mode of ['sync', 'async'] as const) {
    it(`round-trips messages through a worker that echoes with ${mode} calls`, async () => {
      const [main, other] = ShmChannel.pair<{ n: number; text: string }>({ bufferBytes: 4096 });
      const worker = start('echo-worker.mjs', { handle: other.transfer(), mode });
      for (let n = 0; n < 2000; n++) {
        await main.send({ n, text: 'x'.repeat(n % 300) });
        expect(await main.receive({ timeout: 5000 })).toEqual({ n, text: 'x'.repeat(n % 300) });
      }
      const exited = once(worker, 'exit');
      await main.close();
      expect((await exited)[0]).toBe(0);
    });
  }

  it('moves a million messages of random sizes with every byte checked', async () => {
    const count = 1_000_000;
    const maxSize = 200;
    const [main, other] = ShmChannel.pair<Uint8Array>({ bufferBytes: 16384, codec: rawCodec });
    const worker = start('producer-worker.mjs', { handle: other.transfer(), count, maxSize, seed: 12345 });
    const failed = once(worker, 'error').then(([e]) => {
      throw e;
    });
    let state = 12345;
    const next = (): number => (state = (Math.imul(state, 1664525) + 1013904223) >>> 0);
    let bad = -1;
    const consume = (async () => {
      for (let n = 0; n < count; n++) {
        const message = await main.receive({ timeout: 10_000 });
        const size = next() % (maxSize + 1);
        if (message.length !== size) return (bad = n);
        for (let i = 0; i < size; i++) if (message[i] !== ((n * 31 + i) & 255)) return (bad = n);
      }
      return undefined;
    })();
    await Promise.race([consume, failed]);
    expect(bad).toBe(-1);
    await expect(main.receive({ timeout: 5000 })).rejects.toMatchObject({ code: 'IPCX_ERR_CLOSED' });
    await main.close();
  }, 60_000);
});
