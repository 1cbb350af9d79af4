import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mailbox, segmentBytes } from '../src/transports/js-floor.mjs';
import { runInto } from './run-script.js';

// The JavaScript floor under ShmChannel's round trip (src/transports/js-floor.mjs), run for real in quick mode
// beside ShmChannel between threads and the C spin ping-pong: round trips only, measured again in the thread
// target's pairs, stated in its detail, and no System V segment left behind. Never a time threshold.
const ROWS = '^(shm-thread|js-shm-thread|js-shm-process|c-shm-spin)/raw$';

/** Ids of the System V segments that `pid` created (/proc/sysvipc/shm: key shmid perms size cpid …). */
function segmentsOf(pid: number): string[] {
  const lines = readFileSync('/proc/sysvipc/shm', 'utf8').trim().split('\n').slice(1);
  return lines.map((l) => l.trim().split(/\s+/)).flatMap((f) => (f[4] === String(pid) ? [f[1]!] : []));
}

interface Results {
  rows: { id: string; group: string }[];
  results: { row: string; measure: string; p50Us?: { median: number } }[];
  targets: { text: string; met?: boolean; detail: string }[];
  paired: { text: string; floor?: string; floorValues?: number[]; ratios: number[] }[];
  notes: string[];
}
let out: string;
let results: Results;
let pid: number;

beforeAll(async () => {
  out = mkdtempSync(join(tmpdir(), 'ipcx-bench-floor-'));
  ({ results, pid } = await runInto<Results>(
    out,
    'cli.mjs',
    ['--quick', `--only=${ROWS}`, '--sizes=64', '--no-idle'],
    120_000,
  ));
}, 150_000);

afterAll(() => rmSync(out, { recursive: true, force: true }));

describe('the JavaScript shared-memory floor rows', () => {
  it('measure round trips only, between threads and between processes', () => {
    for (const id of ['js-shm-thread/raw', 'js-shm-process/raw']) {
      expect(results.rows.find((r) => r.id === id)?.group).toBe('floor');
      const rtt = results.results.find((r) => r.row === id && r.measure === 'rtt');
      expect(rtt?.p50Us?.median).toBeGreaterThan(0);
      expect(results.results.find((r) => r.row === id && r.measure === 'throughput')).toBeUndefined();
    }
    expect(results.notes.some((n) => n.includes('failed'))).toBe(false);
  });

  it("are measured in the ShmChannel target's pairs and stated in its detail", () => {
    const text = 'ShmChannel between threads: 64 B round trip (p50) within 2x of the C shared-memory spin ping-pong';
    const pair = results.paired.find((p) => p.text === text);
    // Without a C compiler there is no C row, so no target and no pair.
    if (!results.rows.some((r) => r.id === 'c-shm-spin/raw')) return expect(pair).toBeUndefined();
    expect(pair?.floor).toBe('js-shm-thread/raw');
    expect(pair?.floorValues).toHaveLength(pair!.ratios.length);
    for (const v of pair!.floorValues!) expect(v).toBeGreaterThan(0);
    const target = results.targets.find((t) => t.text === text);
    expect(target?.detail).toMatch(/in the same pairs, js-shm-thread\/raw took [\d.]+x theirs, and ours [\d.]+x it/);
    expect(readFileSync(join(out, 'report.md'), 'utf8')).toMatch(/\| js-shm-thread\/raw: [\d.]+, [\d.]+ \|/);
  });

  it('leave none of the System V segments the bench made (the process rows make one per run)', () => {
    expect(segmentsOf(pid)).toEqual([]);
  });

  it('give up, rather than spin for ever, when the other end never answers', async () => {
    const buffer = new SharedArrayBuffer(segmentBytes(64));
    const client = mailbox(buffer, 64, 'client', async () => {}, 50);
    await client.send(new Uint8Array(64));
    await expect(client.receive()).rejects.toThrow('the other end did not answer within 50 ms');
    await client.close();
  });
});
