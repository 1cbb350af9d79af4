// Round-trip latency of the socket transports between two processes: 64-byte messages, `await send` then
// `await receive()` (or `for await`), p50/p99 in µs; plus process.send. Not a test: run by hand,
//   node packages/sockets/test/latency/rtt.mjs [rounds] [spinMicroseconds|default]
// Prints one line per transport. The child echoes; the parent measures.
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { rawCodec } from '@ipcx/core';
// RTT_SOCKETS: another build of @ipcx/sockets to measure (e.g. a copy of main's dist), for a before/after.
const { SeqPacketServer, SeqPacketSocket, TcpServer, TcpSocket, UnixServer, UnixSocket, UnixDatagram } = await import(
  process.env.RTT_SOCKETS ?? '@ipcx/sockets'
);

const self = fileURLToPath(import.meta.url);
const isChild = process.argv[2] === 'child';
const ROUNDS = isChild ? 0 : Number(process.argv[2] ?? 20000);
const spinArg = isChild ? process.env.RTT_SPIN : process.argv[3];
const SPIN = spinArg === undefined || spinArg === 'default' ? undefined : Number(spinArg);
const spinOpt = SPIN === undefined ? {} : { spinMicroseconds: SPIN };
const payload = new Uint8Array(64).fill(7);

function stats(samples) {
  samples.sort((a, b) => a - b);
  const at = (q) => samples[Math.min(samples.length - 1, Math.floor(q * samples.length))];
  return { p50: at(0.5), p99: at(0.99) };
}

async function measure(name, roundTrip, mode = 'await') {
  const warm = Math.min(2000, ROUNDS / 10);
  const samples = new Float64Array(ROUNDS);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < ROUNDS + warm; i++) {
    const start = performance.now();
    await roundTrip();
    if (i >= warm) samples[i - warm] = (performance.now() - start) * 1000;
  }
  const wall = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const { p50, p99 } = stats(Array.from(samples));
  const row = {
    name,
    mode,
    p50: +p50.toFixed(1),
    p99: +p99.toFixed(1),
    cpu: +(((cpu.user + cpu.system) / 1000 / wall) * 100).toFixed(0),
  };
  console.log(JSON.stringify(row));
  return row;
}

async function child() {
  const [, , , kind, name] = process.argv;
  const address = { abstract: name };
  if (kind === 'process') {
    process.on('message', (m) => (m === 'stop' ? process.disconnect() : process.send(m)));
    return;
  }
  let channel;
  if (kind === 'unix') channel = await UnixSocket.connect(address, { codec: rawCodec, ...spinOpt });
  else if (kind === 'tcp') channel = await TcpSocket.connect({ port: Number(name) }, { codec: rawCodec, ...spinOpt });
  else if (kind === 'seqpacket') channel = await SeqPacketSocket.connect(address, { codec: rawCodec, ...spinOpt });
  else if (kind === 'datagram') {
    const socket = await UnixDatagram.bind({ abstract: `${name}-child` }, { codec: rawCodec, ...spinOpt });
    socket.connect(address);
    await socket.send(new Uint8Array([1])); // ready
    for await (const { data } of socket) await socket.send(data);
    return;
  }
  for await (const m of channel) await channel.send(m);
  await channel.close();
}

async function main() {
  const results = [];
  // process.send
  {
    const c = fork(self, ['child', 'process', '-'], { stdio: 'inherit' });
    await new Promise((r) => c.once('spawn', r));
    let resolve;
    c.on('message', () => resolve());
    results.push(await measure('process.send', () => new Promise((r) => ((resolve = r), c.send(payload.length)))));
    c.send('stop');
  }
  const stream = async (name, server, address) => {
    const c = fork(self, ['child', name, address], {
      stdio: 'inherit',
      env: { ...process.env, RTT_SPIN: String(SPIN ?? 'default') },
    });
    const ch = await server.accept();
    results.push(
      await measure(name, async () => {
        await ch.send(payload);
        await ch.receive();
      }),
    );
    // the same, the reply taken with tryReceive first
    results.push(
      await measure(
        name,
        async () => {
          await ch.send(payload);
          if (ch.tryReceive() === undefined) await ch.receive();
        },
        'try+await',
      ),
    );
    const it = ch[Symbol.asyncIterator]();
    results.push(
      await measure(
        name,
        async () => {
          await ch.send(payload);
          await it.next();
        },
        'for-await',
      ),
    );
    await ch.close();
    await server.close();
    await new Promise((r) => c.once('exit', r));
  };
  const tag = `${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  await stream(
    'unix',
    await UnixServer.listen({ abstract: `ipcx-rtt-u-${tag}` }, { codec: rawCodec, ...spinOpt }),
    `ipcx-rtt-u-${tag}`,
  );
  const tcp = await TcpServer.listen({ port: 0 }, { codec: rawCodec, ...spinOpt });
  await stream('tcp', tcp, String(tcp.port));
  await stream(
    'seqpacket',
    await SeqPacketServer.listen({ abstract: `ipcx-rtt-s-${tag}` }, { codec: rawCodec, ...spinOpt }),
    `ipcx-rtt-s-${tag}`,
  );
  {
    const name = `ipcx-rtt-d-${tag}`;
    const socket = await UnixDatagram.bind({ abstract: name }, { codec: rawCodec, ...spinOpt });
    const c = fork(self, ['child', 'datagram', name], {
      stdio: 'inherit',
      env: { ...process.env, RTT_SPIN: String(SPIN ?? 'default') },
    });
    await socket.receive();
    socket.connect({ abstract: `${name}-child` });
    results.push(
      await measure('datagram', async () => {
        await socket.send(payload);
        await socket.receive();
      }),
    );
    c.kill();
    await socket.close();
  }
  const base = results[0].p50;
  for (const r of results.slice(1))
    console.log(`${r.name} ${r.mode}: p50 ${r.p50} µs = 1/${(base / r.p50).toFixed(1)} of process.send (${base} µs)`);
}

if (isChild) await child();
else await main();
