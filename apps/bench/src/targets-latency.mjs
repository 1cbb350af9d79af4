// Issue 15's targets between rows of the main pass (checked like the others, on back-to-back pairs): round
// trips of the socket channels against process.send and node-ipc, MqChannel with `await receive()` against
// the NATS client, and ShmChannel against the C spin ping-pong. A target's `floor` is a row measured in the
// same pairs and reported beside the verdict: for ShmChannel, the bare JavaScript mailbox ping-pong
// (src/transports/js-floor.mjs), so the report shows how much of the distance to C is the language's. The
// receive-path targets (issue 13's 1.5x, issue 15's 1.2x) and idle CPU are judged in their own sections
// (src/sections.mjs).
const PROCESS_SEND = [['process-send-json/raw'], ['process-send-advanced/raw']];

// Beside each socket target, the channel against the C ping-pong whose receiver spins as the channels do
// (c/sock_spin.h): the kernel's limit for a spinning socket transport, so the report shows how much of the
// distance to 1/5 of process.send is ours and how much is the syscalls'.
const floorTarget = (row, name, cRow, cName) => ({
  text: `${name}: 64 B round trip (p50) within 2x of the C ${cName} ping-pong with a spinning recv`,
  ours: [row, 64, 'rtt'],
  theirs: [[cRow]],
  atMost: 2,
});

const socketTargets = (row, name, bound, fraction) => [
  {
    text: `${name}: 64 B round trip (p50) at most ${fraction} of process.send's (best of json, advanced)`,
    ours: [row, 64, 'rtt'],
    theirs: PROCESS_SEND,
    atMost: bound,
  },
  {
    text: `${name}: 64 B round trip (p50) at most ${fraction} of node-ipc's`,
    ours: [row, 64, 'rtt'],
    theirs: [['node-ipc/raw']],
    atMost: bound,
  },
];

export const LATENCY_TARGETS = [
  ...socketTargets('unix-stream/raw', 'Unix stream channel', 0.2, '1/5'),
  floorTarget('unix-stream/raw', 'Unix stream channel', 'c-unix-stream-spin/raw', 'Unix stream'),
  ...socketTargets('unix-seqpacket/raw', 'Unix seqpacket channel', 0.2, '1/5'),
  floorTarget('unix-seqpacket/raw', 'Unix seqpacket channel', 'c-seqpacket-spin/raw', 'Unix seqpacket'),
  ...socketTargets('tcp/raw', 'TCP channel', 0.333, '1/3'),
  floorTarget('tcp/raw', 'TCP channel', 'c-tcp-spin/raw', 'TCP loopback'),
  {
    text: 'MqChannel with `await receive()`: 64 B messages/s ahead of the NATS client through its broker',
    ours: ['mq~receive/raw', 64, 'throughput'],
    theirs: [['nats-client/raw']],
    atLeast: 1,
  },
  {
    text: 'ShmChannel between processes: 64 B round trip (p50) within 2x of the C shared-memory spin ping-pong',
    ours: ['shm-process/raw', 64, 'rtt'],
    theirs: [['c-shm-spin/raw']],
    floor: 'js-shm-process/raw',
    atMost: 2,
  },
  {
    text: 'ShmChannel between threads: 64 B round trip (p50) within 2x of the C shared-memory spin ping-pong',
    ours: ['shm-thread/raw', 64, 'rtt'],
    theirs: [['c-shm-spin/raw']],
    floor: 'js-shm-thread/raw',
    atMost: 2,
  },
];
