// The wake path of an idle receiver: one 64-byte message per millisecond from another process; the receiver
// loops with `for await` (or `await receive()`). Prints, per transport and spin setting: one-way delivery
// (sender's clock to the loop body, p50/p99 µs), for Unix stream also the time from the socket's 'data'
// event to the loop body, and the receiver's CPU share. Not a test: run by hand,
//   node packages/sockets/test/latency/wake.mjs [messages] [spinMicroseconds|default]
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { rawCodec } from '@ipcx/core';
// WAKE_SOCKETS: another build of @ipcx/sockets to measure (e.g. a copy of main's dist), for a before/after.
const { SeqPacketServer, SeqPacketSocket, UnixServer, UnixSocket } = await import(
  process.env.WAKE_SOCKETS ?? '@ipcx/sockets'
);

const self = fileURLToPath(import.meta.url);
const isChild = process.argv[2] === 'child';
const COUNT = Number(isChild ? process.env.WAKE_COUNT : (process.argv[2] ?? 2000));
const spinArg = isChild ? process.env.WAKE_SPIN : process.argv[3];
const spinOpt = spinArg === undefined || spinArg === 'default' ? {} : { spinMicroseconds: Number(spinArg) };
const now = () => performance.timeOrigin + performance.now();

function pct(samples, q) {
  samples.sort((a, b) => a - b);
  return +samples[Math.min(samples.length - 1, Math.floor(q * samples.length))].toFixed(1);
}

async function child() {
  const [, , , kind, name, mode] = process.argv;
  const address = { abstract: name };
  const channel =
    kind === 'unix'
      ? await UnixSocket.connect(address, { codec: rawCodec, ...spinOpt })
      : await SeqPacketSocket.connect(address, { codec: rawCodec, ...spinOpt });
  let dataAt = 0;
  if (kind === 'unix') channel.socket.prependListener('data', () => (dataAt = now()));
  const oneWay = [];
  const fromData = [];
  const body = (m) => {
    const t = now();
    const sent = Buffer.from(m.buffer, m.byteOffset, m.length).readDoubleLE(0);
    oneWay.push((t - sent) * 1000);
    if (dataAt) fromData.push((t - dataAt) * 1000);
  };
  await channel.send(new Uint8Array([1])); // ready
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  if (mode === 'for-await') {
    let n = 0;
    for await (const m of channel) {
      body(m);
      if (++n === COUNT) break;
    }
  } else if (mode === 'try+await') {
    for (let n = 0; n < COUNT; n++) body(channel.tryReceive() ?? (await channel.receive()));
  } else {
    for (let n = 0; n < COUNT; n++) body(await channel.receive());
  }
  const cpu = process.cpuUsage(cpu0);
  const wall = performance.now() - t0;
  const warm = Math.floor(COUNT / 10);
  const row = {
    kind,
    mode,
    spin: spinArg ?? 'default',
    oneWayP50: pct(oneWay.slice(warm), 0.5),
    oneWayP99: pct(oneWay.slice(warm), 0.99),
    ...(fromData.length
      ? { dataToBodyP50: pct(fromData.slice(warm), 0.5), dataToBodyP99: pct(fromData.slice(warm), 0.99) }
      : {}),
    cpuPercent: +(((cpu.user + cpu.system) / 1000 / wall) * 100).toFixed(1),
  };
  console.log(JSON.stringify(row));
  await channel.close();
}

async function main() {
  const tag = `${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  for (const kind of ['unix', 'seqpacket']) {
    for (const mode of ['await', 'try+await', 'for-await']) {
      const name = `ipcx-wake-${kind}-${mode}-${tag}`;
      const server =
        kind === 'unix'
          ? await UnixServer.listen({ abstract: name }, { codec: rawCodec })
          : await SeqPacketServer.listen({ abstract: name }, { codec: rawCodec });
      const c = fork(self, ['child', kind, name, mode], {
        stdio: 'inherit',
        env: { ...process.env, WAKE_COUNT: String(COUNT), WAKE_SPIN: spinArg ?? 'default' },
      });
      const ch = await server.accept();
      await ch.receive();
      const payload = Buffer.alloc(64);
      for (let i = 0; i < COUNT; i++) {
        await new Promise((r) => setTimeout(r, 1));
        payload.writeDoubleLE(now(), 0);
        await ch.send(payload);
      }
      await new Promise((r) => c.once('exit', r));
      await ch.close();
      await server.close();
    }
  }
}

if (isChild) await child();
else await main();
