// The Markdown report: machine, noise, targets, a summary table, full tables per size, charts, method, notes.
import { spread } from './stats.mjs';
import { renderSections } from './sections.mjs';
import { format, label } from './targets.mjs';

const _GROUP_NAMES = { ipcx: 'ipcx', node: 'Node built-in', c: 'C, raw syscalls' };
const PLACE_NAMES = { thread: 'threads', process: 'processes', local: 'one thread' };

export function renderReport(report) {
  const { machine, method, rows, results, ratios, targets, notes } = report;
  const get = (row, size, measure) => results.find((r) => r.row === row && r.size === size && r.measure === measure);
  const ratioOf = (row, size, measure) => ratios.find((r) => r.row === row && r.size === size && r.measure === measure);
  const rowById = new Map(rows.map((r) => [r.id, r]));
  const ordered = [...rows].sort((a, b) => groupRank(a) - groupRank(b));
  const lines = [];

  lines.push('# ipcx benchmark', '');
  lines.push(
    `${report.mode === 'quick' ? '**Quick run** (smoke test: fewer, shorter runs; figures are rough). ' : ''}` +
      `Run ${report.startedAt.replace('T', ' ').replace(/\.\d+Z$/, ' UTC')}${machine.commit ? ` at commit ${machine.commit}` : ''}, ${report.seconds} s` +
      `${report.only ? `, rows matching \`${report.only}\`` : ''}.`,
    '',
  );
  lines.push(
    `**Machine:** ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGiB} GiB; Node ${machine.node} (V8 ${machine.v8}); ` +
      `${machine.kernel} ${machine.arch}; load average ${machine.loadAverage[0]} at the start, ${machine.loadAverageAfter?.[0] ?? '?'} at the end.`,
    '',
  );
  lines.push(`**Noise:** ${noiseLine(results, method)}`, '');
  lines.push(
    'Absolute figures hold for this machine only; the ratios (ipcx against the best Node built-in of the same run, and against C) are what travel.',
    '',
  );

  lines.push('## Targets', '', ...targetsTable(targets), '');
  if (report.paired?.length > 0) {
    lines.push(
      'Each target was measured again after the main pass: one run of each of its rows back to back (ours first, then last, then last, then first, …), ' +
        `${report.paired[0].ratios.length} times. The result is the median of those pairs' ratios (the main pass's ratio is in the detail). ` +
        "The machine's speed drifts over seconds, and the rows of a target are minutes apart in the main pass; the runs of a round are not.",
      '',
      "The last two columns give theirs (the best of theirs) in each pair, and a target's floor row where it has one, measured after the pair (round trips in µs): on this VM the C ping-pongs' round trip moves in steps as the host places the two vCPUs, and the ratio moves with it.",
      '',
      '| ours | theirs | size | measure | ratio of each pair, in order | theirs in each pair | floor row in each pair |',
      '| --- | --- | --- | --- | --- | --- | --- |',
      ...report.paired.map((p) => {
        const figure = (v) => format(p.measure === 'rtt' ? v / 1000 : v);
        const floor = p.floorValues ? `${p.floor}: ${p.floorValues.map(figure).join(', ')}` : '';
        return `| ${p.ours} | ${theirsText([p.theirs].flat())} | ${label(p.size)} | ${p.measure === 'rtt' ? 'round trip p50' : p.metric === 'mb' ? 'MB/s' : 'msg/s'} | ${p.ratios.map((r) => r.toFixed(2)).join(', ')} | ${(p.floors ?? []).map(figure).join(', ')} | ${floor} |`;
      }),
      '',
    );
  }
  lines.push('## Summary', '', ...summaryTable(report), '');
  lines.push(
    '![Throughput per mechanism, log scale](throughput.svg)',
    '',
    '![Round trip per mechanism, log scale](latency.svg)',
    '',
  );

  for (const size of report.sizes) {
    lines.push(`## ${label(size)} messages`, '');
    lines.push(
      '| mechanism | where | payload | msg/s (min–max) | MB/s | vs built-in | RTT p50 µs (min–max) | RTT p99 µs | vs built-in |',
    );
    lines.push('| --- | --- | --- | ---: | ---: | --- | ---: | ---: | --- |');
    for (const row of ordered) {
      const tp = get(row.id, size, 'throughput');
      const rtt = get(row.id, size, 'rtt');
      if (!tp && !rtt) continue;
      const rt = ratioOf(row.id, size, 'throughput');
      const rr = ratioOf(row.id, size, 'rtt');
      lines.push(
        `| ${nameOf(row)} | ${PLACE_NAMES[row.place]} | ${payloadName(row, tp ?? rtt)} | ` +
          `${tp ? `${format(tp.msgsPerSec.median)} (${format(tp.msgsPerSec.min)}–${format(tp.msgsPerSec.max)})` : '–'} | ` +
          `${tp ? format(tp.mbPerSec.median) : '–'} | ${rt ? `${ratioText(rt.ratio)} ${shortName(rowById.get(rt.versus))}` : ''} | ` +
          `${rtt ? `${format(rtt.p50Us.median)} (${format(rtt.p50Us.min)}–${format(rtt.p50Us.max)})` : '–'} | ` +
          `${rtt ? format(rtt.p99Us.median) : '–'} | ${rr ? `${ratioText(rr.ratio)} ${shortName(rowById.get(rr.versus))}` : ''} |`,
      );
    }
    lines.push('');
  }

  lines.push(...renderSections(report));
  lines.push('## Method', '');
  lines.push(...methodLines(method, report.mode).map((l) => `- ${l}`), '');
  if (notes.length > 0) {
    lines.push('## Notes: rows not measured', '');
    lines.push(...notes.map((n) => `- ${n}`), '');
  }
  return lines.join('\n');
}

