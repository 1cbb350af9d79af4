// Every mechanism the bench knows. A mechanism whose package cannot be loaded (not built, or not written
// yet) gets no rows, only a note: the report never shows a row for a transport that does not exist.

/** The transports of the receive-path rows (issues 13 and 15), and how to load each one's ends. */
export const PATH_TRANSPORTS = [
  {
    id: 'shm-thread',
    label: 'ShmChannel (threads)',
    place: 'thread',
    load: async () => (await import('./shm.mjs')).shmThread,
  },
  {
    id: 'shm-process',
    label: 'ShmChannel (processes)',
    place: 'process',
    load: async () => (await import('./shm.mjs')).shmProcess,
  },
  { id: 'mq', label: 'MqChannel', place: 'process', load: async () => (await import('./mq.mjs')).mqProcess },
  {
    id: 'unix-stream',
    label: 'Unix stream channel',
    place: 'process',
    load: async () => (await import('./sockets.mjs')).unixStream,
  },
  {
    id: 'unix-seqpacket',
    label: 'Unix seqpacket channel',
    place: 'process',
    load: async () => (await import('./sockets.mjs')).unixSeqpacket,
  },
  {
    id: 'tcp',
    label: 'TCP channel (loopback)',
    place: 'process',
    load: async () => (await import('./sockets.mjs')).tcp,
  },
  {
    id: 'memory',
    label: 'MemoryChannel (one thread)',
    place: 'local',
    load: async () => (await import('./memory.mjs')).memory,
  },
];

/**
 * id: stable key (results, --only); group: ipcx | node | peer | path | floor; place: where the other end runs;
 * load(): the implementation, imported only when used so that one broken package skips only its rows;
 * kinds / sizes / measures: where a mechanism has fewer rows than the others (with `why`); serialization: of
 * process.send's channel; transport / path: of a receive-path row.
 * @typedef {{ id: string, label: string, group: string, place: string, load: () => Promise<any>, kinds?: string[], sizes?: number[], measures?: string[], why?: string, serialization?: 'json' | 'advanced', transport?: string, path?: string }} Mechanism
 * @type {Mechanism[]}
 */
export const MECHANISMS = [
  {
    id: 'shm-thread',
    label: 'ShmChannel (threads)',
    group: 'ipcx',
    place: 'thread',
    load: async () => (await import('./shm.mjs')).shmThread,
  },
  {
    id: 'shm-process',
    label: 'ShmChannel (processes)',
    group: 'ipcx',
    place: 'process',
    load: async () => (await import('./shm.mjs')).shmProcess,
  },
  {
    id: 'mq',
    label: 'MqChannel',
    group: 'ipcx',
    place: 'process',
    load: async () => (await import('./mq.mjs')).mqProcess,
  },
  {
    id: 'sysv-mq',
    label: 'SysvChannel (System V msg queue)',
    group: 'ipcx',
    place: 'process',
    load: async () => (await import('./sysv.mjs')).sysvMq,
  },
  {
    id: 'posix-sem',
    label: 'POSIX semaphore (native sem)',
    group: 'ipcx',
    place: 'process',
    kinds: ['raw'],
    sizes: [64],
    why: 'a semaphore carries no payload: measured once, in the 64 B column (post there, wait back)',
    load: async () => (await import('./sysv.mjs')).posixSem,
  },
  {
    id: 'sysv-sem',
    label: 'SysvSemaphoreSet (System V semaphore)',
    group: 'ipcx',
    place: 'process',
    kinds: ['raw'],
    sizes: [64],
    why: 'a semaphore carries no payload: measured once, in the 64 B column (op +1 there, op -1 back)',
    load: async () => (await import('./sysv.mjs')).sysvSem,
  },
  {
    id: 'unix-stream',
    label: 'Unix stream channel',
    group: 'ipcx',
    place: 'process',
    load: async () => (await import('./sockets.mjs')).unixStream,
  },
  {
    id: 'unix-seqpacket',
    label: 'Unix seqpacket channel',
    group: 'ipcx',
    place: 'process',
    load: async () => (await import('./sockets.mjs')).unixSeqpacket,
  },
  {
    id: 'unix-dgram',
    label: 'UnixDatagram',
    group: 'ipcx',
    place: 'process',
    load: async () => (await import('./sockets.mjs')).unixDatagram,
  },
  {
    id: 'tcp',
    label: 'TCP channel (loopback)',
    group: 'ipcx',
    place: 'process',
    load: async () => (await import('./sockets.mjs')).tcp,
  },
  {
    id: 'nats',
    label: 'NatsChannel (NATS, loopback)',
    group: 'ipcx',
    place: 'process',
    load: async () => (await import('./nats.mjs')).loadNats(),
  },
  {
    id: 'message-port',
    label: 'MessagePort',
    group: 'node',
    place: 'thread',
    load: async () => (await import('./node-threads.mjs')).messagePort,
  },
  {
    id: 'broadcast-channel',
    label: 'BroadcastChannel',
    group: 'node',
    place: 'thread',
    load: async () => (await import('./node-threads.mjs')).broadcastChannel,
  },
  {
    id: 'process-send-json',
    label: 'process.send (json)',
    group: 'node',
    place: 'process',
    serialization: 'json',
    load: async () => (await import('./node-process.mjs')).processSend('json'),
  },
  {
    id: 'process-send-advanced',
    label: 'process.send (advanced)',
    group: 'node',
    place: 'process',
    serialization: 'advanced',
    load: async () => (await import('./node-process.mjs')).processSend('advanced'),
  },
  {
    id: 'net-unix',
    label: 'net loop, Unix socket',
    group: 'node',
    place: 'process',
    load: async () => (await import('./node-process.mjs')).netLoop('unix'),
  },
  {
    id: 'net-tcp',
    label: 'net loop, TCP loopback',
    group: 'node',
    place: 'process',
    load: async () => (await import('./node-process.mjs')).netLoop('tcp'),
  },
  ...peerMechanisms(),
  ...pathMechanisms(),
  ...floorMechanisms(),
];

