// The report's sections for issues 13 and 15: receive paths beside the fast path and the C floor, the peer
// libraries, fan-out to 1 and 4 subscribers, and idle CPU. Each section states its targets as met or missed
// with the numbers; `sectionTargets` gives the same verdicts for results.json (and bench:compare).
import { median } from './stats.mjs';
import { format } from './targets.mjs';
import { PATH_TRANSPORTS } from './transports/index.mjs';
import { PATHS, PATH_NAMES } from './transports/paths.mjs';

const FOR_AWAIT_BOUND = 1.5; // issue 13: for-await within 1.5x of the fast path
const PATH_BOUND = 1.2; // issue 15: every receive path within 1.2x of the best one
const IDLE_BOUND = 1; // issue 15: under 1% of a core
const USER_PATHS = ['receive', 'try-receive', 'for-await'];
const ONE_CALL = 'one syscall per message';
// The spinning rows receive as ipcx's socket channels do, so they are the floor of those channels.
const SPIN_RECV = '`recv(MSG_DONTWAIT)` and `sched_yield()` for up to 50 µs, then `poll`';
const FLOOR = [
  ['c-shm-spin/raw', 'C shared memory, spin', ONE_CALL],
  ['c-futex/raw', 'C shared memory, futex', ONE_CALL],
  ['c-eventfd/raw', 'C eventfd', ONE_CALL],
  ['c-pipe/raw', 'C pipe', ONE_CALL],
  ['c-unix-stream/raw', 'C Unix stream', ONE_CALL],
  ['c-unix-stream-spin/raw', 'C Unix stream, spinning recv', SPIN_RECV],
  ['c-seqpacket-spin/raw', 'C Unix seqpacket, spinning recv', SPIN_RECV],
  ['c-tcp-spin/raw', 'C TCP loopback, spinning recv', SPIN_RECV],
  ['c-mq/raw', 'C POSIX mq', ONE_CALL],
];
const PEERS = [
  ['process-send-json/raw', 'process.send (json)'],
  ['process-send-advanced/raw', 'process.send (advanced)'],
  ['message-port/raw', 'MessagePort (threads)'],
  ['zeromq/raw', 'ZeroMQ ipc:// (PUSH/PULL, REQ/REP)'],
  ['node-ipc/raw', 'node-ipc (Unix socket)'],
  ['nats-client/raw', 'NATS client (local nats-server)'],
  ['nats/raw', 'ipcx NatsChannel (local nats-server)'],
  ['unix-stream/raw', 'ipcx Unix stream channel'],
  ['unix-seqpacket/raw', 'ipcx Unix seqpacket channel'],
  ['tcp/raw', 'ipcx TCP channel'],
  ['mq/raw', 'ipcx MqChannel'],
  ['shm-process/raw', 'ipcx ShmChannel (processes)'],
  ['shm-thread/raw', 'ipcx ShmChannel (threads)'],
];

const get = (results, row, size, measure) =>
  results.find((r) => r.row === row && r.size === size && r.measure === measure);
const msgs = (r) => r?.msgsPerSec.median;
const p50 = (r) => r?.p50Us.median;
const x = (v) => (v === undefined || !Number.isFinite(v) ? '–' : `${v.toFixed(2)}x`);
const n = (v) => (v === undefined ? '–' : format(v));
const verdict = (met) => (met === undefined ? 'not measured' : met ? '**met**' : '**missed**');

/**
 * The receive-path figures of one transport: per path, 64 B msg/s and RTT p50/p99; the ratios "cost against
 * the fast path" and "cost against the best path" (1 is the best; above 1 is slower), and the verdicts.
 */
/**
 * @typedef {{ path: string, tp: any, rtt: any, tpVsFast?: number, rttVsFast?: number, tpVsBest?: number, rttVsBest?: number }} PathFigure
 * @returns {PathFigure[]}
 */
