import { Worker, MessageChannel } from 'node:worker_threads';
import { ShmChannel } from '@ipcx/shm';
import { rawCodec } from '@ipcx/core';

const N = 500_000;
const workerSrc = `
import { workerData, parentPort } from 'node:worker_threads';
import { ShmChannel } from '@ipcx/shm';
import { rawCodec } from '@ipcx/core';
const { kind, handle, port, n } = workerData;
if (kind === 'shm-sink') {
  const ch = ShmChannel.attach(handle, { codec: rawCodec });
  for (let i = 0; i < n; i++) ch.receiveSync();
  ch.sendSync(new Uint8Array(1));
} else if (kind === 'shm-echo') {
  const ch = ShmChannel.attach(handle, { codec: rawCodec });
  try { for (;;) ch.sendSync(ch.receiveSync()); } catch {}
} else if (kind === 'port-sink') {
  let c = 0; port.on('message', () => { if (++c === n) port.postMessage('done'); });
} else if (kind === 'port-echo') {
  port.on('message', (m) => port.postMessage(m));
}`;
const url = new URL('data:text/javascript,' + encodeURIComponent(workerSrc));
const payload = new Uint8Array(64);

async function shmThroughput() {
  const [a, b] = ShmChannel.pair({ codec: rawCodec, capacity: 1 << 16 });
  const w = new Worker(new URL('./w.mjs', import.meta.url), { workerData: { kind: 'shm-sink', handle: b.handle, n: N } });
  const t = performance.now();
  for (let i = 0; i < N; i++) if (!a.trySend(payload)) await a.send(payload);
  await a.receive();
  const ms = performance.now() - t;
  await a.close(); await w.terminate();
  return N / ms * 1000;
}
async function portThroughput() {
  const { port1, port2 } = new MessageChannel();
  const w = new Worker(new URL('./w.mjs', import.meta.url), { workerData: { kind: 'port-sink', port: port2, n: N }, transferList: [port2] });
  const done = new Promise((r) => port1.once('message', r));
  const t = performance.now();
  for (let i = 0; i < N; i++) port1.postMessage(payload);
  await done;
  const ms = performance.now() - t;
  port1.close(); await w.terminate();
  return N / ms * 1000;
}
async function shmRtt(R = 20000) {
  const [a, b] = ShmChannel.pair({ codec: rawCodec });
  const w = new Worker(new URL('./w.mjs', import.meta.url), { workerData: { kind: 'shm-echo', handle: b.handle } });
  for (let i = 0; i < 1000; i++) { await a.send(payload); await a.receive(); }
  const t = performance.now();
  for (let i = 0; i < R; i++) { await a.send(payload); await a.receive(); }
  const us = (performance.now() - t) * 1000 / R;
  await a.close(); await w.terminate();
  return us;
}
async function portRtt(R = 20000) {
  const { port1, port2 } = new MessageChannel();
  const w = new Worker(new URL('./w.mjs', import.meta.url), { workerData: { kind: 'port-echo', port: port2 }, transferList: [port2] });
  const once = () => new Promise((r) => port1.once('message', r));
  for (let i = 0; i < 1000; i++) { port1.postMessage(payload); await once(); }
  const t = performance.now();
  for (let i = 0; i < R; i++) { port1.postMessage(payload); await once(); }
  const us = (performance.now() - t) * 1000 / R;
  port1.close(); await w.terminate();
  return us;
}
import { writeFileSync } from 'node:fs';
writeFileSync(new URL('./w.mjs', import.meta.url), workerSrc);
console.log('shm msgs/s', (await shmThroughput()).toFixed(0));
console.log('port msgs/s', (await portThroughput()).toFixed(0));
console.log('shm rtt us', (await shmRtt()).toFixed(2));
console.log('port rtt us', (await portRtt()).toFixed(2));
