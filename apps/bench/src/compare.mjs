#!/usr/bin/env node
// npm run bench:compare -- old.json new.json [--threshold=0.1]
// Prints every figure of both runs side by side with its speed-up, then flags regressions: a figure worse by more than the threshold whose
// runs do not even overlap (the new range lies entirely beyond the old one), a ratio to the best Node
// built-in that fell by more than the threshold, and a target met before and missed now. Runs from
// different machines are compared by their ratios only. Exits 1 when something regressed.
import { readFileSync } from 'node:fs';
import { format, label } from './targets.mjs';

const args = process.argv.slice(2);
const files = args.filter((a) => !a.startsWith('--'));
const threshold = Number(args.find((a) => a.startsWith('--threshold='))?.slice(12) ?? 0.1);
if (files.length !== 2 || !(threshold >= 0)) {
  console.error('usage: npm run bench:compare -- old.json new.json [--threshold=0.1]');
  process.exit(2);
}
const [before, after] = files.map((f) => {
  const data = JSON.parse(readFileSync(f, 'utf8'));
  if (data.schema !== 'ipcx-bench/1') throw new Error(`${f}: not an ipcx bench result (schema ${data.schema})`);
  return data;
});

const sameMachine = ['cpu', 'cores', 'node', 'kernel'].every((k) => before.machine[k] === after.machine[k]);
const key = (r) => `${r.row} ${r.size} ${r.measure}`;
const name = (r) => `${r.row}, ${label(r.size)} ${r.measure === 'rtt' ? 'round trip p50' : 'msg/s'}`;
const pct = (x) => `${x >= 0 ? '+' : ''}${(x * 100).toFixed(1)}%`;
const regressions = [];
const improvements = [];

// Every figure of both runs, row by row: before, after, and the speed-up (after over before for msg/s,
// before over after for round trips: above 1 is better). `!` marks one worse by more than the threshold
// (a regression below only when the runs' ranges do not overlap either), `+` one better by as much.
{
  const old = new Map(before.results.map((r) => [key(r), r]));
  const figure = (r) => (r.measure === 'rtt' ? r.p50Us.median : r.msgsPerSec.median);
  const rows = [['', 'row', 'size', 'measure', 'before', 'after', 'speed-up']];
  for (const r of after.results) {
    const o = old.get(key(r));
    if (!o) continue;
    const speedup = r.measure === 'rtt' ? figure(o) / figure(r) : figure(r) / figure(o);
    const mark = speedup < 1 / (1 + threshold) ? '!' : speedup > 1 + threshold ? '+' : '';
    const unit = r.measure === 'rtt' ? ' µs' : '/s';
    rows.push([
      mark,
      r.row,
      label(r.size),
      r.measure === 'rtt' ? 'RTT p50' : 'msg/s',
      format(figure(o)) + unit,
      format(figure(r)) + unit,
      `${speedup.toFixed(2)}x`,
    ]);
  }
  const widths = rows[0].map((_, i) => Math.max(...rows.map((row) => row[i].length)));
  for (const row of rows)
    console.log(row.map((cell, i) => (i >= 4 ? cell.padStart(widths[i]) : cell.padEnd(widths[i]))).join('  '));
  console.log('');
}

if (sameMachine) {
  const old = new Map(before.results.map((r) => [key(r), r]));
  for (const r of after.results) {
    const o = old.get(key(r));
    if (!o) continue;
    if (r.measure === 'throughput') {
      const change = r.msgsPerSec.median / o.msgsPerSec.median - 1;
      if (change < -threshold && r.msgsPerSec.max < o.msgsPerSec.min)
        regressions.push(`${name(r)}: ${fmt(o.msgsPerSec.median)} -> ${fmt(r.msgsPerSec.median)} (${pct(change)})`);
      else if (change > threshold && r.msgsPerSec.min > o.msgsPerSec.max)
        improvements.push(`${name(r)}: ${pct(change)}`);
    } else {
      const change = r.p50Us.median / o.p50Us.median - 1;
      if (change > threshold && r.p50Us.min > o.p50Us.max)
        regressions.push(`${name(r)}: ${fmt(o.p50Us.median)} µs -> ${fmt(r.p50Us.median)} µs (${pct(change)})`);
      else if (change < -threshold && r.p50Us.max < o.p50Us.min) improvements.push(`${name(r)}: ${pct(change)}`);
    }
  }
} else {
  console.log(
    `different machines (${describe(before.machine)} vs ${describe(after.machine)}): comparing ratios and targets only`,
  );
}

const oldRatios = new Map(before.ratios.map((r) => [key(r), r]));
for (const r of after.ratios) {
  const o = oldRatios.get(key(r));
  if (!o) continue;
  const change = r.ratio / o.ratio - 1;
  const what = `${name(r)} vs best built-in`;
  if (change < -threshold)
    regressions.push(`${what}: ${o.ratio.toFixed(2)}x -> ${r.ratio.toFixed(2)}x (${pct(change)})`);
  else if (change > threshold) improvements.push(`${what}: ${o.ratio.toFixed(2)}x -> ${r.ratio.toFixed(2)}x`);
}

for (const t of [...after.targets, ...(after.sectionTargets ?? [])]) {
  const o = [...before.targets, ...(before.sectionTargets ?? [])].find((x) => x.text === t.text);
  if (o?.met === true && t.met === false) regressions.push(`target missed now: ${t.text}: ${t.detail}`);
  if (o?.met === false && t.met === true) improvements.push(`target met now: ${t.text}`);
}

const missing = before.results.filter((o) => !after.results.some((r) => key(r) === key(o)));
console.log(
  `threshold ${pct(threshold).slice(1)}; ${after.results.length} figures now, ${before.results.length} before${missing.length ? `, ${missing.length} no longer measured` : ''}`,
);
if (improvements.length) console.log(`\nimproved:\n${improvements.map((l) => `  ${l}`).join('\n')}`);
if (regressions.length) {
  console.log(`\nREGRESSED:\n${regressions.map((l) => `  ${l}`).join('\n')}`);
  process.exit(1);
}
console.log('\nno regressions');

function describe(m) {
  return `${m.cpu}, ${m.cores} cores, Node ${m.node}, ${m.kernel}`;
}

function fmt(n) {
  return n >= 100 ? n.toFixed(0) : n.toPrecision(3);
}