export function pathFigures(results, transport) {
  /** @type {PathFigure[]} */
  const paths = PATHS.map((path) => {
    const row = `${transport}~${path}/raw`;
    return { path, tp: get(results, row, 64, 'throughput'), rtt: get(results, row, 64, 'rtt') };
  });
  const fast = paths.find((p) => p.path === 'fast') ?? { path: 'fast', tp: undefined, rtt: undefined };
  const user = paths.filter((p) => USER_PATHS.includes(p.path));
  const bestTp = Math.max(...user.map((p) => msgs(p.tp) ?? -Infinity));
  const bestRtt = Math.min(...user.map((p) => p50(p.rtt) ?? Infinity));
  for (const p of paths) {
    p.tpVsFast = msgs(p.tp) && msgs(fast.tp) ? msgs(fast.tp) / msgs(p.tp) : undefined;
    p.rttVsFast = p50(p.rtt) && p50(fast.rtt) ? p50(p.rtt) / p50(fast.rtt) : undefined;
    p.tpVsBest = msgs(p.tp) && Number.isFinite(bestTp) ? bestTp / msgs(p.tp) : undefined;
    p.rttVsBest = p50(p.rtt) && Number.isFinite(bestRtt) ? p50(p.rtt) / bestRtt : undefined;
  }
  return paths;
}

/** The transports whose receive-path rows ran in the main pass, with those paths (for `runPathRounds`). */
export function measuredPaths(rows) {
  return PATH_TRANSPORTS.flatMap((t) => {
    const paths = PATHS.filter((path) => rows.some((r) => r.id === `${t.id}~${path}/raw`));
    return paths.length > 1 ? [{ transport: t.id, paths }] : [];
  });
}

/**
 * A path's cost over another's in one round of `runPathRounds` (msg/s for throughput, the p50 in ns for round
 * trips): above 1 is slower.
 */
const costOver = (measure, path, other) => (measure === 'throughput' ? other / path : path / other);

/**
 * The per-round ratios of one transport and measure from the back-to-back rounds: for-await over the fast path,
 * and the worst user path over the best one (with which path was worst); undefined without rounds.
 */
function roundRatios(report, transport, measure) {
  const found = (report.pathRounds ?? []).find((r) => r.transport === transport && r.measure === measure);
  if (!found || found.rounds.length === 0) return undefined;
  const forAwait = [];
  const spread = [];
  const worst = [];
  for (const round of found.rounds) {
    if (round['for-await'] !== undefined && round.fast !== undefined)
      forAwait.push(costOver(measure, round['for-await'], round.fast));
    const user = USER_PATHS.filter((p) => round[p] !== undefined);
    if (user.length < 2) continue;
    // The best path of the round: for msg/s the most, for round trips the shortest.
    const figures = user.map((p) => round[p]);
    const best = measure === 'throughput' ? Math.max(...figures) : Math.min(...figures);
    const against = figures.map((f) => costOver(measure, f, best));
    const at = against.indexOf(Math.max(...against));
    spread.push(against[at]);
    worst.push(user[at]);
  }
  return { forAwait, spread, worst };
}

/** "1.23x, median of 6 back-to-back rounds (1.10–1.40, 2 of them within the bound)". */
function roundsText(values, bound) {
  const v = median(values);
  const met = v <= bound;
  const against = values.filter((r) => r <= bound !== met).length;
  return (
    `${x(v)}, median of ${values.length} back-to-back rounds (${Math.min(...values).toFixed(2)}–${Math.max(...values).toFixed(2)}` +
    `${against > 0 ? `, ${against} of them ${met ? 'beyond' : 'within'} the bound` : ''})`
  );
}

/** The path named worst in the most rounds. */
function mostOften(paths) {
  const counts = new Map();
  for (const p of paths) counts.set(p, (counts.get(p) ?? 0) + 1);
  return [...counts].sort((a, b) => b[1] - a[1])[0]?.[0];
}

