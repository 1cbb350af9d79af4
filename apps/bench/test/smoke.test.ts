import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// Runs the real suite (quick mode, a few fast rows) as `npm run bench` would, and checks what it wrote:
// well-formed results with positive, finite figures. Never a time threshold: timings belong to the report.
const run = promisify(execFile);
const cli = fileURLToPath(new URL('../src/cli.mjs', import.meta.url));
const compare = fileURLToPath(new URL('../src/compare.mjs', import.meta.url));
const ROWS = '^(shm-thread|message-port|unix-stream|c-pipe)/raw$';

interface Summary {
  median: number;
  min: number;
  max: number;
  runs: number[];
}

let out: string;
let results: {
  schema: string;
  mode: string;
  machine: Record<string, unknown>;
  rows: { id: string; group: string }[];
  results: {
    row: string;
    size: number;
    bytes: number;
    measure: string;
    msgsPerSec?: Summary;
    mbPerSec?: Summary;
    p50Us?: Summary;
    p99Us?: Summary;
  }[];
  ratios: { row: string; size: number; measure: string; ratio: number; versus: string }[];
  targets: { text: string; met?: boolean; ratio?: number; detail: string }[];
  paired: { text: string; ours: string; theirs: string[]; size: number; measure: string; ratios: number[] }[];
  notes: string[];
};
let hasCompiler = true;

beforeAll(async () => {
  out = mkdtempSync(join(tmpdir(), 'ipcx-bench-test-'));
  await run(process.execPath, [cli, '--quick', `--only=${ROWS}`, '--sizes=64,1024', `--out=${out}`], {
    timeout: 120_000,
  });
  results = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8'));
  hasCompiler = !results.notes.some((n) => n.includes('no C compiler'));
}, 150_000);

afterAll(() => rmSync(out, { recursive: true, force: true }));

function expectFigure(summary: Summary | undefined) {
  expect(summary).toBeDefined();
  for (const v of [summary!.median, summary!.min, summary!.max, ...summary!.runs]) {
    expect(Number.isFinite(v)).toBe(true);
    expect(v).toBeGreaterThan(0);
  }
  expect(summary!.min).toBeLessThanOrEqual(summary!.median);
  expect(summary!.median).toBeLessThanOrEqual(summary!.max);
}

describe('npm run bench -- --quick', () => {
  it('describes the machine and selects only the rows asked for', () => {
    expect(results.schema).toBe('ipcx-bench/1');
    expect(results.mode).toBe('quick');
    expect(results.machine).toMatchObject({ cores: expect.any(Number), node: process.version });
    const ids = results.rows.map((r) => r.id).sort();
    const expected = [
      'message-port/raw',
      'shm-thread/raw',
      'unix-stream/raw',
      ...(hasCompiler ? ['c-pipe/raw'] : []),
    ].sort();
    expect(ids).toEqual(expected);
  });

  it('measures throughput and round trips of every row at every size, with positive finite figures', () => {
    for (const row of results.rows) {
      for (const size of [64, 1024]) {
        const tp = results.results.find((r) => r.row === row.id && r.size === size && r.measure === 'throughput');
        const rtt = results.results.find((r) => r.row === row.id && r.size === size && r.measure === 'rtt');
        expectFigure(tp?.msgsPerSec);
        expectFigure(tp?.mbPerSec);
        expectFigure(rtt?.p50Us);
        expectFigure(rtt?.p99Us);
        expect(tp!.msgsPerSec!.runs.length).toBeGreaterThanOrEqual(3);
      }
    }
  });

  it('rates ipcx rows against the Node built-ins of the same run, and states the targets', () => {
    for (const r of results.results.filter((x) => x.row === 'shm-thread/raw')) {
      const ratio = results.ratios.find((x) => x.row === r.row && x.size === r.size && x.measure === r.measure);
      expect(ratio?.versus).toBe('message-port/raw');
      expect(Number.isFinite(ratio!.ratio) && ratio!.ratio > 0).toBe(true);
    }
    // No process built-in ran, so the process row has nothing to be rated against.
    expect(results.ratios.filter((x) => x.row === 'unix-stream/raw')).toEqual([]);
    const first = results.targets.find((t) => t.text.startsWith('ShmChannel between threads: 64 B raw messages/s'));
    expect(typeof first?.met).toBe('boolean');
    const unmeasured = results.targets.find((t) => t.text.startsWith('MqChannel'));
    expect(unmeasured?.met).toBeUndefined();
  });

  it('measures each target again in back-to-back pairs and judges it on their median ratio', () => {
    // Measured here: the two thread targets at 64 B against MessagePort (64 KiB was not run).
    const texts = results.paired.map((p) => p.text).sort();
    expect(texts).toEqual(
      results.targets
        .filter((t) => t.met !== undefined)
        .map((t) => t.text)
        .sort(),
    );
    expect(texts).toHaveLength(2);
    for (const pair of results.paired) {
      expect(pair).toMatchObject({ ours: 'shm-thread/raw', theirs: ['message-port/raw'], size: 64 });
      expect(pair.ratios).toHaveLength(2); // quick: one pair in each order
      for (const r of pair.ratios) expect(Number.isFinite(r) && r > 0).toBe(true);
      const target = results.targets.find((t) => t.text === pair.text)!;
      expect(target.ratio).toBeCloseTo((pair.ratios[0]! + pair.ratios[1]!) / 2, 10); // the median of two
      expect(target.detail).toMatch(/median of 2 back-to-back pairs/);
    }
  });

  it('writes the Markdown report and both SVG charts', () => {
    const report = readFileSync(join(out, 'report.md'), 'utf8');
    expect(report).toMatch(/^# ipcx benchmark/);
    expect(report).toMatch(/\*\*Machine:\*\*/);
    expect(report).toMatch(/\*\*Noise:\*\*/);
    expect(report).toContain('ShmChannel (threads)');
    expect(report).toMatch(/\| shm-thread\/raw \| message-port\/raw \| 64 B \| msg\/s \| [\d.]+, [\d.]+ \|/);
    for (const chart of ['throughput.svg', 'latency.svg']) {
      expect(existsSync(join(out, chart))).toBe(true);
      expect(readFileSync(join(out, chart), 'utf8')).toMatch(
        /^<svg [^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"[\s\S]*<\/svg>\n$/,
      );
    }
  });

  it('compares a run with itself without flagging a regression', async () => {
    const file = join(out, 'results.json');
    const { stdout } = await run(process.execPath, [compare, file, file]);
    expect(stdout).toMatch(/no regressions/);
  });
});
