// Idle CPU (issue 15): each ipcx transport with a receiver waiting and no traffic, for `seconds`; the CPU
// this process spent meanwhile (process.cpuUsage: every thread, native waiter threads included), as a
// percentage of one core. Both ends live in this process, so the figure covers the waiting receiver, the
// idle sender and their event-loop handles. A control row waits on nothing but a timer.
import { MemoryChannel } from '@ipcx/core';
import { firstLine } from './suite.mjs';
import { socketPath, uniqueName } from './transports/names.mjs';

/**
 * @typedef {import('@ipcx/core').Channel} Channel
 * @typedef {{ close(): Promise<void>, destroy?(): void }} Closable
 */

/**
 * Each transport: open() resolves to { receiver, others: [ends to close] }.
 * @type {{ id: string, label: string, open(): Promise<{ receiver: Channel & Closable, others: Closable[] }> }[]}
 */
const TRANSPORTS = [
  {
    id: 'shm-thread',
    label: 'ShmChannel (pair)',
    async open() {
      const { ShmChannel } = await import('@ipcx/shm');
      const [a, b] = ShmChannel.pair();
      return { receiver: b, others: [a] };
    },
  },
  {
    id: 'shm-process',
    label: 'ShmChannel (named: create + open)',
    async open() {
      const { ShmChannel } = await import('@ipcx/shm');
      const name = uniqueName('shm');
      const a = await ShmChannel.create(name);
      return { receiver: await ShmChannel.open(name), others: [a] };
    },
  },
  {
    id: 'mq',
    label: 'MqChannel',
    async open() {
      const { MqChannel } = await import('@ipcx/mq');
      const name = uniqueName('mq');
      const a = await MqChannel.create(name);
      return { receiver: await MqChannel.open(name), others: [a] };
    },
  },
  ...[
    ['unix-stream', 'Unix stream channel'],
    ['unix-seqpacket', 'Unix seqpacket channel'],
    ['tcp', 'TCP channel (loopback)'],
  ].map(([id, label]) => ({
    id,
    label,
    async open() {
      const { SeqPacketServer, SeqPacketSocket, TcpServer, TcpSocket, UnixServer, UnixSocket } = await import(
        '@ipcx/sockets'
      );
      const timeout = 10_000;
      /** @type {import('@ipcx/core').ChannelServer} */
      let server;
      /** @type {() => Promise<Channel>} */
      let connect;
      if (id === 'tcp') {
        const tcp = await TcpServer.listen({ port: 0 });
        server = tcp;
        connect = () => TcpSocket.connect({ port: tcp.port }, { timeout });
      } else if (id === 'unix-seqpacket') {
        const path = socketPath(`idle-${id}`);
        server = await SeqPacketServer.listen(path);
        connect = () => SeqPacketSocket.connect(path, { timeout });
      } else {
        const path = socketPath(`idle-${id}`);
        server = await UnixServer.listen(path);
        connect = () => UnixSocket.connect(path, { timeout });
      }
      const [accepted, client] = await Promise.all([server.accept({ timeout }), connect()]);
      return { receiver: client, others: [accepted, server] };
    },
  })),
  {
    id: 'memory',
    label: 'MemoryChannel (pair)',
    async open() {
      const [a, b] = MemoryChannel.pair();
      return { receiver: b, others: [a] };
    },
  },
];

export const IDLE_PATHS = ['receive', 'for-await'];

/** CPU % of one core this process used over `ms`. */
async function cpuOver(ms) {
  const before = process.cpuUsage();
  const t = process.hrtime.bigint();
  await new Promise((resolve) => setTimeout(resolve, ms));
  const used = process.cpuUsage(before);
  const wall = Number(process.hrtime.bigint() - t) / 1000;
  return ((used.user + used.system) / wall) * 100;
}

/**
 * Runs every selected transport (`selected(id)` on `idle/<transport>`) for each waiting path; returns
 * { seconds, rows: [{ transport, label, path, cpuPercent }], notes }.
 * @param {{ seconds?: number, selected?: (id: string) => boolean, log?: (line: string) => void }} [options]
 */
export async function measureIdle({ seconds = 2, selected = () => true, log = () => {} } = {}) {
  const rows = [];
  const notes = [];
  const ms = seconds * 1000;
  if (selected('idle/none')) {
    log(`idle: control (a timer only), ${seconds} s`);
    rows.push({
      transport: 'none',
      label: 'control: nothing waiting but the timer',
      path: '–',
      cpuPercent: await cpuOver(ms),
    });
  }
  for (const t of TRANSPORTS) {
    if (!selected(`idle/${t.id}`)) continue;
    for (const path of IDLE_PATHS) {
      log(`idle: ${t.id}, ${path}, ${seconds} s`);
      let ends;
      try {
        ends = await t.open();
        const { receiver } = ends;
        const waiting =
          path === 'receive'
            ? receiver.receive()
            : (async () => {
                for await (const _ of receiver) return;
              })();
        waiting.catch(() => undefined);
        await new Promise((resolve) => setTimeout(resolve, 100)); // past the spin before sleeping
        const cpuPercent = await cpuOver(ms);
        rows.push({ transport: t.id, label: t.label, path, cpuPercent });
      } catch (error) {
        notes.push(`idle ${t.label} (${path}): not measured: ${firstLine(error)}`);
      } finally {
        for (const end of [ends?.receiver, ...(ends?.others ?? [])]) {
          if (!end) continue;
          try {
            if (typeof end.destroy === 'function') end.destroy();
            await end.close();
          } catch {
            // already gone
          }
        }
      }
    }
  }
  return { seconds, rows, notes };
}
