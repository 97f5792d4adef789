import { LATENCY_BUCKETS, quantileMs } from '../../platform/signals/index.ts';
import { median } from './health.stats.ts';

/**
 * Each tenant's own baseline: what its volume, error rate and latency usually are at a given
 * hour, from its own hourly rollups.
 * - volume: seasonal by hour of week (the median of the same hour in the last four weeks) once
 *   the tenant has two weeks of history; by hour of day (median of the last seven days) after
 *   three days; before that its recent level, which is not seasonal, so volume rules stay off.
 *   Beside the usual level, the quiet one (the lower quartile of the same hours): a drop is
 *   judged against it, since a daily baseline does not know that Sunday is quieter, nor
 *   an hourly one where in the hour the kitchen closes; and today's level (the last three
 *   hours against their quiet level), so that a day quiet since the morning is judged by the
 *   day it is having;
 * - error rate: pooled over the last seven days, pulled toward the rate of tenants on the same
 *   plan by 200 requests' worth (a new or quiet tenant is judged by its peers);
 * - latency: the p95 of the same hours' merged histograms (or the last seven days').
 * An hour without a row inside the tenant's history is an hour with no requests: a tenant that
 * is usually quiet on Sunday night is expected to be.
 */
export interface HourSample {
  requests: number;
  r5xx: number;
  apiUs: number;
  jobUs: number;
  /** Latency counts, LATENCY_BUCKETS long. */
  latency: ArrayLike<number>;
}

export interface Baseline {
  source: 'weekly' | 'daily' | 'recent' | 'none';
  /** Expected requests per minute in the hour before, the hour of, and the hour after `at`. */
  requestsPerMin: number | null;
  requestsPerMinPrev: number | null;
  requestsPerMinNext: number | null;
  /** The quiet level of the same hours (lower quartile of the comparable hours), per minute. */
  quietPerMin: number | null;
  quietPerMinPrev: number | null;
  quietPerMinNext: number | null;
  /**
   * Today's level: the tenant's requests in the last three hours against their quiet level,
   * between 0.5 and 1 (null when those hours have no seasonal level). A day that has been quiet
   * since the morning (weather, a holiday) is judged by the day it is having.
   */
  recentLevel: number | null;
  errorRate: number;
  /**
   * The requests the error rate is estimated from (the last seven days' and the plan prior's
   * 200), null when unknown: the error-rate rule allows for a rate estimated from few.
   */
  errorRateRequests: number | null;
  p95Ms: number | null;
  /** Usual share of platform API and job time (7 days), when the platform totals are known. */
  apiShare: number | null;
  jobShare: number | null;
  historyHours: number;
}

export interface PlanPrior {
  errorRate: number;
  p95Ms: number | null;
}

export const DEFAULT_PRIOR: PlanPrior = { errorRate: 0.005, p95Ms: null };
export const PRIOR_WEIGHT = 200;
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const WEEK = 7 * DAY;

export interface TenantHistory {
  /** Hourly samples by hour start (ms since the epoch); missing hours after `firstHour` had no traffic. */
  hours: Map<number, HourSample>;
  /** The first hour the tenant was seen (its history starts there). */
  firstHour: number | null;
  /** The last seven days summed, when the caller has it at hand (else summed from `hours`). */
  week?: HourSample | null;
  /** Requests in the RECENT_HOURS before the baseline's hour (from minute rows: the last hour may not be rolled up yet). */
  recentRequests?: number | null;
}

/** The hours today's level is read over, the bounds it is kept within, and the requests' worth it is pulled toward 1 by. */
export const RECENT_HOURS = 3;
const LEVEL_FLOOR = 0.5;
const LEVEL_PRIOR = 20;

const sampleAt = (h: TenantHistory, at: number): HourSample | null | undefined =>
  h.firstHour === null || at < h.firstHour ? undefined : (h.hours.get(at) ?? null);

