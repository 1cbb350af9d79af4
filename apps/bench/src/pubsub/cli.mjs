// The fan-out bench of @ipcx/pubsub: one publisher (this process) and 1, 4 or 16 subscriber processes, flat out
// and paced at one update per millisecond, for every mechanism side by side in one run, plus the C eventfd
// ping-pong as this machine's wake-up cost. Writes bench-results/<stamp>-pubsub/ and, for a full run,
// bench-results/latest/pubsub.md.
//
//   node src/pubsub/cli.mjs [--quick] [--only=REGEX] [--subscribers=1,4,16] [--json=FILE] [--out=DIR]
import { fork, spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { C_MECHANISMS, compileAll, findCompiler, runC } from '../c.mjs';
import { SETTINGS } from '../suite.mjs';
import { MECHANISMS } from './mechanisms.mjs';

const args = new Map(
  process.argv
    .slice(2)
    .map((a) => a.replace(/^--/, '').split('='))
    .map(([k, v]) => [k, v ?? true]),
);
const quick = args.has('quick');
const only = args.has('only') ? new RegExp(String(args.get('only'))) : undefined;
const subscriberCounts = String(args.get('subscribers') ?? '1,4,16')
  .split(',')
  .map(Number);
const FLAT_UPDATES = quick ? 2000 : 10_000;
const PACED_UPDATES = quick ? 300 : 1000;
// Each round starts new subscriber processes: their first updates run cold code (the JIT, first page touches), a
// start-up cost rather than the paced delivery a long-running subscriber sees. They are received but not counted
// in the paced figures (with 400 updates and no warm-up, the cold ones were most of a p99).
const PACED_WARMUP = quick ? 30 : 100;
// Paced rows move by tens of µs between runs minutes apart (vCPU placement, the host's load): the mechanisms take
// turns, round after round, and each row is the median of its rounds, so that they are compared under the same
// conditions.
const PACED_ROUNDS = quick ? 1 : 3;
const CHILD = fileURLToPath(new URL('./subscriber.mjs', import.meta.url));
const RESULTS = fileURLToPath(new URL('../../bench-results/', import.meta.url));
const clock = () => Number(process.hrtime.bigint());
const PAD = 'x'.repeat(64);
const log = (line) => process.stderr.write(`${line}\n`);

function start(mechanism, handle, final, warmup) {
  const config = JSON.stringify({ ...handle.config, final, warmup });
  const child = handle.fork
    ? fork(CHILD, [mechanism.id, config], { stdio: ['ignore', 'pipe', 'inherit', 'ipc'], serialization: 'json' })
    : spawn(process.execPath, [CHILD, mechanism.id, config], { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines = [];
  const waiters = new Set();
  createInterface({ input: /** @type {import('node:stream').Readable} */ (child.stdout) }).on('line', (text) => {
    try {
      lines.push(JSON.parse(text));
    } catch {
      return;
    }
    for (const w of waiters) w();
  });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  return { child, lines, waiters, exited, has: (event) => lines.some((l) => l.event === event) };
}

async function until(condition, ms, tick) {
  const end = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > end) return false;
    await tick?.();
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return true;
}

const median = (xs) => {
  const s = xs.filter((x) => typeof x === 'number').sort((a, b) => a - b);
  return s.length === 0 ? null : s[Math.floor((s.length - 1) / 2)];
};

/** One row from the rounds of a mechanism: the median of each figure (at latest: the worst round). */
function combineRounds(list) {
  if (list.length === 1) return list[0];
  return {
    ...list[0],
    rounds: list.length,
    updates: list.reduce((n, r) => n + r.updates, 0),
    publishRate: median(list.map((r) => r.publishRate)),
    finished: Math.min(...list.map((r) => r.finished)),
    p50: median(list.map((r) => r.p50)),
    p99: median(list.map((r) => r.p99)),
    perSecond: median(list.map((r) => r.perSecond)),
    delivered: median(list.map((r) => r.delivered)),
    atLatest: Math.min(...list.map((r) => r.atLatest)),
    backwards: list.reduce((n, r) => n + r.backwards, 0),
    counted: list.reduce((n, r) => n + r.counted, 0),
  };
}

async function scenario(mechanism, subscribers, mode) {
  const final = mode === 'flat' ? FLAT_UPDATES : PACED_UPDATES;
  const handle = await mechanism.open(subscribers);
  const warmup = mode === 'flat' ? 0 : PACED_WARMUP;
  const subs = Array.from({ length: subscribers }, () => start(mechanism, handle, final, warmup));
  handle.adopt?.(subs.map((s) => s.child));
  try {
    const ready = await until(
      () => subs.every((s) => s.has('ready')),
      30_000,
      handle.probes ? () => handle.probe() : undefined,
    );
    if (!ready) throw new Error('subscribers did not get ready within 30 s');
    const s = clock();
    const started = performance.now();
    if (mode === 'flat') {
      for (let seq = 1; seq <= final; seq++) {
        await handle.publish({ seq, t: clock(), s, pad: PAD });
        if (seq % 32 === 0) await new Promise((resolve) => setImmediate(resolve));
      }
    } else {
      let seq = 0;
      await new Promise((resolve, reject) => {
        const timer = setInterval(() => {
          seq++;
          Promise.resolve(handle.publish({ seq, t: clock(), s, pad: PAD })).catch(reject);
          if (seq === final) {
            clearInterval(timer);
            resolve(undefined);
          }
        }, 1);
      });
    }
    const publishSeconds = (performance.now() - started) / 1000;
    // Wait for every subscriber's result; where a mechanism dropped the last update, tell them the run is over.
    const all = () => subs.every((x) => x.has('result') || x.child.exitCode !== null);
    if (!(await until(all, mode === 'flat' ? 60_000 : 10_000))) {
      await until(all, 30_000, handle.done ? () => handle.done() : undefined);
    }
    const results = subs.map((x) => x.lines.find((l) => l.event === 'result')).filter(Boolean);
    return {
      mechanism: mechanism.id,
      label: mechanism.label,
      subscribers,
      mode,
      updates: final,
      publishRate: final / publishSeconds,
      finished: results.length,
      p50: median(results.map((r) => r.p50)),
      p99: Math.max(...results.map((r) => r.p99 ?? 0)),
      perSecond: median(results.map((r) => r.perSecond)),
      delivered: median(results.map((r) => r.received / final)),
      // Latencies in p50 and p99: what each subscriber received after its warm-up (the fewest of them).
      counted: Math.min(...results.map((r) => r.counted)),
      atLatest: results.filter((r) => r.atLatest).length,
      backwards: results.reduce((n, r) => n + r.backwards, 0),
    };
  } finally {
    for (const x of subs) if (x.child.exitCode === null) x.child.kill('SIGKILL');
    await Promise.all(subs.map((x) => x.exited));
    await handle.close();
  }
}

async function eventfdWakeup() {
  const cc = findCompiler();
  if (!cc) return { note: 'no C compiler: the eventfd ping-pong was not run' };
  const eventfd = C_MECHANISMS.find((m) => m.id === 'c-eventfd');
  const failed = compileAll(cc, [eventfd]);
  if (failed.size > 0) return { note: `eventfd.c did not compile: ${[...failed.values()][0]}` };
  const out = await runC(eventfd, 64, 'rtt', SETTINGS[quick ? 'quick' : 'full']);
  const p50 = median(out.p50) / 1000;
  return { rttP50: p50, oneWay: p50 / 2 };
}

const _fmt = (x, unit = '') =>
  x === null || x === undefined
    ? '–'
    : x >= 1000
      ? `${(x / 1000).toFixed(1)} m${unit}`
      : x >= 10
        ? `${x.toFixed(0)} ${unit}`
        : `${x.toFixed(1)} ${unit}`;
const us = (x) =>
  x === null || x === undefined
    ? '–'
    : x >= 1000
      ? `${(x / 1000).toFixed(x >= 10_000 ? 0 : 1)} ms`
      : `${x.toFixed(x >= 100 ? 0 : 1)} µs`;
const rate = (x) => (x >= 1e6 ? `${(x / 1e6).toFixed(2)} M` : x >= 1e3 ? `${(x / 1e3).toFixed(1)} k` : x.toFixed(0));

async function main() {
  const rows = [];
  const notes = [];
  const wake = /** @type {any} */ (
    await eventfdWakeup().catch((error) => ({ note: `eventfd ping-pong failed: ${error.message}` }))
  );
  if (wake.note) notes.push(wake.note);
  else log(`C eventfd ping-pong: ${us(wake.rttP50)} round trip p50`);
  for (const mode of ['flat', 'paced']) {
    for (const subscribers of subscriberCounts) {
      const rounds = mode === 'paced' ? PACED_ROUNDS : 1;
      const measured = new Map();
      const skipped = new Set();
      for (let round = 1; round <= rounds; round++) {
        for (const mechanism of MECHANISMS) {
          if ((only && !only.test(mechanism.id)) || skipped.has(mechanism.id)) continue;
          const tag = `${mode} ${subscribers} ${mechanism.id}${rounds > 1 ? ` (round ${round}/${rounds})` : ''}`;
          try {
            const row = await scenario(mechanism, subscribers, mode);
            measured.set(mechanism.id, [...(measured.get(mechanism.id) ?? []), row]);
            log(
              `${tag}: p50 ${us(row.p50)} p99 ${us(row.p99)}, ${rate(row.perSecond)}/s per subscriber, delivered ${(row.delivered * 100).toFixed(0)}%, at latest ${row.atLatest}/${subscribers}`,
            );
          } catch (error) {
            const why = error.skip ?? error.message;
            skipped.add(mechanism.id);
            measured.delete(mechanism.id);
            if (!notes.some((n) => n.includes(why))) notes.push(`${mechanism.label}: skipped: ${why}`);
            log(`${tag}: ${why}`);
          }
        }
      }
      for (const list of measured.values()) rows.push(combineRounds(list));
    }
  }
  const report = render(rows, notes, wake);
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const out = args.get('out');
  const dir = typeof out === 'string' ? `${out}/` : `${RESULTS}${stamp}-pubsub/`;
  mkdirSync(dir, { recursive: true });
  writeFileSync(`${dir}pubsub.md`, report);
  writeFileSync(`${dir}results.json`, JSON.stringify({ rows, notes, wake, quick }, null, 2));
  // --json=FILE: the same results for the main bench (src/fanout.mjs), which puts them in its own report.
  const json = args.get('json');
  if (typeof json === 'string') writeFileSync(json, JSON.stringify({ rows, notes, wake, quick }, null, 2));
  if (!quick && !only && subscriberCounts.join() === '1,4,16') {
    mkdirSync(`${RESULTS}latest/`, { recursive: true });
    writeFileSync(`${RESULTS}latest/pubsub.md`, report);
  }
  process.stdout.write(report);
}

function render(rows, notes, wake) {
  const lines = [];
  lines.push(`# Fan-out: one publisher, N subscriber processes`);
  lines.push('');
  lines.push(
    `Run ${new Date().toISOString().slice(0, 16).replace('T', ' ')} on ${cpus()[0]?.model ?? 'unknown CPU'}, ${cpus().length} cores, Node ${process.version}${quick ? ' (quick: rough figures)' : ''}.`,
  );
  lines.push(
    `Flat out: ${FLAT_UPDATES} updates published as fast as the mechanism takes them (yielding to the event loop every 32); paced: ${PACED_ROUNDS > 1 ? `${PACED_ROUNDS} rounds of ` : ''}${PACED_UPDATES} updates, one per millisecond (setInterval 1 ms), the first ${PACED_WARMUP} of each round received but not counted (the new subscribers' code runs cold)${PACED_ROUNDS > 1 ? ', the mechanisms taking turns within each round; each figure of a paced row is the median of its rounds (at latest: the worst round)' : ''}. An update is a ~100-byte object carrying its publish time; each subscriber measures publish-to-read latency of every update it reads.`,
  );
  lines.push(
    'ipcx pubsub coalesces by design: a subscriber reads the latest revision whenever it looks, so of a flat-out stream it reads a small share (its "delivered"), but it is never behind; the peers queue every update and fall behind instead (their latency grows with the backlog).',
  );
  lines.push(
    "p50: median over subscribers of each one's p50; p99: the worst subscriber's p99; updates/s: median over subscribers of the updates it read per second of the run; delivered: median share of the updates a subscriber read; at latest: subscribers whose last update was the last one published.",
  );
  if (wake.rttP50)
    lines.push(
      `This machine's wake-up cost: the C eventfd ping-pong took ${us(wake.rttP50)} per round trip (p50), ${us(wake.oneWay)} one way.`,
    );
  lines.push('');
  for (const mode of ['flat', 'paced']) {
    lines.push(`## ${mode === 'flat' ? 'Flat out' : 'Paced, 1 update/ms'}`);
    lines.push('');
    lines.push(
      '| mechanism | subscribers | p50 | p99 | updates/s per subscriber | delivered | at latest | publisher updates/s |',
    );
    lines.push('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
    for (const r of rows.filter((x) => x.mode === mode).sort((a, b) => a.subscribers - b.subscribers)) {
      const name = r.mechanism === 'ipcx-pubsub' ? `**${r.label}**` : r.label;
      lines.push(
        `| ${name} | ${r.subscribers} | ${us(r.p50)} | ${us(r.p99)} | ${rate(r.perSecond)} | ${(r.delivered * 100).toFixed(0)}% | ${r.atLatest}/${r.subscribers} | ${rate(r.publishRate)} |`,
      );
    }
    lines.push('');
  }
  lines.push('## Targets');
  lines.push('');
  for (const subscribers of subscriberCounts) {
    const flat = rows.filter((r) => r.mode === 'flat' && r.subscribers === subscribers);
    const ours = flat.find((r) => r.mechanism === 'ipcx-pubsub');
    const peers = flat.filter((r) => r.mechanism !== 'ipcx-pubsub' && r.p50 !== null);
    const best = peers.sort((a, b) => a.p50 - b.p50)[0];
    if (ours && best) {
      const met = ours.p50 <= best.p50 / 5 && ours.atLatest === subscribers;
      lines.push(
        `- flat out, ${subscribers} subscriber(s): ipcx p50 ${us(ours.p50)} vs best peer ${best.label} ${us(best.p50)} (${(ours.p50 / best.p50).toFixed(3)}x, required ≤ 0.2x), ${ours.atLatest}/${subscribers} at the latest: **${met ? 'met' : 'missed'}**`,
      );
    }
    const paced = rows.filter((r) => r.mode === 'paced' && r.subscribers === subscribers);
    const oursPaced = paced.find((r) => r.mechanism === 'ipcx-pubsub');
    const bestPaced = paced
      .filter((r) => r.mechanism !== 'ipcx-pubsub' && r.p50 !== null)
      .sort((a, b) => a.p50 - b.p50)[0];
    if (oursPaced && bestPaced) {
      const met = oursPaced.p50 <= bestPaced.p50;
      const wakeNote = wake.rttP50
        ? `; ${(oursPaced.p50 / wake.rttP50).toFixed(1)}x the eventfd round trip (target ≤ 2x: **${oursPaced.p50 <= 2 * wake.rttP50 ? 'met' : 'missed'}**)`
        : '';
      lines.push(
        `- paced, ${subscribers} subscriber(s): ipcx p50 ${us(oursPaced.p50)} vs best peer ${bestPaced.label} ${us(bestPaced.p50)}: **${met ? 'met' : 'missed'}**${wakeNote}`,
      );
    }
  }
  lines.push('');
  if (notes.length) {
    lines.push('## Notes');
    lines.push('');
    for (const n of notes) lines.push(`- ${n}`);
    lines.push('');
  }
  return lines.join('\n');
}

await main();