/**
 * The floor of JavaScript itself under ShmChannel's round trip: a bare shared-memory mailbox ping-pong with
 * the same loops (src/transports/js-floor.mjs), beside the C spin ping-pong. Round trips only.
 */
function floorMechanisms() {
  const floor = (id, label, place, name) => ({
    id,
    label,
    group: 'floor',
    place,
    kinds: ['raw'],
    measures: ['rtt'],
    why: 'the language floor under ShmChannel: round trips only (a one-slot mailbox has no one-way stream)',
    load: async () => (await import('./js-floor.mjs'))[name],
  });
  return [
    floor('js-shm-thread', 'JavaScript: shared-memory mailbox, spin (threads)', 'thread', 'jsShmThread'),
    floor('js-shm-process', 'JavaScript: shared-memory mailbox, spin (processes)', 'process', 'jsShmProcess'),
  ];
}

/**
 * Other libraries, each a row where it loads (an optional dependency, a server binary), a note where not:
 * ZeroMQ (`ipc://`, PUSH/PULL one way, REQ/REP round trips), node-ipc (Unix socket) and the `nats` client
 * through a local nats-server (publish/subscribe one way, request/reply round trips). src/transports/peers.mjs.
 */
function peerMechanisms() {
  const why = 'a peer library: raw bytes at 64 B and 1 KiB';
  const peer = (id, label, name) => ({
    id,
    label,
    group: 'peer',
    place: 'process',
    kinds: ['raw'],
    sizes: [64, 1024],
    why,
    load: async () => (await import('./peers.mjs')).load(name),
  });
  return [
    peer('zeromq', 'ZeroMQ ipc:// (PUSH/PULL, REQ/REP)', 'zeromq'),
    peer('node-ipc', 'node-ipc (Unix socket)', 'node-ipc'),
    peer('nats-client', 'NATS client (pub/sub, request/reply)', 'nats'),
  ];
}

/**
 * One row per transport and receive path, 64 B raw: `<transport>~<path>` (`shm-thread~for-await`). The
 * loops are in src/transports/paths.mjs.
 */
function pathMechanisms() {
  const rows = [];
  for (const t of PATH_TRANSPORTS) {
    for (const path of ['fast', 'receive', 'try-receive', 'for-await']) {
      rows.push({
        id: `${t.id}~${path}`,
        label: `${t.label}, ${path}`,
        group: 'path',
        transport: t.id,
        path,
        place: t.place,
        kinds: ['raw'],
        sizes: [64],
        load: async () => (await import('./paths.mjs')).withPath(await t.load(), path),
      });
    }
  }
  return rows;
}

/**
 * Mechanisms that exist in the design but have no package yet: a note in the report, no row. (pubsub is a
 * fan-out, not a channel: its rows are in its own bench, src/pubsub/cli.mjs, `npm run bench:pubsub`.)
 */
export const PLANNED = [];

export const KINDS = ['raw', 'object'];

export function mechanism(id) {
  const found = MECHANISMS.find((m) => m.id === id);
  if (!found) throw new Error(`unknown mechanism ${id}`);
  return found;
}