function seasonalSamples(h: TenantHistory, hour: number): { source: Baseline['source']; samples: (HourSample | null)[]; lastWeek?: HourSample | null } {
  const weekly = [1, 2, 3, 4].map((w) => sampleAt(h, hour - w * WEEK)).filter((s) => s !== undefined);
  if (weekly.length >= 2) return { source: 'weekly', samples: weekly };
  const daily = [1, 2, 3, 4, 5, 6, 7].map((d) => sampleAt(h, hour - d * DAY)).filter((s) => s !== undefined);
  if (daily.length >= 3) return { source: 'daily', samples: daily, lastWeek: sampleAt(h, hour - WEEK) };
  return { source: h.firstHour !== null && hour - h.firstHour >= 6 * HOUR ? 'recent' : 'none', samples: [] };
}

/** The lower quartile (the lowest of up to three): one outage among the samples does not make every hour quiet. */
function lowerQuartile(values: number[]): number | null {
  if (values.length === 0) return null;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 4)]!;
}

function expectedRpm(h: TenantHistory, hour: number): { source: Baseline['source']; rpm: number | null; quiet: number | null; samples: (HourSample | null)[] } {
  const { source, samples, lastWeek } = seasonalSamples(h, hour);
  if (source === 'weekly' || source === 'daily') {
    const rpms = samples.map((s) => (s?.requests ?? 0) / 60);
    // A daily baseline mixes weekdays: the same hour a week ago says how quiet this weekday is.
    const quiet = lastWeek === undefined ? lowerQuartile(rpms)! : Math.min(lowerQuartile(rpms)!, (lastWeek?.requests ?? 0) / 60);
    return { source, rpm: median(rpms), quiet, samples };
  }
  return { source, rpm: null, quiet: null, samples };
}

function mergedLatency(samples: (HourSample | null)[]): Float64Array {
  const out = new Float64Array(LATENCY_BUCKETS);
  for (const s of samples) if (s) for (let i = 0; i < LATENCY_BUCKETS; i++) out[i]! += s.latency[i]!;
  return out;
}

/** The tenant's baseline for the hour starting at `hour` (ms), from its history before it. */
export function baselineFor(
  h: TenantHistory,
  hour: number,
  prior: PlanPrior = DEFAULT_PRIOR,
  platform: { apiUs: number; jobUs: number } | null = null,
): Baseline {
  const cur = expectedRpm(h, hour);
  const prev = expectedRpm(h, hour - HOUR);
  const next = expectedRpm(h, hour + HOUR);
  let recentLevel: number | null = null;
  if (cur.rpm !== null && h.recentRequests !== undefined && h.recentRequests !== null) {
    let quiet = 0;
    for (let k = 1; k <= RECENT_HOURS && !Number.isNaN(quiet); k++) quiet += ((k === 1 ? prev : expectedRpm(h, hour - k * HOUR)).quiet ?? NaN) * 60;
    if (!Number.isNaN(quiet)) recentLevel = Math.min(1, Math.max(LEVEL_FLOOR, (h.recentRequests + LEVEL_PRIOR) / (quiet + LEVEL_PRIOR)));
  }
  const week: (HourSample | null)[] = [];
  if (h.week !== undefined) week.push(h.week);
  else {
    for (let at = hour - WEEK; at < hour; at += HOUR) {
      const s = sampleAt(h, at);
      if (s !== undefined) week.push(s);
    }
  }
  let requests = 0;
  let errors = 0;
  let apiUs = 0;
  let jobUs = 0;
  for (const s of week) {
    if (!s) continue;
    requests += s.requests;
    errors += s.r5xx;
    apiUs += s.apiUs;
    jobUs += s.jobUs;
  }
  const weekHours = h.firstHour === null ? 0 : Math.min(168, Math.floor((hour - h.firstHour) / HOUR));
  const errorRate = (errors + prior.errorRate * PRIOR_WEIGHT) / (requests + PRIOR_WEIGHT);
  let latency = mergedLatency(cur.samples);
  let counted = latency.reduce((a, b) => a + b, 0);
  if (counted < 100) {
    latency = mergedLatency(week);
    counted = latency.reduce((a, b) => a + b, 0);
  }
  const p95Ms = counted >= 100 ? quantileMs(latency, 0.95) : prior.p95Ms;
  return {
    source: cur.source,
    requestsPerMin: cur.rpm,
    requestsPerMinPrev: prev.rpm,
    requestsPerMinNext: next.rpm,
    quietPerMin: cur.quiet,
    quietPerMinPrev: prev.quiet,
    quietPerMinNext: next.quiet,
    recentLevel,
    errorRate,
    errorRateRequests: requests + PRIOR_WEIGHT,
    p95Ms,
    apiShare: platform && platform.apiUs > 0 && weekHours >= 24 ? apiUs / platform.apiUs : null,
    jobShare: platform && platform.jobUs > 0 && weekHours >= 24 ? jobUs / platform.jobUs : null,
    historyHours: h.firstHour === null ? 0 : Math.max(0, Math.floor((hour - h.firstHour) / HOUR)),
  };
}

