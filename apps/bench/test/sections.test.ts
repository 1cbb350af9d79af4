import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// The rows of issues 13 and 15, run for real in quick mode on the cheapest transports: every receive path of
// MemoryChannel and the Unix stream channel, the ZeroMQ peer (or its note when it does not load), idle CPU.
// Checks the figures are well formed and the section targets are stated; never a time threshold.
const run = promisify(execFile);
const cli = fileURLToPath(new URL('../src/cli.mjs', import.meta.url));
const PATHS = ['fast', 'receive', 'try-receive', 'for-await'];

interface Summary {
  median: number;
  runs: number[];
}
let out: string;
let results: {
  rows: { id: string; group: string }[];
  results: { row: string; size: number; measure: string; msgsPerSec?: Summary; p50Us?: Summary; p99Us?: Summary }[];
  idle: { seconds: number; rows: { transport: string; path: string; cpuPercent: number }[] };
  sectionTargets: { text: string; met?: boolean; detail: string }[];
  notes: string[];
};

beforeAll(async () => {
  out = mkdtempSync(join(tmpdir(), 'ipcx-bench-sections-'));
  const only = '^(memory|unix-stream)~|^zeromq/|^idle/(none|memory)$';
  await run(process.execPath, [cli, '--quick', `--only=${only}`, '--no-pairs', '--no-fanout', `--out=${out}`], {
    timeout: 150_000,
  });
  results = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8'));
}, 180_000);

afterAll(() => rmSync(out, { recursive: true, force: true }));

const positive = (s: Summary | undefined) => s?.runs.every((v) => Number.isFinite(v) && v > 0);

describe('receive paths, peers and idle CPU in npm run bench', () => {
  it('measures every receive path of each transport one way and in round trips, at 64 B', () => {
    for (const transport of ['memory', 'unix-stream']) {
      for (const path of PATHS) {
        const row = `${transport}~${path}/raw`;
        expect(results.rows.some((r) => r.id === row && r.group === 'path')).toBe(true);
        expect(
          positive(
            results.results.find((r) => r.row === row && r.measure === 'throughput' && r.size === 64)?.msgsPerSec,
          ),
        ).toBe(true);
        const rtt = results.results.find((r) => r.row === row && r.measure === 'rtt' && r.size === 64);
        expect(positive(rtt?.p50Us) && positive(rtt?.p99Us)).toBe(true);
      }
    }
  });

  it('states the for-await and every-path targets for the measured transports only', () => {
    const texts = results.sectionTargets.map((t) => t.text);
    for (const name of ['MemoryChannel (one thread)', 'Unix stream channel']) {
      const mine = results.sectionTargets.filter((t) => t.text.startsWith(`${name}: `) && !t.text.includes('idle'));
      expect(mine).toHaveLength(4);
      for (const t of mine) expect(typeof t.met).toBe('boolean');
    }
    expect(texts.some((t) => t.startsWith('TCP channel'))).toBe(false);
  });

  it('has ZeroMQ rows, or a note saying why not', () => {
    const rows = results.results.filter((r) => r.row === 'zeromq/raw');
    if (rows.length === 0) expect(results.notes.some((n) => n.startsWith('ZeroMQ'))).toBe(true);
    else
      expect(rows.map((r) => `${r.size} ${r.measure}`).sort()).toEqual([
        '1024 rtt',
        '1024 throughput',
        '64 rtt',
        '64 throughput',
      ]);
  });

  it('measures idle CPU of a waiting receiver beside a control row', () => {
    const rows = results.idle.rows.map((r) => `${r.transport} ${r.path}`).sort();
    expect(rows).toEqual(['memory for-await', 'memory receive', 'none –']);
    for (const r of results.idle.rows) expect(Number.isFinite(r.cpuPercent) && r.cpuPercent >= 0).toBe(true);
    const report = readFileSync(join(out, 'report.md'), 'utf8');
    for (const heading of ['## Receive paths', '## Against the peers', '## Idle CPU', '## Targets of these sections'])
      expect(report).toContain(heading);
  });
});
