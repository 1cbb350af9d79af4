import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { natsServerAvailable } from '@ipcx/nats/testing';

// The NATS rows, run as `npm run bench` and `npm run bench:topics` would (quick, 64 B): figures exist and are
// positive, or, without nats-server, the rows are replaced by a note. Never a time threshold.
const run = promisify(execFile);
const cli = fileURLToPath(new URL('../src/cli.mjs', import.meta.url));
const topics = fileURLToPath(new URL('../src/topics.mjs', import.meta.url));
const available = natsServerAvailable();
const optional = process.env.IPCX_NATS_OPTIONAL === '1';

describe.skipIf(!available && optional)('bench: NATS rows', () => {
  let out: string;
  let results: {
    rows: { id: string }[];
    results: { row: string; measure: string; msgsPerSec?: { median: number }; p50Us?: { median: number } }[];
    notes: string[];
  };
  let table: string;
  beforeAll(async () => {
    out = mkdtempSync(join(tmpdir(), 'ipcx-bench-nats-'));
    await run(process.execPath, [cli, '--quick', '--only=^nats/raw$', '--sizes=64', '--no-pairs', `--out=${out}`], {
      timeout: 120_000,
    });
    results = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8'));
    table = (await run(process.execPath, [topics, '--quick'], { timeout: 120_000 })).stdout;
  }, 240_000);
  afterAll(() => rmSync(out, { recursive: true, force: true }));

  it('measures NatsChannel over a nats-server on loopback beside the local rows', () => {
    expect(available, 'nats-server must be installed (CI installs it; IPCX_NATS_OPTIONAL=1 skips)').toBe(true);
    expect(results.rows.map((r) => r.id)).toEqual(['nats/raw']);
    const tp = results.results.find((r) => r.row === 'nats/raw' && r.measure === 'throughput');
    const rtt = results.results.find((r) => r.row === 'nats/raw' && r.measure === 'rtt');
    expect(tp?.msgsPerSec?.median).toBeGreaterThan(0);
    expect(rtt?.p50Us?.median).toBeGreaterThan(0);
  });

  it('measures a topic over NATS KV (and says why a local pubsub row is missing, if it is)', () => {
    expect(table).toMatch(/\| NatsPublisher -> NatsSubscriber \(NATS KV, loopback\) \| 64 B \| [\d.]+/);
  });
});
