// Runs the rows: for each mechanism and payload kind, one peer (worker or child process) serves every size
// and both measurements; each figure is the median of `runs` runs after warm-up, with min and max.
import { runC, C_MECHANISMS, findCompiler, compileAll } from './c.mjs';
import { Peer } from './control.mjs';
import { SIZES, payloadFor } from './payload.mjs';
import { now, percentile, summarize } from './stats.mjs';
import { KINDS, MECHANISMS, PLANNED, mechanism } from './transports/index.mjs';
import { label } from './targets.mjs';
import { MQ_DEPTH, SHM_THROUGHPUT_CAPACITY } from './transports/constants.mjs';
import { WINDOW } from './transports/window.mjs';

export const SETTINGS = {
  full: {
    runs: 5,
    warmup: 1,
    throughputSeconds: 0.25,
    rttSeconds: 0.15,
    calibrateSeconds: 0.03,
    minMessages: 200,
    maxMessages: 5_000_000,
    minRounds: 300,
    maxRounds: 50_000,
    timeoutSeconds: 120,
    pairRounds: 6,
  },
  quick: {
    runs: 3,
    warmup: 1,
    throughputSeconds: 0.02,
    rttSeconds: 0.012,
    calibrateSeconds: 0.004,
    minMessages: 20,
    maxMessages: 1_000_000,
    minRounds: 20,
    maxRounds: 5000,
    timeoutSeconds: 30,
    pairRounds: 2,
  },
};

/** The method, as the report states it. */
export function methodology(settings) {
  return {
    ...settings,
    shmThroughputRingBytes: SHM_THROUGHPUT_CAPACITY,
    mqDepth: MQ_DEPTH,
    postMessageWindow: WINDOW,
  };
}

/**
 * Runs every selected row. `only` is a RegExp tested against row ids (`shm-thread/raw`, `c-pipe/raw`);
 * `log` receives progress lines. Returns the rows, results and notes (skips and failures).
 */
/** @param {{ quick?: boolean, only?: RegExp, sizes?: number[], log?: (line: string) => void }} [options] */
export async function runSuite({ quick = false, only, sizes = SIZES, log = () => {} } = {}) {
  const settings = SETTINGS[quick ? 'quick' : 'full'];
  const rows = [];
  const results = [];
  const notes = [];
  const selected = (id) => !only || only.test(id);

  for (const m of MECHANISMS) {
    const kinds = (m.kinds ?? KINDS).filter((kind) => selected(`${m.id}/${kind}`));
    if (kinds.length === 0) continue;
    let impl;
    try {
      impl = await m.load();
    } catch (error) {
      notes.push(`${m.label}: no row, its package could not be loaded (${firstLine(error)})`);
      continue;
    }
    for (const kind of kinds) {
      const row = { id: `${m.id}/${kind}`, mechanism: m.id, label: m.label, group: m.group, place: m.place, kind };
      rows.push(row);
      await runRow(row, m, impl, { settings, sizes, results, notes, log });
    }
  }

  for (const p of PLANNED) {
    if (!selected(`${p.id}/raw`) && !selected(`${p.id}/object`)) continue;
    let landed = false;
    try {
      await import(p.package);
      landed = true;
    } catch {}
    notes.push(
      landed
        ? `${p.label}: ${p.package} exists but the bench has no row for it yet`
        : `${p.label}: not built yet (${p.package} is not installed), so no row`,
    );
  }

  const cSelected = C_MECHANISMS.filter((c) => selected(`${c.id}/raw`));
  if (cSelected.length > 0) {
    const compiler = findCompiler();
    if (!compiler) {
      notes.push('C baselines skipped: no C compiler (cc) found');
    } else {
      const failed = compileAll(compiler, cSelected);
      for (const [id, message] of failed) notes.push(`${id}: did not compile (${message})`);
      for (const c of cSelected.filter((c) => !failed.has(c.id))) {
        const row = { id: `${c.id}/raw`, mechanism: c.id, label: c.label, group: 'c', place: 'process', kind: 'raw' };
        rows.push(row);
        if (c.sizes) notes.push(`${c.label}: ${c.why}`);
        for (const size of sizes.filter((s) => !c.sizes || c.sizes.includes(s))) {
          for (const measure of ['throughput', 'rtt']) {
            log(`${row.id} ${size} B ${measure}`);
            try {
              const out = await runC(c, size, measure, settings);
              if (out.skip) {
                // One note per reason (eventfd gives the same one at every other size).
                if (!notes.some((n) => n.startsWith(`${c.label}: `) && n.endsWith(out.skip)))
                  notes.push(`${c.label}: ${label(size)} not measured: ${out.skip}`);
                continue;
              }
              const bytes = /** @type {any} */ (c).bytes?.(size) ?? size;
              if (measure === 'throughput')
                results.push(
                  throughputResult(
                    row,
                    size,
                    bytes,
                    out.n,
                    out.seconds.map((s) => out.n / s),
                  ),
                );
              else results.push(rttResult(row, size, bytes, out.rounds, out.p50, out.p99));
            } catch (error) {
              notes.push(`${c.label}: ${label(size)} ${measure} failed: ${firstLine(error)}`);
            }
          }
        }
      }
    }
  }
  return { settings, rows, results, notes };
}

