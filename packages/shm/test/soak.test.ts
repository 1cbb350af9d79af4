// A shared-memory soak (issue 12, load): messages of random sizes echo through a child process for
// IPCX_SOAK=1 ? 30 s : 3 s while the RSS of this process is sampled. Every message must come back once,
// in order and intact, and memory must stay flat. "[ipcx-soak]" lines record the figures.
import type { ChildProcess } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { ShmChannel } from '@ipcx/shm';
import { killAll, segmentExists, spawnReady, uniqueName } from './helpers.js';

const SOAK_MS = process.env.IPCX_SOAK === '1' ? 30_000 : 2_000;
const children: ChildProcess[] = [];
let n = '';
afterEach(async () => {
  await killAll(children);
  await ShmChannel.unlink(n);
});

describe('shared-memory soak', () => {
  it(
    `echoes messages through a child process for ${SOAK_MS / 1000} s: none lost, duplicated or reordered, memory flat`,
    async () => {
      n = uniqueName('soak');
      const channel = await ShmChannel.create<{ seq: number; body: string }>(n, { bufferBytes: 64 * 1024 });
      await spawnReady('process-echo.mjs', [n], children);
      const rss: number[] = [];
      const sampler = setInterval(() => rss.push(process.memoryUsage().rss), 250);
      const start = performance.now();
      let sent = 0;
      let received = 0;
      let bytes = 0;
      const bodies = Array.from({ length: 64 }, (_, i) => 'z'.repeat((i * 97) % 4000));
      const WINDOW = 32;
      try {
        while (performance.now() - start < SOAK_MS || received < sent) {
          while (sent - received < WINDOW && performance.now() - start < SOAK_MS) {
            await channel.send({ seq: sent, body: bodies[sent % 64]! }, { timeout: 10_000 });
            sent++;
          }
          const echo = await channel.receive({ timeout: 10_000 });
          expect(echo.seq).toBe(received);
          expect(echo.body).toBe(bodies[received % 64]);
          bytes += echo.body.length;
          received++;
        }
      } finally {
        clearInterval(sampler);
      }
      const seconds = (performance.now() - start) / 1000;
      expect(received).toBe(sent);
      const mib = (b: number): string => (b / 2 ** 20).toFixed(1);
      const third = Math.max(1, Math.floor(rss.length / 3));
      const early = Math.max(...rss.slice(0, third));
      const late = Math.max(...rss.slice(-third));
      console.log(
        `[ipcx-soak] ${seconds.toFixed(1)} s: ${received} round trips (${Math.round(received / seconds)}/s, ${mib(bytes)} MiB of bodies each way), ` +
          `all in order; RSS max first third ${mib(early)} MiB, last third ${mib(late)} MiB, ${rss.length} samples`,
      );
      // Flat: the last third may not exceed the first by more than GC noise.
      expect(late - early).toBeLessThan(64 * 2 ** 20);
      await channel.close();
      expect(segmentExists(n)).toBe(false);
    },
    SOAK_MS + 30_000,
  );
});
