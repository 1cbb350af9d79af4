// for-await vs the tryReceive loop between two threads on a ShmChannel and a FanIn, msgs/s.
// Run from packages/shm after `npm run build -w @ipcx/shm`: node bench/for-await.mjs (env: N, ROUNDS, MODES, RAW=1 for rawCodec).
import { Worker, isMainThread, workerData } from 'node:worker_threads';
import { ShmChannel, FanIn } from '@ipcx/shm';
import { rawCodec } from '@ipcx/core';
const RAW = process.env.RAW === '1';
const opts = RAW ? { codec: rawCodec } : {};
const val = (m) => (RAW ? m[0] + m[1] * 256 + m[2] * 65536 : m.i);

const N = Number(process.env.N ?? 500_000);
if (isMainThread) {
  const modes = (process.env.MODES ?? 'fast,forawait,await,fanin-fast,fanin-forawait').split(',');
  const rounds = Number(process.env.ROUNDS ?? 3);
  const results = {};
  for (let r = 0; r < rounds; r++) {
    for (const mode of modes) {
      const fanIn = mode.startsWith('fanin');
      let ch, inbox;
      let data;
      if (fanIn) {
        inbox = new FanIn(opts);
        data = { kind: 'fanin', handle: inbox.handle(), n: N };
      } else {
        const [a, b] = ShmChannel.pair(opts);
        ch = a;
        data = { kind: 'channel', handle: b.transfer(), n: N };
      }
      const source = fanIn ? inbox : ch;
      const worker = new Worker(new URL(import.meta.url), { workerData: data });
      let count = 0,
        sum = 0,
        start = 0;
      const first = await source.receive();
      start = performance.now();
      count = 1;
      sum += val(first);
      if (mode.endsWith('forawait')) {
        for await (const m of source) {
          sum += val(m);
          if (++count === N) break;
        }
      } else if (mode.endsWith('fast')) {
        while (count < N) {
          let m = source.tryReceive();
          if (m === undefined) m = await source.receive();
          sum += val(m);
          count++;
        }
      } else {
        while (count < N) {
          const m = await source.receive();
          sum += val(m);
          count++;
        }
      }
      const ms = performance.now() - start;
      if (sum !== (N * (N - 1)) / 2) throw new Error(`bad sum ${sum}`);
      await new Promise((resolve) => worker.once('exit', resolve));
      await source.close();
      (results[mode] ??= []).push(Math.round(((N - 1) / ms) * 1000));
    }
  }
  for (const [mode, rates] of Object.entries(results)) {
    const sorted = [...rates].sort((a, b) => a - b);
    console.log(
      `${mode.padEnd(16)} median ${sorted[Math.floor(sorted.length / 2)].toLocaleString('en')} msg/s  (runs: ${rates.map((x) => x.toLocaleString('en')).join(', ')})`,
    );
  }
} else {
  const { kind, handle, n } = workerData;
  const out = kind === 'fanin' ? FanIn.from(handle, opts) : ShmChannel.from(handle, opts);
  for (let i = 0; i < n; i++) {
    const m = RAW ? new Uint8Array([i & 255, (i >> 8) & 255, i >> 16, 0, 0, 0, 0, 0]) : { i };
    if (!out.trySend(m)) await out.send(m);
  }
  await out.close();
}
