import { describe, expect, it } from 'vitest';
import { countedPairs } from '../src/targets.mjs';

describe('countedPairs', () => {
  const pair = (theirs: string[], measure: string, ratios: number[], floors: number[]) => ({
    ours: 'shm/raw',
    theirs,
    measure,
    ratios,
    floors,
  });

  it('drops the round-trip pairs whose C ping-pong took over 10x its best of the run', () => {
    const counted = countedPairs(pair(['c-shm-spin/raw'], 'rtt', [2, 2.5, 0.01, 3], [1, 0.9, 250, 0.8]));
    expect(counted).toEqual({ ratios: [2, 2.5, 3], dropped: 1 });
  });

  it('counts every pair against peers that are not C, and every throughput pair', () => {
    expect(countedPairs(pair(['process-send-json/raw'], 'rtt', [0.2, 5], [40, 900])).dropped).toBe(0);
    expect(countedPairs(pair(['c-mq/raw'], 'throughput', [1, 2], [100, 1e6])).dropped).toBe(0);
  });
});
