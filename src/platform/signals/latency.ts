/**
 * Latency distributions that add up: 30 fixed buckets on a log scale. Bucket i holds durations
 * up to 2^(i/2) ms (bucket 0: up to 1 ms); the last is open-ended (above 2^14 ms, 16.4 s).
 * Any two histograms, of two processes or two minutes, merge by adding bucket by bucket, so a
 * percentile over any set of rollup rows is exact to the bucket (within 19% of the true value,
 * about 9% after interpolation), however the requests were spread over processes.
 */
export const LATENCY_BUCKETS = 30;
const LAST = LATENCY_BUCKETS - 1;

export function bucketOf(ms: number): number {
  if (!(ms > 1)) return 0;
  const i = Math.ceil(2 * Math.log2(ms));
  return i >= LAST ? LAST : i;
}

/** Upper bound of bucket i in ms (Infinity for the last). */
export function bucketUpperMs(i: number): number {
  return i >= LAST ? Infinity : 2 ** (i / 2);
}

/** The column names of the buckets in the rollup tables: l00 ... l29. */
type Digit = '0' | '1' | '2' | '3' | '4' | '5' | '6' | '7' | '8' | '9';
export type BucketColumn = `l${'0' | '1' | '2'}${Digit}`;
export const bucketColumns = Array.from({ length: LATENCY_BUCKETS }, (_, i) => `l${String(i).padStart(2, '0')}`) as BucketColumn[];

/**
 * The q-quantile of a histogram (counts per bucket), interpolated geometrically inside its
 * bucket; null when it is empty. `offset` lets a caller pass a larger array holding the buckets.
 */
export function quantileMs(counts: ArrayLike<number>, q: number, offset = 0): number | null {
  let total = 0;
  for (let i = 0; i < LATENCY_BUCKETS; i++) total += counts[offset + i]!;
  if (total <= 0) return null;
  const rank = q * total;
  let seen = 0;
  for (let i = 0; i < LATENCY_BUCKETS; i++) {
    const c = counts[offset + i]!;
    if (c > 0 && seen + c >= rank) {
      if (i === 0) return Math.max(0.5, rank / c);
      const lower = 2 ** ((i - 1) / 2);
      if (i === LAST) return lower;
      const fraction = Math.min(1, Math.max(0, (rank - seen) / c));
      return lower * 2 ** (fraction / 2);
    }
    seen += c;
  }
  return 2 ** ((LAST - 1) / 2);
}

/** How many of the counted durations are above `ms` (whole buckets whose lower bound is at least ms). */
export function countAboveMs(counts: ArrayLike<number>, ms: number, offset = 0): number {
  let n = 0;
  for (let i = bucketOf(ms) + 1; i < LATENCY_BUCKETS; i++) n += counts[offset + i]!;
  return n;
}
