// Round trip between this process and a child, side by side in one run (what a wake-up costs):
//   rt-signal     sendSignal(pid, 'SIGRTMIN+5', { value }) each way, onSignal on both ends
//   std-signal    SIGUSR2 each way through process.on (libuv's handler), no value
//   doorbell      Doorbell.ring(pid, { data: 64 bytes }) each way
//   doorbell-futex  the same with both doorbells created with { wake: 'futex' }
//   process.send  Node's IPC channel, a 64-character string each way
// Usage: npm run build at the root, then: node packages/signals/bench/round-trip.mjs [roundTrips] [rounds]
// IPCX_BENCH_CASES=rt-signal,doorbell runs a subset.
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';

import { Doorbell, onSignal, sendSignal } from '../dist/index.js';

const N = Number(process.argv[2] ?? 5000);
const ROUNDS = Number(process.argv[3] ?? 3);
const self = fileURLToPath(import.meta.url);
const payload = new Uint8Array(64).fill(7);
const CASES = (process.env.IPCX_BENCH_CASES ?? 'rt-signal,std-signal,doorbell,doorbell-futex,process.send').split(',');

if (process.argv[2] === 'child') await child(process.argv[3]);
else await main();

/** One ping and its pong, as a function of the case: send(i) sends, and the returned promise gets the reply. */
async function endpoints(name, peer, onReply) {
  switch (name) {
    case 'rt-signal': {
      const off = onSignal('SIGRTMIN+5', ({ value }) => onReply(value));
      return { ping: (i) => sendSignal(peer.pid, 'SIGRTMIN+5', { value: i }), close: off };
    }
    case 'std-signal': {
      const listener = () => onReply();
      process.on('SIGUSR2', listener);
      return { ping: () => process.kill(peer.pid, 'SIGUSR2'), close: () => process.off('SIGUSR2', listener) };
    }
    case 'doorbell':
    case 'doorbell-futex': {
      const bell = await Doorbell.create({ wake: name === 'doorbell' ? 'signal' : 'futex' });
      (async () => {
        for await (const { data } of bell) onReply(data);
      })();
      return { ping: () => Doorbell.ring(peer.pid, { data: payload }), close: () => bell.close() };
    }
    case 'process.send': {
      const listener = (m) => onReply(m);
      peer.on('message', listener);
      const s = 'x'.repeat(64);
      return { ping: () => peer.send(s), close: () => peer.off('message', listener) };
    }
  }
}

async function run(name) {
  const peer = fork(self, ['child', name], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  await new Promise((resolve) => peer.once('message', resolve));
  let resolveReply;
  const end = await endpoints(name, peer, () => resolveReply());
  const times = [];
  for (let i = 0; i < N + 200; i++) {
    const t0 = process.hrtime.bigint();
    const reply = new Promise((resolve) => (resolveReply = resolve));
    end.ping(i);
    await reply;
    if (i >= 200) times.push(Number(process.hrtime.bigint() - t0) / 1000);
  }
  await end.close();
  peer.kill('SIGKILL');
  await new Promise((resolve) => peer.once('exit', resolve));
  times.sort((a, b) => a - b);
  return { p50: times[Math.floor(times.length / 2)], p99: times[Math.floor(times.length * 0.99)] };
}

async function main() {
  const results = {};
  for (let round = 0; round < ROUNDS; round++) for (const name of CASES) (results[name] ??= []).push(await run(name));
  console.log(`${N} round trips each, ${ROUNDS} rounds, best round by p50 (node ${process.version})`);
  console.log('| case | p50 µs | p99 µs |\n| --- | ---: | ---: |');
  for (const [name, runs] of Object.entries(results)) {
    const best = runs.sort((a, b) => a.p50 - b.p50)[0];
    console.log(`| ${name} | ${best.p50.toFixed(1)} | ${best.p99.toFixed(1)} |`);
  }
}

async function child(name) {
  const parent = { pid: process.ppid };
  switch (name) {
    case 'rt-signal':
      onSignal('SIGRTMIN+5', ({ value }) => sendSignal(parent.pid, 'SIGRTMIN+5', { value }));
      break;
    case 'std-signal':
      process.on('SIGUSR2', () => process.kill(parent.pid, 'SIGUSR2'));
      break;
    case 'doorbell':
    case 'doorbell-futex': {
      const bell = await Doorbell.create({ wake: name === 'doorbell' ? 'signal' : 'futex' });
      (async () => {
        for await (const { data } of bell) Doorbell.ring(parent.pid, { data });
      })();
      break;
    }
    case 'process.send':
      process.on('message', (m) => process.send(m));
      break;
  }
  setInterval(() => {}, 1000);
  process.send('up');
}
