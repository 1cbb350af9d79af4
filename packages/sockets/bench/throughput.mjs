// One-way throughput of 64-byte messages from this process to a child, side by side in one run:
//   ipcx        UnixSocket channel (rawCodec) -> UnixServer channel, both ends ipcx
//   ipcx-msgpack the same with the default msgpack codec and a small object (~64 bytes encoded)
//   net-batch   hand-written node:net loop, same 4-byte framing, frames copied into one buffer flushed per tick
//   net-cork    hand-written, one Buffer per frame, socket.cork() ... uncork() once per tick (writev underneath)
//   net-write   hand-written, one socket.write per frame (what coalescing saves)
//   process.send  Node's built-in IPC channel (JSON serialization), 64-character strings
// Usage: npm run build at the root, then: node packages/sockets/bench/throughput.mjs [messages] [rounds]
// Environment: IPCX_BENCH_CASES=ipcx,net-batch (a subset), IPCX_BENCH_SEND / IPCX_BENCH_RECEIVE = JSON channel options.
import { fork } from 'node:child_process';
import { rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { rawCodec } from '@ipcx/core';
import { UnixServer, UnixSocket } from '@ipcx/sockets';

const N = Number(process.argv[2] ?? 300_000);
const ROUNDS = Number(process.argv[3] ?? 3);
const SIZE = 64;
const self = fileURLToPath(import.meta.url);

if (process.argv[2] === 'child') {
  await child(process.argv[3], process.argv[4], Number(process.argv[5]));
} else {
  await main();
}

async function main() {
  const results = {};
  const cases = (process.env.IPCX_BENCH_CASES ?? 'ipcx,ipcx-msgpack,net-batch,net-cork,net-write,process.send').split(
    ',',
  );
  for (let round = 0; round < ROUNDS; round++) {
    for (const name of cases) {
      const rate = await run(name);
      (results[name] ??= []).push(rate);
    }
  }
  console.log(
    `${N} messages of ${SIZE} bytes, one way, parent -> child; best of ${ROUNDS} rounds (node ${process.version}, ${process.platform})`,
  );
  for (const [name, rates] of Object.entries(results)) {
    const best = Math.max(...rates);
    console.log(
      `${name.padEnd(14)} ${(best / 1e6).toFixed(2).padStart(6)} M msg/s   (${rates.map((r) => (r / 1e6).toFixed(2)).join(', ')})`,
    );
  }
}

async function run(name) {
  const path = join(tmpdir(), `ipcx${process.pid}-${Math.random().toString(36).slice(2, 8)}-bench.sock`);
  const proc = fork(self, ['child', name, path, String(N)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const message = (type) => new Promise((resolve) => proc.once('message', (m) => m === type && resolve(m)));
  await message('ready');
  const done = message('done');
  const payload = new Uint8Array(SIZE).fill(1);
  let start;
  if (name === 'ipcx' || name === 'ipcx-msgpack') {
    const msgpack = name === 'ipcx-msgpack';
    const tune = JSON.parse(process.env.IPCX_BENCH_SEND ?? '{}');
    const channel = await UnixSocket.connect(path, msgpack ? tune : { codec: rawCodec, ...tune });
    const value = msgpack ? { id: 0, kind: 'tick', body: 'x'.repeat(40) } : payload;
    start = performance.now();
    for (let i = 0; i < N; i++) if (!channel.trySend(value)) await channel.send(value);
    await done;
    await channel.close();
  } else if (name === 'process.send') {
    const text = 'x'.repeat(SIZE);
    start = performance.now();
    for (let i = 0; i < N; i++) {
      if (!proc.send(text)) await new Promise((resolve) => setImmediate(resolve));
    }
    await done;
  } else {
    const socket = await new Promise((resolve) => {
      const s = net.connect(path, () => resolve(s));
    });
    start = performance.now();
    await handWritten(socket, name, payload);
    await done;
    socket.destroy();
  }
  const rate = N / ((performance.now() - start) / 1000);
  proc.kill();
  await new Promise((resolve) => proc.once('exit', resolve));
  rmSync(path, { force: true }); // the hand-written child servers do not remove their socket files
  return rate;
}

/** The hand-written sender: same framing, three ways to write. */
async function handWritten(socket, mode, payload) {
  const frame = Buffer.alloc(4 + SIZE);
  frame.writeUInt32BE(SIZE, 0);
  frame.set(payload, 4);
  const drain = () => new Promise((resolve) => socket.once('drain', resolve));
  const tick = () => new Promise((resolve) => setImmediate(resolve));
  if (mode === 'net-write') {
    for (let i = 0; i < N; i++) if (!socket.write(frame)) await drain();
    return;
  }
  const perTick = 16 * 1024;
  for (let i = 0; i < N; ) {
    const end = Math.min(N, i + perTick);
    let ok;
    if (mode === 'net-batch') {
      const batch = Buffer.allocUnsafe((end - i) * frame.length);
      for (let k = 0; i < end; i++, k += frame.length) frame.copy(batch, k);
      ok = socket.write(batch);
    } else {
      socket.cork();
      for (; i < end; i++) ok = socket.write(Buffer.from(frame));
      socket.uncork();
    }
    if (!ok) await drain();
    else await tick();
  }
}

/** The receiving child: counts messages, tells the parent when all arrived. */
async function child(name, path, n) {
  if (name === 'process.send') {
    let count = 0;
    process.on('message', () => {
      if (++count === n) process.send('done');
    });
    process.send('ready');
    return;
  }
  if (name === 'ipcx' || name === 'ipcx-msgpack') {
    const tune = JSON.parse(process.env.IPCX_BENCH_RECEIVE ?? '{}');
    const server = await UnixServer.listen(path, name === 'ipcx' ? { codec: rawCodec, ...tune } : tune);
    process.send('ready');
    const client = await server.accept();
    let count = 0;
    while (count < n) {
      await client.receive();
      count++;
      while (count < n && client.tryReceive() !== undefined) count++;
    }
    process.send('done');
    return;
  }
  // Hand-written receiver: parse 4-byte length prefixes, count frames.
  const server = net.createServer((socket) => {
    let count = 0;
    let pending = Buffer.alloc(0);
    socket.on('data', (chunk) => {
      const buf = pending.length ? Buffer.concat([pending, chunk]) : chunk;
      let offset = 0;
      while (buf.length - offset >= 4) {
        const length = buf.readUInt32BE(offset);
        if (buf.length - offset < 4 + length) break;
        offset += 4 + length;
        count++;
      }
      pending = buf.subarray(offset);
      if (count === n) process.send('done');
    });
  });
  server.listen(path, () => process.send('ready'));
}
