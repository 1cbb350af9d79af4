import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runInto } from './run-script.js';

// The fan-out bench (src/pubsub/cli.mjs), run for real in quick mode with process.send to one subscriber: the
// paced rounds leave each new subscriber's first updates out of p50 and p99 (they run cold code), the flat run
// counts every update, and the report says so. Never a time threshold.
const QUICK = { flat: 2000, paced: 300, warmup: 30 };

interface Results {
  rows: { mechanism: string; mode: string; subscribers: number; counted: number; delivered: number; p99: number }[];
}
let out: string;
let results: Results;

beforeAll(async () => {
  out = mkdtempSync(join(tmpdir(), 'ipcx-bench-fanout-'));
  ({ results } = await runInto<Results>(
    out,
    'pubsub/cli.mjs',
    ['--quick', '--subscribers=1', '--only=^process-send$'],
    120_000,
  ));
}, 150_000);

afterAll(() => rmSync(out, { recursive: true, force: true }));

describe('the fan-out bench', () => {
  it('counts every update of the flat run and all but the warm-up of a paced round', () => {
    const row = (mode: string) => results.rows.find((r) => r.mechanism === 'process-send' && r.mode === mode);
    // process.send delivers every update: what is counted follows from the run's size alone.
    expect(row('flat')?.delivered).toBe(1);
    expect(row('flat')?.counted).toBe(QUICK.flat);
    expect(row('paced')?.delivered).toBe(1);
    expect(row('paced')?.counted).toBe(QUICK.paced - QUICK.warmup);
    expect(row('paced')?.p99).toBeGreaterThan(0);
  });

  it('says in its report that the first updates of a paced round are not counted', () => {
    expect(readFileSync(join(out, 'pubsub.md'), 'utf8')).toContain(
      `${QUICK.paced} updates, one per millisecond (setInterval 1 ms), the first ${QUICK.warmup} of each round received but not counted`,
    );
  });
});