function theirsText(rows) {
  return rows.length > 1 ? `${rows.join(' or ')} (the better in each round)` : rows[0];
}

/** The targets as a Markdown table, met or missed with their numbers. */
export function targetsTable(targets) {
  const lines = ['| target | result | measured |', '| --- | --- | --- |'];
  for (const t of targets)
    lines.push(
      `| ${t.text} | ${t.met === undefined ? 'not measured' : t.met ? '**met**' : '**missed**'} | ${t.detail} |`,
    );
  return lines;
}

/** Every row in one Markdown table: the figures at each size and the ratios to the best Node built-in. */
export function summaryTable(report) {
  const { rows, results, ratios } = report;
  const get = (row, size, measure) => results.find((r) => r.row === row && r.size === size && r.measure === measure);
  const ratioOf = (row, size, measure) => ratios.find((r) => r.row === row && r.size === size && r.measure === measure);
  const lines = [
    'Medians of the runs. msg/s: one-way messages per second; RTT: round trip, p50 / p99 in µs. ' +
      '"vs built-in": ipcx against the best Node built-in in the same place (threads or processes) for the same payload, ' +
      'messages/s at 64 B and p50 round trip at 64 B; above 1x is better.',
    '',
    '| mechanism | where | payload | 64 B msg/s | 1 KiB msg/s | 64 KiB MB/s | 64 B RTT p50 / p99 µs | vs built-in (64 B msg/s, RTT) |',
    '| --- | --- | --- | ---: | ---: | ---: | ---: | --- |',
  ];
  for (const row of [...rows].sort((a, b) => groupRank(a) - groupRank(b))) {
    const tp64 = get(row.id, 64, 'throughput');
    const tp1k = get(row.id, 1024, 'throughput');
    const tp64k = get(row.id, 65536, 'throughput');
    const rtt = get(row.id, 64, 'rtt');
    const versus = [ratioOf(row.id, 64, 'throughput'), ratioOf(row.id, 64, 'rtt')].map((r) =>
      r ? `${ratioText(r.ratio)}` : '–',
    );
    lines.push(
      `| ${nameOf(row)} | ${PLACE_NAMES[row.place]} | ${payloadName(row, tp64 ?? rtt)} | ${tp64 ? format(tp64.msgsPerSec.median) : '–'} | ` +
        `${tp1k ? format(tp1k.msgsPerSec.median) : '–'} | ${tp64k ? format(tp64k.mbPerSec.median) : '–'} | ` +
        `${rtt ? `${format(rtt.p50Us.median)} / ${format(rtt.p99Us.median)}` : '–'} | ${row.group === 'ipcx' ? versus.join(', ') : ''} |`,
    );
  }
  return lines;
}

function groupRank(row) {
  return { ipcx: 0, path: 1, node: 2, peer: 3, floor: 4, c: 4 }[row.group] ?? 5;
}

function nameOf(row) {
  return row.group === 'ipcx' ? `**${row.label}**` : row.label;
}

function shortName(row) {
  return row ? `(${row.label})` : '';
}

function payloadName(row, result) {
  if (row.kind === 'object') return `object (${result ? `${result.bytes} B msgpack` : 'msgpack'})`;
  if (row.mechanism === 'c-eventfd') return '8-byte counter';
  if (row.mechanism === 'process-send-json') return 'raw (string)';
  return 'raw';
}

function ratioText(ratio) {
  return `${ratio >= 10 ? ratio.toFixed(0) : ratio >= 1 ? ratio.toFixed(1) : ratio.toFixed(2)}x`;
}

