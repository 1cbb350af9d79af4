// Idle CPU of a waiting receiver: after a burst of ping-pong traffic (so the spin is at its most eager), one
// receive waits 2 s on a quiet channel; prints the process's CPU share over those 2 s (user + system, % of one
// core). Not a test: `node packages/sockets/test/latency/idle.mjs [spinMicroseconds|default]`.
import { rawCodec } from '@ipcx/core';
import {
  SeqPacketServer,
  SeqPacketSocket,
  TcpServer,
  TcpSocket,
  UnixDatagram,
  UnixServer,
  UnixSocket,
} from '@ipcx/sockets';

const spinOpt =
  process.argv[2] === undefined || process.argv[2] === 'default' ? {} : { spinMicroseconds: Number(process.argv[2]) };
const options = { codec: rawCodec, ...spinOpt };
const tag = `${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
const payload = new Uint8Array(64);

async function idle(name, a, b, receive = (ch) => ch.receive({ timeout: 10_000 }), send = (ch) => ch.send(payload)) {
  for (let i = 0; i < 2000; i++) {
    const r = receive(b);
    await send(a);
    await r;
  }
  const cpu = process.cpuUsage();
  const t = performance.now();
  const pending = receive(b);
  await new Promise((r) => setTimeout(r, 2000));
  const used = process.cpuUsage(cpu);
  const share = ((used.user + used.system) / 1000 / (performance.now() - t)) * 100;
  console.log(`${name}: ${share.toFixed(2)}% of a core while a receive waits 2 s`);
  await send(a);
  await pending;
}

{
  const server = await UnixServer.listen({ abstract: `ipcx-idle-u-${tag}` }, options);
  const a = await UnixSocket.connect({ abstract: `ipcx-idle-u-${tag}` }, options);
  const b = await server.accept();
  await idle('unix stream', a, b);
  await a.close();
  await b.close();
  await server.close();
}
{
  const server = await TcpServer.listen({ port: 0 }, options);
  const a = await TcpSocket.connect({ port: server.port }, options);
  const b = await server.accept();
  await idle('tcp', a, b);
  await a.close();
  await b.close();
  await server.close();
}
{
  const server = await SeqPacketServer.listen({ abstract: `ipcx-idle-s-${tag}` }, options);
  const a = await SeqPacketSocket.connect({ abstract: `ipcx-idle-s-${tag}` }, options);
  const b = await server.accept();
  await idle('seqpacket', a, b);
  await a.close();
  await b.close();
  await server.close();
}
{
  const address = { abstract: `ipcx-idle-d-${tag}` };
  const b = await UnixDatagram.bind(address, options);
  const a = await UnixDatagram.unbound(options);
  await idle(
    'datagram',
    a,
    b,
    (ch) => ch.receive({ timeout: 10_000 }),
    (ch) => ch.send(payload, { to: address }),
  );
  await a.close();
  await b.close();
}
