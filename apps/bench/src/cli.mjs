#!/usr/bin/env node
// npm run bench [-- --quick] [--only=REGEX] [--sizes=64,1024] [--out=DIR] [--no-pairs] [--no-idle] [--no-fanout]
// Runs the suite and writes <out>/results.json, report.md, throughput.svg and latency.svg, where <out> is
// bench-results/<timestamp>[-quick] unless --out is given; a full run without --only also refreshes
// bench-results/latest/, the committed copy the README shows. After the main pass, the two rows of each
// target are measured again in back-to-back pairs (runPairs), unless --no-pairs; then idle CPU (src/idle.mjs)
// and fan-out to 1 and 4 subscribers (src/fanout.mjs), unless --no-idle / --no-fanout or --only leaves them out
// (their ids: idle/<transport>, fanout).
import { cpSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { measureFanout } from './fanout.mjs';
import { measureIdle } from './idle.mjs';
import { machineInfo } from './machine.mjs';
import { SIZES } from './payload.mjs';
import { awaitCost } from './stats.mjs';
import { renderReport, summaryTable, targetsTable } from './report.mjs';
import { measuredPaths, sectionTargets } from './sections.mjs';
import { methodology, runPairs, runPathRounds, runSuite } from './suite.mjs';
import { latencyChart, throughputChart } from './svg.mjs';
import { attachRatios, comparisons, evaluateTargets } from './targets.mjs';
import { sweep } from './transports/names.mjs';

const RESULTS = fileURLToPath(new URL('../bench-results/', import.meta.url));
const README = fileURLToPath(new URL('../../../README.md', import.meta.url));
const BEGIN = '<!-- bench:begin -->';
const END = '<!-- bench:end -->';

function parseArgs(argv) {
  /** @type {{ quick: boolean, only?: RegExp, sizes: number[], out?: string, render?: string, pairs: boolean, idle: boolean, fanout: boolean }} */
  const options = {
    quick: false,
    only: undefined,
    sizes: SIZES,
    out: undefined,
    render: undefined,
    pairs: true,
    idle: true,
    fanout: true,
  };
  for (const arg of argv) {
    if (arg === '--quick') options.quick = true;
    else if (arg.startsWith('--only=')) options.only = new RegExp(arg.slice(7));
    else if (arg.startsWith('--sizes=')) options.sizes = arg.slice(8).split(',').map(Number);
    else if (arg.startsWith('--out=')) options.out = arg.slice(6);
    else if (arg.startsWith('--render=')) options.render = arg.slice(9);
    else if (arg === '--no-pairs') options.pairs = false;
    else if (arg === '--no-idle') options.idle = false;
    else if (arg === '--no-fanout') options.fanout = false;
    else if (arg === '--help' || arg === '-h') {
      console.log(
        'usage: npm run bench -- [--quick] [--only=REGEX] [--sizes=64,1024,65536] [--out=DIR] [--no-pairs] [--no-idle] [--no-fanout] | [--render=DIR]',
      );
      process.exit(0);
    } else throw new Error(`unknown argument ${arg} (see --help)`);
  }
  if (options.sizes.some((s) => !Number.isInteger(s) || s < 1)) throw new Error('--sizes takes positive integers');
  return options;
}

const options = parseArgs(process.argv.slice(2));
if (options.render !== undefined) {
  // Renders an earlier run's results.json again (report, charts, and the README for bench-results/latest).
  const report = JSON.parse(readFileSync(join(options.render, 'results.json'), 'utf8'));
  writeOutputs(options.render, report);
  if (resolve(options.render) === resolve(RESULTS, 'latest') && updateReadme(report))
    console.log(`updated the table in ${relative(process.cwd(), README)}`);
  process.exit(0);
}
const startedAt = new Date();
const machineBefore = machineInfo();
const started = performance.now();
const log = (line) => console.log(`[${((performance.now() - started) / 1000).toFixed(1).padStart(5)} s] ${line}`);
let suite;
let paired = /** @type {{ pairs: any[], notes: string[] }} */ ({ pairs: [], notes: [] });
let pathRounds = /** @type {{ rounds: any[], notes: string[] }} */ ({ rounds: [], notes: [] });
/** @type {number | undefined} */
let awaitNs;
/** @type {any} */
let idle;
/** @type {any} */
let fanout;
try {
  suite = await runSuite({ quick: options.quick, only: options.only, sizes: options.sizes, log });
  if (options.pairs) paired = await runPairs(comparisons(suite.results), { quick: options.quick, log });
  if (options.pairs) pathRounds = await runPathRounds(measuredPaths(suite.rows), { quick: options.quick, log });
  if (suite.rows.some((r) => r.group === 'path')) awaitNs = await awaitCost({ quick: options.quick });
  const selected = (id) => !options.only || options.only.test(id);
  if (options.idle) idle = await measureIdle({ seconds: options.quick ? 0.5 : 2, selected, log });
  if (options.fanout && selected('fanout')) fanout = await measureFanout({ quick: options.quick, log });
} finally {
  await sweep();
}
const machine = { ...machineBefore, loadAverageAfter: machineInfo().loadAverage };
const ratios = attachRatios(suite.rows, suite.results);
const report = {
  schema: 'ipcx-bench/1',
  startedAt: startedAt.toISOString(),
  seconds: Math.round((performance.now() - started) / 100) / 10,
  mode: options.quick ? 'quick' : 'full',
  only: options.only?.source,
  sizes: options.sizes,
  machine,
  method: methodology(suite.settings),
  rows: suite.rows,
  results: suite.results,
  ratios,
  paired: paired.pairs,
  pathRounds: pathRounds.rounds,
  awaitNs,
  targets: evaluateTargets(suite.results, paired.pairs),
  idle,
  fanout,
  notes: [...suite.notes, ...paired.notes, ...pathRounds.notes, ...(idle?.notes ?? []), ...(fanout?.notes ?? [])],
};
report.sectionTargets = sectionTargets(report);

const stamp = startedAt.toISOString().replace(/[:.]/g, '-').replace('Z', '');
const out = options.out ?? join(RESULTS, `${stamp}${options.quick ? '-quick' : ''}`);
mkdirSync(out, { recursive: true });
writeFileSync(join(out, 'results.json'), `${JSON.stringify(report, null, 2)}\n`);
writeOutputs(out, report);
console.log(
  `\nwrote ${relative(process.cwd(), out) || '.'}/{report.md,results.json,throughput.svg,latency.svg} in ${report.seconds} s`,
);
if (!options.quick && !options.only && !options.out && options.sizes === SIZES) {
  const latest = join(RESULTS, 'latest');
  // Replace this bench's files only: the fan-out bench's own full run (pubsub.md) lives there too.
  mkdirSync(latest, { recursive: true });
  cpSync(out, latest, { recursive: true, force: true });
  console.log(`and refreshed ${relative(process.cwd(), latest)}`);
  if (updateReadme(report)) console.log(`and the table in ${relative(process.cwd(), README)}`);
}
/** Writes the report and the charts of `report` into `dir`. */
function writeOutputs(dir, report) {
  writeFileSync(join(dir, 'throughput.svg'), throughputChart(report));
  writeFileSync(join(dir, 'latency.svg'), latencyChart(report));
  writeFileSync(join(dir, 'report.md'), renderReport(report));
}

/** Replaces what the repository README holds between its bench markers with this run's tables. */
function updateReadme(report) {
  if (!existsSync(README)) return false;
  const text = readFileSync(README, 'utf8');
  const begin = text.indexOf(BEGIN);
  const end = text.indexOf(END);
  if (begin < 0 || end < begin) return false;
  const { machine } = report;
  const body = [
    `Run ${report.startedAt.slice(0, 10)}${machine.commit ? ` at commit ${machine.commit}` : ''} on ${machine.cpu}, ${machine.cores} cores, Node ${machine.node}, ${machine.kernel}` +
      ` (full report: [apps/bench/bench-results/latest/report.md](apps/bench/bench-results/latest/report.md)).`,
    '',
    ...targetsTable(report.targets),
    '',
    ...summaryTable(report),
  ];
  writeFileSync(README, `${text.slice(0, begin + BEGIN.length)}\n${body.join('\n')}\n${text.slice(end)}`);
  return true;
}

if (report.mode === 'quick')
  console.log('quick run: a smoke test, too short to warm up; judge the targets on a full run (npm run bench)');
for (const t of [...report.targets, ...report.sectionTargets])
  console.log(`${t.met === undefined ? 'n/a   ' : t.met ? 'met   ' : 'MISSED'} ${t.text}: ${t.detail}`);
process.exit(0);