/**
 * The targets' comparisons again, back to back: one run of our row and one of each row it is compared with,
 * ours first in rounds 1, 4, 5, … and last in the others (ABBA), `pairRounds` times. A round's ratio is ours
 * against the best of theirs in that round. This VM's speed drifts between phases that last seconds (1.7x
 * apart for the same C loop; a sleeping process wakes in 3 or in 45 µs), more than some targets' margins, and
 * the rows of a target can be minutes apart in the main pass; the runs of a round are not. `pairs` come from
 * `comparisons` (targets.mjs). Returns { pairs: [{ ...pair, ratios }], notes }.
 */
/**
 * @param {any[]} pairs
 * @param {{ quick?: boolean, log?: (line: string) => void }} [options]
 */
export async function runPairs(pairs, { quick = false, log = () => {} } = {}) {
  const settings = { ...SETTINGS[quick ? 'quick' : 'full'], runs: 1 };
  const ends = new Map(); // row id → { peer, impl }, kept for every pair that uses the row
  const measured = [];
  const notes = [];
  try {
    for (const pair of pairs) {
      const ratios = [];
      const floors = []; // the best of theirs in each pair
      const floorValues = []; // the target's floor row (pair.floor) in each pair, measured last
      const what = `${pair.ours} against ${pair.theirs.join(', ')} (${label(pair.size)} ${pair.measure})`;
      try {
        for (let i = 0; i < settings.pairRounds; i++) {
          log(`paired ${what}, ${i + 1} of ${settings.pairRounds}`);
          const oursFirst = i % 4 === 0 || i % 4 === 3;
          const order = oursFirst ? [pair.ours, ...pair.theirs] : [...pair.theirs, pair.ours];
          const value = new Map();
          for (const row of order) value.set(row, await measureOnce(row, pair, settings, ends));
          const theirs = pair.theirs.map((row) => value.get(row));
          const best = pair.measure === 'rtt' ? Math.min(...theirs) : Math.max(...theirs);
          ratios.push(value.get(pair.ours) / best);
          floors.push(best);
          if (pair.floor) floorValues.push(await measureOnce(pair.floor, pair, settings, ends));
        }
        measured.push({ ...pair, ratios, floors, ...(pair.floor ? { floorValues } : {}) });
      } catch (error) {
        notes.push(`paired runs of ${what} failed: ${firstSentence(error)}`);
      }
    }
  } finally {
    for (const { peer } of ends.values()) await peer.close();
  }
  return { pairs: measured, notes };
}

/**
 * The receive-path rows again, back to back: for each transport whose path rows ran in the main pass and each
 * measure, `pairRounds` rounds of one run of every path (the order turned by one each round, and reversed every
 * other round). Within a round the paths are seconds apart rather than minutes, so the section's verdicts
 * (sections.mjs) can compare paths within rounds. Returns [{ transport, measure, rounds: [{ [path]: figure }] }]:
 * msg/s for throughput, the p50 in ns for round trips.
 * @param {{ transport: string, paths: string[] }[]} transports
 * @param {{ quick?: boolean, log?: (line: string) => void }} [options]
 */
