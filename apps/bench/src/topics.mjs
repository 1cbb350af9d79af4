#!/usr/bin/env node
// npm run bench:topics [-- --quick] [--out=FILE]
// One topic, the same workload, side by side: @ipcx/pubsub on this machine (when the package is built) and
// @ipcx/nats over a nats-server on loopback (started here, killed at exit; rows skipped with a note when the
// binary is missing). Publisher and subscriber are in this process, each with its own connection for NATS.
//   - publish -> seen: one `await publish(value)`, then `await sub.next()` for that revision; p50/p99 µs.
//   - revisions/s: `await publish(value)` in a loop (each acknowledged) while the subscriber reads; timed until
//     the subscriber has seen the last revision.
// Writes a markdown table to stdout and, with --out, to FILE.
import { writeFileSync } from 'node:fs';
import { machineInfo } from './machine.mjs';
import { summarize } from './stats.mjs';

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const out = args.find((a) => a.startsWith('--out='))?.slice(6);
const RUNS = quick ? 2 : 5;
const SECONDS = quick ? 0.3 : 1;
const SIZES = [64, 1024];

/** A value of about `size` bytes once msgpack-encoded. */
const valueOfSize = (size) => ({ price: 42.5, at: 1_700_000_000_000, pad: 'x'.repeat(Math.max(0, size - 30)) });

const notes = [];
const rows = [];
let topicCounter = 0;
const topicName = (what) => `ipcx-bench-${process.pid}-${++topicCounter}-${what}`;

async function natsSide() {
  let nats;
  let testing;
  try {
    nats = await import('@ipcx/nats');
    testing = await import('@ipcx/nats/testing');
  } catch (error) {
    notes.push(`NATS KV: no row, @ipcx/nats could not be loaded (${String(error.message).split('\n')[0]})`);
    return undefined;
  }
  if (!testing.natsServerAvailable()) {
    notes.push('NATS KV: no row, nats-server is not installed (apt-get install nats-server)');
    return undefined;
  }
  const server = await testing.startNatsServer();
  return {
    label: 'NatsPublisher -> NatsSubscriber (NATS KV, loopback)',
    async open(size) {
      const topic = topicName(`nats-${size}`);
      const pub = await nats.Publisher.create(topic, { servers: server.url });
      const sub = await nats.Subscriber.open(topic, { servers: server.url, from: 'new' });
      return { pub, sub };
    },
    stop: () => server.stop(),
  };
}

async function pubsubSide() {
  let pubsub;
  try {
    pubsub = await import('@ipcx/pubsub');
  } catch {
    notes.push('pubsub (local): no row, @ipcx/pubsub is not built yet');
    return undefined;
  }
  return {
    label: 'Publisher -> Subscriber (@ipcx/pubsub, this machine)',
    async open(size) {
      const topic = topicName(`local-${size}`);
      const pub = await pubsub.Publisher.create(topic, { maxValueBytes: 4 * size + 1024 });
      const sub = await pubsub.Subscriber.open(topic, { from: 'new' });
      return { pub, sub };
    },
    stop: async () => {},
  };
}

async function publishToSeen(pub, sub, value, seconds) {
  const latencies = [];
  const end = performance.now() + seconds * 1000;
  while (performance.now() < end) {
    const t = process.hrtime.bigint();
    const revision = await pub.publish(value);
    for (;;) if ((await sub.next({ timeout: 10_000 })).revision >= revision) break;
    latencies.push(Number(process.hrtime.bigint() - t) / 1000);
  }
  latencies.sort((a, b) => a - b);
  return { p50: latencies[Math.floor(latencies.length / 2)], p99: latencies[Math.floor(latencies.length * 0.99)] };
}

async function revisionsPerSecond(pub, sub, value, seconds) {
  const started = performance.now();
  const end = started + seconds * 1000;
  let count = 0;
  let last = 0;
  while (performance.now() < end) {
    last = await pub.publish(value);
    count++;
  }
  // Timed until the subscriber has the last revision (it reads what waits; a reader far behind skips to the newest).
  while ((await sub.next({ timeout: 10_000 })).revision < last);
  return count / ((performance.now() - started) / 1000);
}

const format = (n) =>
  n >= 1e6
    ? `${(n / 1e6).toFixed(2)} M`
    : n >= 1e4
      ? `${(n / 1e3).toFixed(1)} k`
      : n >= 100
        ? n.toFixed(0)
        : n.toFixed(1);

const sides = /** @type {any[]} */ ([await pubsubSide(), await natsSide()].filter(Boolean));
try {
  for (const side of sides) {
    for (const size of SIZES) {
      const value = valueOfSize(size);
      const { pub, sub } = await side.open(size);
      try {
        await publishToSeen(pub, sub, value, SECONDS / 2); // warm-up
        const p50s = [];
        const p99s = [];
        const rates = [];
        for (let i = 0; i < RUNS; i++) {
          const { p50, p99 } = await publishToSeen(pub, sub, value, SECONDS);
          p50s.push(p50);
          p99s.push(p99);
          rates.push(await revisionsPerSecond(pub, sub, value, SECONDS));
        }
        rows.push({ label: side.label, size, p50: summarize(p50s), p99: summarize(p99s), rate: summarize(rates) });
        console.error(`${side.label} ${size} B done`);
      } finally {
        await sub.close();
        await pub.close();
      }
    }
  }
} finally {
  for (const side of sides) await side.stop();
}

const machine = machineInfo();
const lines = [
  `# Topics: on this machine and across NATS (${quick ? 'quick' : 'full'} run, ${new Date().toISOString()})`,
  '',
  `${machine.cpu ?? ''} ${machine.cores ?? ''} cores, Node ${process.version}. Median of ${RUNS} runs (min-max).`,
  '',
  '| topic | value | publish -> seen p50 µs | p99 µs | revisions/s (each publish awaited) |',
  '| --- | ---: | ---: | ---: | ---: |',
  ...rows.map(
    (r) =>
      `| ${r.label} | ${r.size} B | ${format(r.p50.median)} (${format(r.p50.min)}-${format(r.p50.max)}) | ${format(r.p99.median)} | ${format(r.rate.median)} (${format(r.rate.min)}-${format(r.rate.max)}) |`,
  ),
  '',
  ...notes.map((n) => `- ${n}`),
];
const text = `${lines.join('\n')}\n`;
process.stdout.write(text);
if (out) writeFileSync(out, text);
process.exit(0);