/** The verdicts of the receive-path, fan-out and idle targets: [{ text, met, detail }]. */
export function sectionTargets(report) {
  const targets = [];
  for (const t of PATH_TRANSPORTS) {
    const paths = pathFigures(report.results, t.id);
    if (paths.every((p) => !p.tp && !p.rtt)) continue; // not selected in this run
    const forAwait = paths.find((p) => p.path === 'for-await');
    for (const [measure, key, roundMeasure] of /** @type {const} */ ([
      ['msg/s', 'tpVsFast', 'throughput'],
      ['round trip p50', 'rttVsFast', 'rtt'],
    ])) {
      const main = forAwait?.[key];
      const rounds = roundRatios(report, t.id, roundMeasure)?.forAwait;
      const v = rounds?.length ? median(rounds) : main;
      const mainText = `${x(main)} the fast path's cost`;
      targets.push({
        text: `${t.label}: for await, 64 B ${measure} within ${FOR_AWAIT_BOUND}x of the fast path (issue 13)`,
        met: v === undefined ? undefined : v <= FOR_AWAIT_BOUND,
        ratio: v,
        detail:
          v === undefined
            ? 'not measured in this run'
            : rounds?.length
              ? `${roundsText(rounds, FOR_AWAIT_BOUND)}; main pass medians: ${mainText}`
              : `${mainText} (main pass medians)`,
      });
    }
    for (const [measure, key, roundMeasure] of /** @type {const} */ ([
      ['msg/s', 'tpVsBest', 'throughput'],
      ['round trip p50', 'rttVsBest', 'rtt'],
    ])) {
      const user = paths.filter((p) => USER_PATHS.includes(p.path) && p[key] !== undefined);
      const worst = user.sort((a, b) => (b[key] ?? 0) - (a[key] ?? 0))[0];
      const main = worst?.[key];
      const best = user.find((p) => p[key] === 1);
      const rounds = roundRatios(report, t.id, roundMeasure);
      const v = rounds?.spread.length ? median(rounds.spread) : main;
      const mainText = `worst: ${PATH_NAMES[worst?.path]} at ${x(main)} the best`;
      targets.push({
        text: `${t.label}: every receive path's 64 B ${measure} within ${PATH_BOUND}x of the best one (issue 15)`,
        met: v === undefined ? undefined : v <= PATH_BOUND,
        ratio: v,
        detail:
          v === undefined
            ? 'not measured in this run'
            : (rounds?.spread.length
                ? `the worst over the best of each round ${roundsText(rounds.spread, PATH_BOUND)}, worst most often: ${PATH_NAMES[mostOften(rounds.worst)]}; main pass medians: ${mainText}`
                : `${mainText} (main pass medians)`) +
              (key === 'tpVsBest'
                ? awaitFloor(report.awaitNs, 1e9 / msgs(best?.tp), 'a message')
                : awaitFloor(report.awaitNs, p50(best?.rtt) * 1000, 'a round trip')),
      });
    }
  }
  for (const subscribers of [1, 4]) {
    const paced = (report.fanout?.rows ?? []).filter(
      (r) => r.mode === 'paced' && r.subscribers === subscribers && r.p50 !== null,
    );
    const peers = paced.filter((r) => !r.mechanism.startsWith('ipcx'));
    for (const ours of paced.filter((r) => r.mechanism.startsWith('ipcx'))) {
      for (const q of ['p50', 'p99']) {
        const best = [...peers].sort((a, b) => a[q] - b[q])[0];
        targets.push({
          text: `${ours.label}: paced delivery to ${subscribers} subscriber${subscribers > 1 ? 's' : ''}, ${q} no worse than the best peer (issue 15)`,
          met: best ? ours[q] <= best[q] : undefined,
          ratio: best ? ours[q] / best[q] : undefined,
          detail: best ? `${ours[q].toFixed(0)} µs vs ${best[q].toFixed(0)} µs for ${best.label}` : 'no peer measured',
        });
      }
    }
  }
  for (const r of (report.idle?.rows ?? []).filter((r) => r.transport !== 'none')) {
    targets.push({
      text: `${r.label}: idle CPU with a receiver waiting (${r.path}) under ${IDLE_BOUND}% of a core (issue 15)`,
      met: r.cpuPercent < IDLE_BOUND,
      ratio: r.cpuPercent,
      detail: `${r.cpuPercent.toFixed(2)}% over ${report.idle.seconds} s`,
    });
  }
  return targets;
}