export async function runPathRounds(transports, { quick = false, log = () => {} } = {}) {
  const settings = { ...SETTINGS[quick ? 'quick' : 'full'], runs: 1 };
  const measured = [];
  const notes = [];
  for (const { transport, paths } of transports) {
    const ends = new Map();
    try {
      for (const measure of ['throughput', 'rtt']) {
        const rounds = [];
        try {
          for (let i = 0; i < settings.pairRounds; i++) {
            log(`paths of ${transport} (64 B ${measure}), round ${i + 1} of ${settings.pairRounds}`);
            const turned = paths.map((_, k) => paths[(k + i) % paths.length]);
            const order = i % 2 === 0 ? turned : turned.reverse();
            const round = {};
            for (const path of order)
              round[path] = await measureOnce(
                `${transport}~${path}/raw`,
                { size: 64, measure, metric: undefined },
                settings,
                ends,
              );
            rounds.push(round);
          }
          measured.push({ transport, measure, rounds });
        } catch (error) {
          notes.push(
            `back-to-back rounds of the ${transport} receive paths (${measure}) failed: ${firstSentence(error)}`,
          );
        }
      }
    } finally {
      for (const { peer } of ends.values()) await peer.close();
    }
  }
  return { rounds: measured, notes };
}

/** One run of one row: msg/s or MB/s (pair.metric 'mb') for throughput, the p50 in ns for round trips. */
async function measureOnce(rowId, { size, measure, metric }, settings, ends) {
  const [id, kind] = rowId.split('/');
  const c = C_MECHANISMS.find((m) => m.id === id);
  if (c) {
    const out = await runC(c, size, measure, settings);
    if (out.skip) throw new Error(out.skip);
    const bytes = /** @type {any} */ (c).bytes?.(size) ?? size;
    return measure === 'rtt' ? out.p50[0] : (out.n / out.seconds[0]) * (metric === 'mb' ? bytes : 1);
  }
  let end = ends.get(rowId);
  if (!end) {
    const m = mechanism(id);
    end = {
      impl: await m.load(),
      peer: Peer.start({ transport: id, kind, place: m.place }, { serialization: m.serialization }),
    };
    ends.set(rowId, end);
  }
  const { payload, bytes } = payloadFor(kind, size);
  const ctx = { kind, size, payload, bytes, peer: end.peer.forSize(size) };
  try {
    const what = `${rowId} ${label(size)} ${measure}`;
    if (measure === 'rtt')
      return (await withTimeout(measureRoundTrips(end.impl, ctx, settings), settings.timeoutSeconds, what)).p50[0];
    const { rates } = await withTimeout(measureThroughput(end.impl, ctx, settings), settings.timeoutSeconds, what);
    return rates[0] * (metric === 'mb' ? bytes : 1);
  } catch (error) {
    ends.delete(rowId);
    await end.peer.kill();
    throw error;
  }
}

async function runRow(row, m, impl, { settings, sizes, results, notes, log }) {
  /** @type {any} */
  let peer;
  const start = () =>
    (peer = Peer.start({ transport: m.id, kind: row.kind, place: m.place }, { serialization: m.serialization }));
  start();
  if ((m.sizes || m.measures) && m.why) notes.push(`${row.label}: ${m.why}`);
  try {
    for (const size of sizes.filter((s) => !m.sizes || m.sizes.includes(s))) {
      const { payload, bytes } = payloadFor(row.kind, size);
      for (const measure of m.measures ?? ['throughput', 'rtt']) {
        log(`${row.id} ${size} B ${measure}`);
        const ctx = { kind: row.kind, size, payload, bytes, peer: peer.forSize(size) };
        try {
          const measured =
            measure === 'throughput' ? measureThroughput(impl, ctx, settings) : measureRoundTrips(impl, ctx, settings);
          const result = await withTimeout(measured, settings.timeoutSeconds, `${row.id} ${size} B ${measure}`);
          if (measure === 'throughput') results.push(throughputResult(row, size, bytes, result.n, result.rates));
          else results.push(rttResult(row, size, bytes, result.rounds, result.p50, result.p99));
        } catch (error) {
          const what = error?.code === 'IPCX_ERR_LIMIT' ? 'not measured (kernel limit)' : 'failed';
          notes.push(
            `${row.label} (${row.kind}): ${label(size)} ${measure === 'rtt' ? 'round trip' : 'throughput'} ${what}: ${firstSentence(error)}`,
          );
          await peer.kill();
          start();
        }
      }
    }
  } finally {
    await peer.close();
  }
}