/** How far apart the runs of each figure were: (max − min) / median over all throughput and p50 figures. */
export function noiseLine(results, method) {
  const spreads = [];
  for (const r of results) {
    const s = spread(r.measure === 'throughput' ? r.msgsPerSec : r.p50Us);
    if (Number.isFinite(s)) spreads.push({ s, r });
  }
  if (spreads.length === 0) return 'no figures.';
  spreads.sort((a, b) => a.s - b.s);
  const at = (q) => spreads[Math.min(spreads.length - 1, Math.floor(q * spreads.length))].s;
  const worst = spreads[spreads.length - 1];
  const pct = (x) => `${(x * 100).toFixed(0)}%`;
  return (
    `each figure is the median of ${method.runs} runs after ${method.warmup} warm-up run${method.warmup === 1 ? '' : 's'}; ` +
    `the spread of the runs, (max − min) / median, was ${pct(at(0.5))} for the median figure, ${pct(at(0.9))} at the 90th percentile ` +
    `and ${pct(worst.s)} at worst (${worst.r.row}, ${label(worst.r.size)} ${worst.r.measure === 'rtt' ? 'round trip' : 'throughput'}).`
  );
}

function methodLines(method, mode) {
  return [
    `Every row runs its two ends where a user would: thread rows in the main thread and a \`Worker\`; process rows in this process and a forked \`node\` child that loads the built packages (\`dist\`); C rows as a parent and a forked child.`,
    `Throughput: the main end sends n messages one way, timed from the first send to the moment the other end has received the n-th (both ends read CLOCK_MONOTONIC through \`process.hrtime.bigint()\` or \`clock_gettime\`); n is calibrated so that a run takes about ${method.throughputSeconds * 1000} ms. MB/s counts payload bytes (for objects, their msgpack encoding).`,
    `Round trip: the main end sends one message and waits for the echo, ${method.rttSeconds * 1000} ms of round trips per run, each timed alone; p50 and p99 of each run, then the median of the runs. An ipcx client times its own \`await send(); await receive()\` loop (no promise of the harness per round trip); a Node row awaits one promise per round trip.`,
    `Bounded in flight: ipcx channels by their own bounds (ShmChannel throughput rows use a ${method.shmThroughputRingBytes / 1024 / 1024} MiB ring per direction, round trips the default options; MqChannel a queue of depth ${method.mqDepth.throughput}, round trips two queues of depth ${method.mqDepth.rtt}; sockets their high-water marks and the kernel's buffers). MessagePort, BroadcastChannel and process.send have no flow control of their own: the sender keeps at most ${method.postMessageWindow} messages unacknowledged and the receiver acknowledges every ${method.postMessageWindow / 2}. The eventfd C row uses the same window.`,
    'ipcx senders call `trySend` in a loop and await `send` only when it returns false. Receivers: ShmChannel between threads uses `receiveBytesSync()` (raw, a zero-copy view) or `receiveSync()` (objects) in the worker; elsewhere `tryReceiveBytes()` (ShmChannel, raw) or `tryReceive()`, awaiting `receive()` when nothing waits. Round trips: `await send()` then `await receive()`; echoes `send(await receive())` (a worker echo uses `sendSync`/`receiveSync`).',
    "Payloads: raw bytes (ipcx with `rawCodec`, a `Uint8Array` through postMessage and advanced serialization; json cannot carry bytes, so the json row sends an ASCII string of the same length), and a typical object (an order event with line items) through ipcx's default codec (msgpack), structured clone, or JSON for process.send (json) and the net loops.",
    'The net loops are what a user would write with `node:net`: 4-byte big-endian length prefix, writes batched under `cork()`/`uncork()` (one writev) until the socket buffer reaches 256 KiB (the same high-water mark as ipcx stream channels), then wait for `drain`; the receiver cuts frames from the data events (and `JSON.parse`s objects).',
    'C rows (apps/bench/c, compiled with `cc -O2`): raw syscalls, one call per message on each side (pipe, Unix stream and datagram socketpairs, POSIX mq, eventfd); Unix stream, seqpacket and TCP loopback with the spinning receive of the ipcx socket channels (`recv` with `MSG_DONTWAIT` and `sched_yield()` between attempts for up to 50 µs, then `poll`), the floor of a spinning socket transport; shared memory as a 1 MiB SPSC ring (copy in, copy out) and a mailbox per direction for round trips, waiting by spinning or by futex.',
    "JavaScript floor rows (src/transports/js-floor.mjs): the C spin ping-pong's mailboxes in JavaScript, with the ShmChannel rows' loops and none of a channel's work; round trips only. They are measured again in the ShmChannel targets' pairs: how far they are from C is the language's share of ShmChannel's distance.",
    'Targets: each compares two rows of this run (ours against a Node built-in or a C program; "best of" takes the better row of the main pass). After the main pass, the two rows are run again back to back in pairs, alternating which goes first, and the target is judged on the median of the pairs\' ratios (see Targets).',
    mode === 'quick'
      ? 'Quick mode: fewer and much shorter runs; use it to check that everything runs, not for figures.'
      : `Calibration and warm-up precede the ${method.runs} measured runs of each figure.`,
  ];
}
