import { describe, expect, it } from 'vitest';
import { C_MECHANISMS, compileAll, findCompiler, runC } from '../src/c.mjs';
import { SETTINGS } from '../src/suite.mjs';
import { comparisons } from '../src/targets.mjs';

// The C ping-pongs with ipcx's spinning socket receive (c/sock_spin.h): each compiles and measures both ways at
// the smallest and the largest size (a 64 KiB seqpacket message is one packet), and each is the floor of a
// paired target of its ipcx channel. Never a time threshold.
const SPIN_FLOORS = {
  'c-unix-stream-spin': 'unix-stream',
  'c-seqpacket-spin': 'unix-seqpacket',
  'c-tcp-spin': 'tcp',
};
const spinning = C_MECHANISMS.filter((m) => m.id in SPIN_FLOORS);
const compiler = findCompiler();
// Far shorter than even --quick: this checks the programs run, not how fast.
const settings = { ...SETTINGS.quick, runs: 2, throughputSeconds: 0.005, rttSeconds: 0.005, calibrateSeconds: 0.002 };

describe('C ping-pongs with a spinning socket receive', () => {
  it('registers a row for Unix stream, seqpacket and TCP', () => {
    expect(spinning.map((m) => m.id).sort()).toEqual(Object.keys(SPIN_FLOORS).sort());
  });

  it.skipIf(!compiler)(
    'compiles each and prints positive figures for throughput and round trips',
    async () => {
      expect(compileAll(compiler!, spinning)).toEqual(new Map());
      for (const m of spinning) {
        for (const size of [64, 65536]) {
          const tp = await runC(m, size, 'throughput', settings);
          expect(tp.n).toBeGreaterThan(0);
          expect(tp.seconds).toHaveLength(2);
          for (const s of tp.seconds) expect(s).toBeGreaterThan(0);
          const rtt = await runC(m, size, 'rtt', settings);
          expect(rtt.rounds).toBeGreaterThan(0);
          for (const ns of [...rtt.p50, ...rtt.p99]) expect(ns).toBeGreaterThan(0);
        }
      }
    },
    60_000,
  );

  it('pairs each ipcx socket channel round trip with its spinning C floor', () => {
    const rtt = (row: string) => ({ row, size: 64, measure: 'rtt', p50Us: { median: 10 } });
    for (const [floor, channel] of Object.entries(SPIN_FLOORS)) {
      const pairs = comparisons([rtt(`${channel}/raw`), rtt(`${floor}/raw`)]);
      expect(pairs).toEqual([
        expect.objectContaining({ ours: `${channel}/raw`, theirs: [`${floor}/raw`], size: 64, measure: 'rtt' }),
      ]);
    }
  });
});
