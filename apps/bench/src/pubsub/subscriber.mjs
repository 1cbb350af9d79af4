// One subscriber process of the fan-out bench: receives the topic's updates through one mechanism, measures the
// publish-to-read latency of every update it sees, and prints one JSON line with what it saw.
// argv[2]: mechanism id; argv[3]: JSON { final, warmup?, topic?, address?, port?, dir? }; the first `warmup` updates
// received are not counted in p50 and p99 (a new process's first updates run cold code).
// An update is { seq, t, s, pad } (t: publish time, s: start of the run, both CLOCK_MONOTONIC ns); a probe is
// { probe: true } (the subscriber is ready once one came through); { done: true } ends a run that lost updates.
const [mechanism, configText] = process.argv.slice(2);
const config = JSON.parse(configText);
const clock = () => Number(process.hrtime.bigint());
const say = (message) => process.stdout.write(`${JSON.stringify(message)}\n`);

let received = 0;
let lastSeq = 0;
let backwards = 0;
let lastAt = 0;
let start = 0;
let latencies = new Float64Array(1024);
let ready = false;
let finished = false;
let stop = () => {};

function markReady() {
  if (ready) return;
  ready = true;
  say({ event: 'ready' });
}

function onUpdate(update) {
  const at = clock();
  if (update.probe) return markReady();
  if (update.done) return finish();
  if (update.seq <= lastSeq) {
    backwards++;
    return;
  }
  if (received === latencies.length) {
    const grown = new Float64Array(received * 2);
    grown.set(latencies);
    latencies = grown;
  }
  latencies[received++] = at - update.t;
  lastSeq = update.seq;
  lastAt = at;
  start = update.s;
  if (update.seq === config.final) finish();
}

function finish() {
  if (finished) return;
  finished = true;
  const sorted = latencies.subarray(Math.min(config.warmup ?? 0, received), received).sort();
  const n = sorted.length;
  const pick = (q) => (n === 0 ? null : sorted[Math.min(n - 1, Math.floor(q * n))] / 1000);
  say({
    event: 'result',
    received,
    counted: n,
    lastSeq,
    backwards,
    atLatest: lastSeq === config.final,
    p50: pick(0.5),
    p99: pick(0.99),
    perSecond: received > 0 && lastAt > start ? received / ((lastAt - start) / 1e9) : 0,
  });
  Promise.resolve(stop()).finally(() => process.exit(0));
}

const decode = (bytes) => JSON.parse(Buffer.from(bytes).toString('utf8'));

if (mechanism === 'ipcx-pubsub') {
  const { Subscriber } = await import('@ipcx/pubsub');
  const sub = await Subscriber.open(config.topic, { from: 'new', timeout: 30_000, dir: config.dir });
  stop = () => sub.close();
  markReady();
  for await (const { value } of sub) {
    onUpdate(value);
    if (finished) break;
  }
} else if (mechanism === 'ipcx-unix-stream') {
  const { UnixSocket } = await import('@ipcx/sockets');
  const channel = await UnixSocket.connect(config.address, { timeout: 30_000 });
  stop = () => channel.destroy();
  for await (const update of channel) {
    onUpdate(update);
    if (finished) break;
  }
} else if (mechanism === 'ipcx-shm-channel') {
  const { ShmChannel } = await import('@ipcx/shm');
  let channel;
  for (const name of config.names) {
    try {
      channel = await ShmChannel.open(name);
      break;
    } catch (error) {
      if (error?.code !== 'IPCX_ERR_ALREADY_EXISTS') throw error;
    }
  }
  if (!channel) throw new Error('every ShmChannel end was taken');
  stop = () => channel.destroy();
  for await (const update of channel) {
    onUpdate(update);
    if (finished) break;
  }
} else if (mechanism === 'process-send') {
  process.on('message', onUpdate);
  stop = () => process.disconnect();
  markReady();
} else if (mechanism === 'zeromq') {
  const zmq = await import('zeromq');
  const sock = new zmq.Subscriber();
  sock.connect(config.address);
  sock.subscribe();
  stop = () => sock.close();
  for await (const [bytes] of sock) {
    onUpdate(decode(bytes));
    if (finished) break;
  }
} else if (mechanism === 'nats') {
  const { connect } = await import('nats');
  const nc = await connect({ servers: `127.0.0.1:${config.port}` });
  stop = () => nc.close();
  nc.subscribe('state', { callback: (_error, message) => onUpdate(decode(message.data)) });
  await nc.flush();
  markReady();
} else if (mechanism === 'nats-kv') {
  const { connect } = await import('nats');
  const nc = await connect({ servers: `127.0.0.1:${config.port}` });
  stop = () => nc.close();
  const kv = await nc.jetstream().views.kv('bench');
  const watch = await kv.watch({ key: 'state', include: /** @type {any} */ ('updates') });
  markReady();
  for await (const entry of watch) {
    onUpdate(decode(entry.value));
    if (finished) break;
  }
} else if (mechanism === 'node-ipc') {
  const { default: ipc } = await import('node-ipc');
  ipc.config.id = `sub${process.pid}`;
  ipc.config.silent = true;
  ipc.config.maxRetries = 0;
  ipc.connectTo('ipcxbench', config.address, () => {
    ipc.of.ipcxbench.on('u', onUpdate);
  });
  stop = () => ipc.disconnect('ipcxbench');
} else {
  throw new Error(`unknown mechanism ${mechanism}`);
}