function throughputResult(row, size, bytes, n, rates) {
  return {
    row: row.id,
    size,
    bytes,
    measure: 'throughput',
    messages: n,
    msgsPerSec: summarize(rates),
    mbPerSec: summarize(rates.map((r) => (r * bytes) / 1e6)),
  };
}

function rttResult(row, size, bytes, rounds, p50ns, p99ns) {
  return {
    row: row.id,
    size,
    bytes,
    measure: 'rtt',
    rounds,
    p50Us: summarize(p50ns.map((ns) => ns / 1000)),
    p99Us: summarize(p99ns.map((ns) => ns / 1000)),
  };
}

/** Messages per second of `runs` runs, each timed from the first send to the peer's last receive. */
async function measureThroughput(impl, ctx, s) {
  const { peer } = ctx;
  const sender = await impl.sender(ctx);
  try {
    const run = async (n) => {
      peer.send({ ctl: 'n', n });
      const start = process.hrtime.bigint();
      await sender.sendN(n);
      const { t } = await peer.next('done');
      return Number(BigInt(t) - start) / 1e9;
    };
    await run(Math.min(100, s.minMessages)); // cold: first messages, page faults, JIT
    let n = Math.min(100, s.minMessages);
    let seconds;
    for (;;) {
      seconds = await run(n);
      if (seconds >= s.calibrateSeconds || n >= s.maxMessages) break;
      n = Math.min(s.maxMessages, n * 4);
    }
    let count = clamp((n / seconds) * s.throughputSeconds, s.minMessages, s.maxMessages);
    // A preempted calibration run underestimates the rate: re-aim while a warm-up run is far too short.
    for (let i = 0, aims = 0; ; i++) {
      const w = await run(count);
      if (w < s.throughputSeconds / 3 && count < s.maxMessages && aims < 3) {
        count = clamp((count / w) * s.throughputSeconds, s.minMessages, s.maxMessages);
        aims++;
        continue;
      }
      if (i + 1 >= s.warmup) break;
    }
    const rates = [];
    for (let i = 0; i < s.runs; i++) rates.push(count / (await run(count)));
    return { n: count, rates };
  } finally {
    peer.send({ ctl: 'end' });
    await sender.close();
    await peer.next('closed');
  }
}

/** p50 and p99 of each run of `rounds` round trips, each timed alone. */
async function measureRoundTrips(impl, ctx, s) {
  const { peer } = ctx;
  const client = await impl.client(ctx);
  try {
    for (let i = 0; i < Math.min(50, s.minRounds); i++) await client.roundTrip(); // cold
    let rounds = 0;
    const start = now();
    while (now() - start < s.calibrateSeconds * 1e9 && rounds < s.maxRounds) {
      await client.roundTrip();
      rounds++;
    }
    const each = (now() - start) / 1e9 / rounds;
    const count = clamp(s.rttSeconds / each, s.minRounds, s.maxRounds);
    const latencies = new Float64Array(count);
    // A client's own timed loop when it has one (ipcx channels), else one roundTrip() promise at a time.
    const run = client.timeRoundTrips
      ? () => client.timeRoundTrips(latencies, count)
      : async () => {
          for (let i = 0; i < count; i++) {
            const t = process.hrtime.bigint();
            await client.roundTrip();
            latencies[i] = Number(process.hrtime.bigint() - t);
          }
        };
    for (let i = 0; i < s.warmup; i++) await run();
    const p50 = [];
    const p99 = [];
    for (let i = 0; i < s.runs; i++) {
      await run();
      p50.push(percentile(latencies, 0.5));
      p99.push(percentile(latencies, 0.99));
    }
    return { rounds: count, p50, p99 };
  } finally {
    peer.send({ ctl: 'end' });
    await client.close();
    await peer.next('closed');
  }
}

function clamp(value, lo, hi) {
  return Math.max(lo, Math.min(hi, Math.round(value)));
}

function withTimeout(promise, seconds, what) {
  promise.catch(() => {}); // a measurement abandoned after its timeout fails later, unobserved
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took longer than ${seconds} s`)), seconds * 1000);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function firstSentence(error) {
  const line = firstLine(error);
  const end = line.indexOf('. ');
  return end > 0 ? line.slice(0, end + 1) : line;
}

export function firstLine(error) {
  return String(error?.message ?? error).split('\n')[0];
}