/**
 * What one more `await` per message would cost the best path: its cost per message (ns: 1e9 / msg/s, or the
 * round trip) against that plus one await of this run (`awaitNs`). '' when either is unknown.
 */
function awaitFloor(awaitNs, bestNs, per) {
  if (!(awaitNs > 0) || !(bestNs > 0)) return '';
  return `; one \`await\` costs ${format(awaitNs)} ns here, so one more per message would put the best path (${format(bestNs)} ns ${per}) at ${x((bestNs + awaitNs) / bestNs)}`;
}

/** Markdown lines of every section, appended to report.md. */
export function renderSections(report) {
  const lines = [];
  const { results } = report;
  const floor = FLOOR.map(([row, name, how]) => ({
    name,
    how,
    r: get(results, row, 64, 'rtt'),
    tp: get(results, row, 64, 'throughput'),
  })).filter((f) => f.r || f.tp);

  lines.push('## Receive paths (issues 13 and 15)', '');
  lines.push(
    'Each transport driven the ways users write their loops, 64 B raw, both ends on the same path: ' +
      '**fast** `trySend` (awaiting `send` when it returns false) and `tryReceive()` (awaiting `receive()` when nothing waits); ' +
      '**receive** `await send()` and `await receive()`; **try-receive** `await send()`, `tryReceive()` then `await receive()`; ' +
      '**for-await** `await send()` and `for await (const m of ch)`. "vs fast": the path\'s cost over the fast path\'s ' +
      `(target for for-await ≤ ${FOR_AWAIT_BOUND}x, issue 13); "vs best": over the best of the three user paths (target ≤ ${PATH_BOUND}x, issue 15). ` +
      'Main-pass medians; the C rows below are the floor of the same run. ' +
      "The targets are judged like the others on back-to-back runs: after the main pass, each transport's paths run again one after another, " +
      'in rounds (the order turned each round), and a verdict is the median over the rounds of the ratio within each round (see Targets).' +
      (report.awaitNs > 0
        ? ` One \`await\` of a settled promise took ${format(report.awaitNs)} ns in this run: the least a path pays per message for awaiting each one, ` +
          'which is why the paths that await every message trail the best one by more than 1.2x wherever a message costs less than five awaits.'
        : ''),
    '',
  );
  lines.push('| transport | path | 64 B msg/s | vs fast | vs best | RTT p50 / p99 µs | vs fast | vs best |');
  lines.push('| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const t of PATH_TRANSPORTS) {
    for (const p of pathFigures(results, t.id)) {
      if (!p.tp && !p.rtt) continue;
      const user = USER_PATHS.includes(p.path);
      lines.push(
        `| ${t.label} | ${PATH_NAMES[p.path]} | ${n(msgs(p.tp))} | ${x(p.tpVsFast)} | ${user ? x(p.tpVsBest) : ''} | ` +
          `${p.rtt ? `${n(p50(p.rtt))} / ${n(p.rtt.p99Us.median)}` : '–'} | ${x(p.rttVsFast)} | ${user ? x(p.rttVsBest) : ''} |`,
      );
    }
  }
  if (floor.length > 0) {
    for (const f of floor)
      lines.push(
        `| ${f.name} (floor) | ${f.how} | ${n(msgs(f.tp))} | | | ${f.r ? `${n(p50(f.r))} / ${n(f.r.p99Us.median)}` : '–'} | | |`,
      );
  }
  lines.push('');

  lines.push('## Against the peers (issue 15)', '');
  lines.push(
    'Raw bytes between two processes (MessagePort: two threads), each library driven as its documentation shows ' +
      '(ZeroMQ `await push.send` / `await pull.receive`, REQ/REP; node-ipc `emit` with a string of the same length; ' +
      'NATS `publish` / subscription callback, `request` / `respond`; the built-ins and node-ipc and NATS one way under a window of ' +
      `${report.method?.postMessageWindow ?? 256} unacknowledged messages). ipcx rows are the main rows (fast sender, \`await send(); await receive()\` round trips).`,
    '',
  );
  lines.push('| mechanism | 64 B msg/s | 1 KiB msg/s | 64 B RTT p50 / p99 µs | 1 KiB RTT p50 / p99 µs |');
  lines.push('| --- | ---: | ---: | ---: | ---: |');
  for (const [row, name] of PEERS) {
    const cells = [64, 1024].map((size) => get(results, row, size, 'throughput'));
    const rtts = [64, 1024].map((size) => get(results, row, size, 'rtt'));
    if (cells.every((c) => !c) && rtts.every((c) => !c)) continue;
    lines.push(
      `| ${name} | ${cells.map((c) => n(msgs(c))).join(' | ')} | ${rtts.map((r) => (r ? `${n(p50(r))} / ${n(r.p99Us.median)}` : '–')).join(' | ')} |`,
    );
  }
  lines.push('');

  const fanout = report.fanout;
  if (fanout) {
    lines.push('## Fan-out to 1 and 4 subscriber processes (issue 15)', '');
    lines.push(
      'From the fan-out bench (src/pubsub/cli.mjs) run inside this one: one publisher, each subscriber a process; ' +
        'flat out, and paced at one update per millisecond (mechanisms taking turns, round after round; the median of the rounds; the first updates of each round, which new subscriber processes run cold, not counted); publish-to-read latency in µs (p50: median over subscribers; p99: the worst subscriber).',
      '',
    );
    if (fanout.wake?.rttP50)
      lines.push(
        `C eventfd ping-pong in that run: ${fanout.wake.rttP50.toFixed(1)} µs round trip p50 (the wake-up floor).`,
        '',
      );
    lines.push('| mode | subscribers | mechanism | p50 µs | p99 µs | updates/s per subscriber | delivered |');
    lines.push('| --- | ---: | --- | ---: | ---: | ---: | ---: |');
    for (const r of fanout.rows) {
      lines.push(
        `| ${r.mode} | ${r.subscribers} | ${r.label} | ${r.p50 === null ? '–' : r.p50.toFixed(0)} | ${r.p99 ? r.p99.toFixed(0) : '–'} | ${n(r.perSecond)} | ${(r.delivered * 100).toFixed(0)}% |`,
      );
    }
    lines.push('');
  }

  const idle = report.idle;
  if (idle) {
    lines.push('## Idle CPU (issue 15)', '');
    lines.push(
      `Each transport with a receiver waiting and no traffic for ${idle.seconds} s (after 100 ms to get past any spin), both ends in one process; ` +
        `CPU of the whole process (every thread) as % of one core, from process.cpuUsage. Target: under ${IDLE_BOUND}%.`,
      '',
    );
    lines.push('| transport | waiting in | CPU % of a core |', '| --- | --- | ---: |');
    for (const r of idle.rows)
      lines.push(
        `| ${r.label} | ${r.path === '–' ? '–' : r.path === 'receive' ? '`await receive()`' : '`for await`'} | ${r.cpuPercent.toFixed(2)} |`,
      );
    lines.push('');
  }

  const verdicts = report.sectionTargets ?? sectionTargets(report);
  if (verdicts.length > 0) {
    lines.push('## Targets of these sections', '', '| target | result | measured |', '| --- | --- | --- |');
    for (const t of verdicts) lines.push(`| ${t.text} | ${verdict(t.met)} | ${t.detail} |`);
    lines.push('');
  }
  return lines;
}
