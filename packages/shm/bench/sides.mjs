import { ShmChannel } from '@ipcx/shm';
import { rawCodec } from '@ipcx/core';
const name = `/ipcx-sides-${process.pid}`;
const named = process.argv[2] === 'named';
const [a, b] = named ? [await ShmChannel.create(name, { capacity: 1 << 20, codec: rawCodec }), null] : ShmChannel.pair({ capacity: 1 << 20, codec: rawCodec });
const bb = named ? await ShmChannel.open(name, { codec: rawCodec }) : b;
const p = new Uint8Array(64).fill(3);
let ts = 0, tr = 0; const N = 10000;
for (let r = 0; r < 600; r++) {
  const t0 = performance.now();
  for (let i = 0; i < N; i++) if (!a.trySend(p)) throw new Error('full');
  const t1 = performance.now();
  await null;
  const t2 = performance.now();
  for (let i = 0; i < N; i++) if (bb.tryReceiveBytes() === undefined) throw new Error('empty ' + i);
  const t3 = performance.now();
  if (r >= 200) { ts += t1 - t0; tr += t3 - t2; }
}
console.log(named ? 'named' : 'pair', 'send ns/msg', (ts * 1e6 / (400 * N)).toFixed(1), 'receive ns/msg', (tr * 1e6 / (400 * N)).toFixed(1));
await a.close(); await bb.close();
