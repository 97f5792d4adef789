import { LATENCY_BUCKETS, bucketColumns, type BucketColumn } from './latency.ts';

/**
 * The figures of one tenant (or the platform) over one period, as one flat array of numbers:
 * the same layout in memory, in a flush and in the rollup tables' columns, so merging is
 * adding position by position (but for the maximum wait, which takes the larger).
 */
export const F = {
  requests: 0,
  r2xx: 1,
  r3xx: 2,
  r4xx: 3,
  r5xx: 4,
  r402: 5,
  r429: 6,
  apiUs: 7,
  dbUs: 8,
  jobRuns: 9,
  jobFailures: 10,
  jobDead: 11,
  jobUs: 12,
  jobWaitUs: 13,
  jobWaitMaxMs: 14,
  latency: 15,
} as const;

export const FIGURES = F.latency + LATENCY_BUCKETS;

/** Column of each position, in order. */
const countColumns = [
  'requests', 'r2xx', 'r3xx', 'r4xx', 'r5xx', 'r402', 'r429', 'api_us', 'db_us',
  'job_runs', 'job_failures', 'job_dead', 'job_us', 'job_wait_us', 'job_wait_max_ms',
] as const;

export type FigureColumn = (typeof countColumns)[number] | BucketColumn;

export const figureColumns: readonly FigureColumn[] = [...countColumns, ...bucketColumns];

/** How a column merges: every figure is a sum, the maximum wait is a maximum. */
export const mergeOf = (column: string): 'sum' | 'max' => (column === 'job_wait_max_ms' ? 'max' : 'sum');

export function emptyFigures(): Float64Array {
  return new Float64Array(FIGURES);
}

export function addFigures(into: Float64Array | number[], from: ArrayLike<number>): void {
  for (let i = 0; i < FIGURES; i++) {
    if (i === F.jobWaitMaxMs) into[i] = Math.max(into[i]!, from[i]!);
    else into[i] = into[i]! + from[i]!;
  }
}

/** A rollup row (numbers or pg's bigint strings) as a figures array. */
export function figuresOfRow(row: Record<string, unknown>): Float64Array {
  const out = emptyFigures();
  for (let i = 0; i < FIGURES; i++) out[i] = Number(row[figureColumns[i]!] ?? 0);
  return out;
}
