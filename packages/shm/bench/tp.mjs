import { Worker } from 'node:worker_threads';
import { ShmChannel } from '@ipcx/shm';
import { rawCodec } from '@ipcx/core';
const N = 1_000_000;
const src = `
import { workerData } from 'node:worker_threads';
import { ShmChannel } from '@ipcx/shm';
import { rawCodec } from '@ipcx/core';
const ch = ShmChannel.attach(workerData.handle, { codec: rawCodec });
const p = new Uint8Array(64);
if (workerData.role === 'sink') { for (let i = 0; i < workerData.n; i++) ch.receiveBytesSync(); ch.sendSync(p); }
else { for (let i = 0; i < workerData.n; i++) ch.sendSync(p); ch.receiveSync(); }
`;
import { writeFileSync } from 'node:fs';
writeFileSync(new URL('./w2.mjs', import.meta.url), src);
for (const cap of [1 << 14, 1 << 16, 1 << 20]) {
  for (const role of ['sink', 'source']) {
    const [a, b] = ShmChannel.pair({ codec: rawCodec, capacity: cap });
    const w = new Worker(new URL('./w2.mjs', import.meta.url), { workerData: { handle: b.handle, role, n: N } });
    const p = new Uint8Array(64);
    const t = performance.now();
    if (role === 'sink') { for (let i = 0; i < N; i++) if (!a.trySend(p)) await a.send(p); await a.receive(); }
    else { for (let i = 0; i < N; i++) { const m = a.tryReceiveBytes(); if (m === undefined) await a.receive(); } await a.send(p); }
    const ms = performance.now() - t;
    console.log(cap, 'worker', role, (N / ms * 1000 / 1e6).toFixed(2), 'M msg/s');
    await a.close(); await w.terminate();
  }
}
