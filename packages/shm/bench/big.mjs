import { Worker, isMainThread, workerData, parentPort } from 'node:worker_threads';
import { once } from 'node:events';
import { ShmChannel } from '@ipcx/shm';
import { rawCodec } from '@ipcx/core';
const SIZE = Number(process.argv[2] ?? 65536);
if (isMainThread) {
  const [a, b] = ShmChannel.pair({ capacity: 1 << 20, codec: rawCodec });
  const w = new Worker(new URL(import.meta.url), { workerData: { handle: b.handle }, argv: [String(SIZE)] });
  const payload = new Uint8Array(SIZE).fill(1);
  const n = 20000;
  for (let r = 0; r < 4; r++) {
    w.postMessage(n);
    const s = performance.now();
    let fails = 0, i = 0;
    for (; i < n; i++) if (!a.trySend(payload)) { fails++; await a.send(payload); }
    const t1 = performance.now();
    await once(w, 'message');
    const ms = performance.now() - s;
    console.log((SIZE * n / ms / 1000).toFixed(0), 'MB/s', 'send loop ms', (t1 - s).toFixed(0), 'total', ms.toFixed(0), 'full', fails);
  }
  a.close(); w.terminate();
} else {
  const ch = ShmChannel.attach(workerData.handle, { codec: rawCodec });
  parentPort.on('message', (n) => {
    for (let i = 0; i < n; i++) ch.receiveBytesSync({ timeout: 20000 });
    parentPort.postMessage('done');
  });
}