type VolumeLevels = Pick<Baseline, 'requestsPerMin' | 'requestsPerMinPrev' | 'requestsPerMinNext'> & Partial<Pick<Baseline, 'quietPerMin' | 'quietPerMinPrev' | 'quietPerMinNext'>>;

/**
 * The hourly values taken at the middle of their hours and joined by straight lines; `x` in
 * hours from the start of the current one. A neighbour without a level (its hour is not yet
 * seasonal) leaves the current hour flat on its side and its own hour unknown: taking the current
 * level for it would expect the dinner rush's level an hour after closing, or the reverse.
 */
function rampAt(prev: number | null, cur: number, next: number | null, x: number): number | null {
  if (x < 0 && prev === null) return null;
  if (x >= 1 && next === null) return null;
  const p = prev ?? cur;
  const n = next ?? cur;
  if (x <= -0.5) return p;
  if (x <= 0.5) return p + (cur - p) * (x + 0.5);
  if (x <= 1.5) return cur + (n - cur) * (x - 0.5);
  return n;
}

/**
 * Expected requests per minute at a moment: the hourly values (the hour before, of and after
 * `hourStart`) taken at the middle of their hours and joined by straight lines, so a window
 * during the lunch ramp expects the ramp. `quiet`: the quiet level, and the lower of the ramp
 * and of its own hour's level, since traffic may as well change in a step at the hour (opening,
 * closing) as along a ramp; what falls below that has collapsed whatever the shape.
 */
export function expectedRateAt(b: VolumeLevels, hourStart: number, at: number, level: 'usual' | 'quiet' = 'usual'): number | null {
  const cur = level === 'quiet' ? (b.quietPerMin ?? null) : b.requestsPerMin;
  if (cur === null) return null;
  const prev = (level === 'quiet' ? b.quietPerMinPrev : b.requestsPerMinPrev) ?? null;
  const next = (level === 'quiet' ? b.quietPerMinNext : b.requestsPerMinNext) ?? null;
  const x = (at - hourStart) / HOUR;
  const ramp = rampAt(prev, cur, next, x);
  if (ramp === null || level === 'usual') return ramp;
  return Math.min(ramp, x < 0 ? prev! : x < 1 ? cur : next!);
}

/** Expected requests in the minutes [from, to) (ms), or null when the baseline has no volume. */
export function expectedRequests(b: VolumeLevels, hourStart: number, from: number, to: number, level: 'usual' | 'quiet' = 'usual'): number | null {
  let sum = 0;
  for (let m = from; m < to; m += 60_000) {
    const r = expectedRateAt(b, hourStart, m + 30_000, level);
    if (r === null) return null;
    sum += r;
  }
  return sum;
}
