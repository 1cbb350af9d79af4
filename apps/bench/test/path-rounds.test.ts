import { describe, expect, it } from 'vitest';
import { measuredPaths, sectionTargets } from '../src/sections.mjs';

// The receive-path verdicts (issues 13 and 15) from back-to-back rounds (runPathRounds): judged on the median of
// the rounds' ratios, with the main pass in the detail, and the cost of one await beside. Synthetic figures, so
// each verdict is known in advance.
const summary = (v: number) => ({ median: v, min: v, max: v, runs: [v] });
const tp = (path: string, msgs: number) => ({
  row: `memory~${path}/raw`,
  size: 64,
  measure: 'throughput',
  msgsPerSec: summary(msgs),
});
const rtt = (path: string, us: number) => ({
  row: `memory~${path}/raw`,
  size: 64,
  measure: 'rtt',
  p50Us: summary(us),
  p99Us: summary(us * 2),
});

// Main pass: for-await at 3x the fast path and receive at 2x the best (both missed), drifted rows.
const results = [
  tp('fast', 3e6),
  tp('receive', 0.5e6),
  tp('try-receive', 1e6),
  tp('for-await', 1e6),
  rtt('fast', 1),
  rtt('receive', 1),
  rtt('try-receive', 1),
  rtt('for-await', 1),
];
// Back to back: for-await at 1.2x, 1.4x, 1.6x of fast (median 1.4x: met); the worst user path over the best of
// its round 1.1x, 1.3x, 1.15x (median 1.15x: met), receive the worst in two rounds of three.
const pathRounds = [
  {
    transport: 'memory',
    measure: 'throughput',
    rounds: [
      { fast: 1.2e6, receive: 0.909e6, 'try-receive': 1e6, 'for-await': 1e6 },
      { fast: 1.4e6, receive: 1e6, 'try-receive': 1e6 / 1.3, 'for-await': 1e6 },
      { fast: 1.6e6, receive: 1e6 / 1.15, 'try-receive': 1e6, 'for-await': 1e6 },
    ],
  },
];

describe('receive-path targets from back-to-back rounds', () => {
  const targets = sectionTargets({ results, pathRounds, awaitNs: 50 });
  const find = (start: string) => targets.find((t) => t.text.startsWith(start))!;

  it('judges for-await against the fast path on the median of the rounds, not the main pass', () => {
    const t = find('MemoryChannel (one thread): for await, 64 B msg/s');
    expect(t.met).toBe(true);
    expect(t.ratio).toBeCloseTo(1.4, 2);
    expect(t.detail).toMatch(/^1\.40x, median of 3 back-to-back rounds \(1\.20–1\.60, 1 of them beyond the bound\)/);
    expect(t.detail).toContain('main pass medians: 3.00x');
  });

  it('judges every path against the best of its own round, names the worst most often, and gives the await floor', () => {
    const t = find("MemoryChannel (one thread): every receive path's 64 B msg/s");
    expect(t.met).toBe(true);
    expect(t.ratio).toBeCloseTo(1.15, 2);
    expect(t.detail).toContain('worst most often: await receive()');
    expect(t.detail).toContain('main pass medians: worst: await receive() at 2.00x the best');
    // The best path of the main pass moves a message every 1000 ns; one more await of 50 ns is 1.05x.
    expect(t.detail).toContain('one `await` costs 50.0 ns here');
    expect(t.detail).toMatch(/\(1000 ns a message\) at 1\.05x$/);
  });

  it('falls back to the main pass where no rounds ran (round trips here)', () => {
    const t = find('MemoryChannel (one thread): for await, 64 B round trip p50');
    expect(t.met).toBe(true);
    expect(t.detail).toBe("1.00x the fast path's cost (main pass medians)");
  });

  it('runs rounds only for transports with more than one path row in the main pass', () => {
    const rows = [
      { id: 'memory~fast/raw' },
      { id: 'memory~for-await/raw' },
      { id: 'tcp~fast/raw' },
      { id: 'shm-thread/raw' },
    ];
    expect(measuredPaths(rows)).toEqual([{ transport: 'memory', paths: ['fast', 'for-await'] }]);
  });
});
