// Order statistics shared by every row, the C rows included (their programs report per-run figures; the
// summary over runs is computed here so that every row is summarised the same way).

/** The value at quantile q (0..1) of `values` by the nearest-rank method; sorts a copy. */
export function percentile(values, q) {
  if (values.length === 0) return Number.NaN;
  const sorted = Float64Array.from(values).sort();
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil(q * sorted.length)));
  return sorted[rank - 1];
}

/** The median, the mean of the two middle values for an even count (a ratio must not lean either way). */
export function median(values) {
  if (values.length === 0) return Number.NaN;
  const sorted = Float64Array.from(values).sort();
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** Median, min and max of per-run figures, plus the runs themselves. */
export function summarize(runs) {
  return {
    median: percentile(runs, 0.5),
    min: Math.min(...runs),
    max: Math.max(...runs),
    runs: [...runs],
  };
}

/** (max − min) / median: how far apart the runs of one figure were. */
export function spread(summary) {
  return summary.median > 0 ? (summary.max - summary.min) / summary.median : Number.NaN;
}

/** Nanoseconds of `process.hrtime.bigint()` as a Number (exact below 2^53 ns, about 104 days of uptime). */
export function now() {
  return Number(process.hrtime.bigint());
}

/**
 * Nanoseconds one `await` of a settled promise takes in this process (the median of runs after a warm-up):
 * the least a receive path pays per message for awaiting each one.
 */
export async function awaitCost({ quick = false } = {}) {
  const count = quick ? 100_000 : 1_000_000;
  const settled = Promise.resolve(0);
  const runs = [];
  for (let r = 0; r < (quick ? 3 : 7); r++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < count; i++) await settled;
    runs.push(Number(process.hrtime.bigint() - start) / count);
  }
  return median(runs.slice(1));
}
