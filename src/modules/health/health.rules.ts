import { F, quantileMs, countAboveMs } from '../../platform/signals/index.ts';
import { poissonLower, poissonUpper, negBinomialUpper } from './health.stats.ts';
import { expectedRequests, PRIOR_WEIGHT, type Baseline, type PlanPrior } from './health.baselines.ts';

/**
 * The per-tenant rules, as pure functions of a tenant's recent minutes and its baseline: the
 * evaluator (health.evaluate.ts) and the alert-quality simulation (bench/alerts.bench.ts) run
 * exactly this code. Each rule needs both a large effect and strong evidence:
 * - the effect (5x the usual error rate, 3x the usual p95, a quarter of the usual traffic...)
 *   keeps a tenant that is always busy, or whose baseline is a little off, quiet;
 * - the evidence (a tail probability under the baseline below 1e-6, a minimum volume) keeps a
 *   quiet tenant's two errors from being an incident. For an error rate the tail is Poisson's
 *   widened by how few requests the usual rate was estimated from (negative binomial); a drop
 *   is judged against the day the tenant is having (its recent level).
 * Windows of 5, 15 and 60 minutes: big tenants are caught in the first, small ones later.
 * A rule is `firing`, `normal` (an open alert may resolve) or `unknown` (too little traffic to
 * tell either way: an open alert stays as it is).
 */
export type TenantRule = 'tenant.error_rate' | 'tenant.latency' | 'tenant.traffic_drop' | 'tenant.traffic_surge' | 'tenant.api_share' | 'tenant.job_share';

export interface Verdict {
  rule: TenantRule;
  state: 'firing' | 'normal' | 'unknown';
  observed: number | null;
  expected: number | null;
  summary: string;
  details: Record<string, unknown>;
}

/** Summed figures of one window, with where the window lies. */
export interface WindowFigures {
  minutes: number;
  /** Start of the window and of the hour the baseline is for (ms). */
  from: number;
  to: number;
  figures: ArrayLike<number>;
}

export interface RuleThresholds {
  minRequests: number;
  /** Share of platform API (or job) time, 0..1. */
  share: number;
}

export interface TenantWindows {
  w5: WindowFigures;
  w15: WindowFigures;
  w60: WindowFigures;
}

/** All tenants' API and job time (µs) over the last 5 and 15 minutes. */
export interface PlatformWindow {
  w5: { apiUs: number; jobUs: number };
  w15: { apiUs: number; jobUs: number };
  /** Tenants with any request (or job) in the last 15 minutes. */
  activeTenants: number;
}

const EVIDENCE = 1e-6;
const SURGE_EVIDENCE = 1e-9;

const pct = (x: number) => `${(x * 100).toFixed(x < 0.01 ? 2 : 1)}%`;
const requestsOf = (w: WindowFigures) => w.figures[F.requests]!;

export function errorRateVerdict(w: TenantWindows, b: Baseline, t: RuleThresholds): Verdict {
  const p0 = Math.max(b.errorRate, 0.001);
  // The usual rate is an estimate: from the requests behind it, as many errors as a gamma's shape
  // (a young tenant's few hundred requests say little). The evidence allows for it.
  const phi = b.errorRateRequests ? 1 / (p0 * b.errorRateRequests) : 0;
  const limit = (rate: number) => Math.max(5 * rate, rate + 0.02);
  const n15 = requestsOf(w.w15);
  const e15 = w.w15.figures[F.r5xx]!;
  const calm = n15 === 0 || e15 / n15 < Math.max(2 * p0, p0 + 0.01);
  // The hour catches a small tenant's incident; once the last quarter hour is calm it is over.
  for (const win of calm ? [w.w5] : [w.w5, w.w15, w.w60]) {
    const n = requestsOf(win);
    const e = win.figures[F.r5xx]!;
    if (n >= t.minRequests && e >= 5 && e / n >= limit(p0) && negBinomialUpper(e, n * p0, phi) < EVIDENCE) {
      return {
        rule: 'tenant.error_rate',
        state: 'firing',
        observed: e / n,
        expected: p0,
        summary: `${pct(e / n)} of requests failed with a server error (${e} of ${n} in ${win.minutes} min); usually ${pct(p0)}.`,
        details: { windowMinutes: win.minutes, requests: n, errors5xx: e },
      };
    }
  }
  return { rule: 'tenant.error_rate', state: calm ? 'normal' : 'unknown', observed: n15 ? e15 / n15 : 0, expected: p0, summary: '', details: {} };
}

export function latencyVerdict(w: TenantWindows, b: Baseline, t: RuleThresholds): Verdict {
  const p0 = b.p95Ms;
  if (p0 === null) return { rule: 'tenant.latency', state: 'unknown', observed: null, expected: null, summary: '', details: {} };
  for (const win of [w.w5, w.w15]) {
    const n = requestsOf(win);
    if (n < t.minRequests) continue;
    const p95 = quantileMs(win.figures, 0.95, F.latency)!;
    const slow = countAboveMs(win.figures, 2 * p0, F.latency);
    if (p95 >= Math.max(3 * p0, p0 + 250) && poissonUpper(slow, 0.05 * n) < EVIDENCE) {
      return {
        rule: 'tenant.latency',
        state: 'firing',
        observed: Math.round(p95),
        expected: Math.round(p0),
        summary: `p95 latency is ${Math.round(p95)} ms over ${win.minutes} min (${n} requests, ${slow} slower than ${Math.round(2 * p0)} ms); usually ${Math.round(p0)} ms.`,
        details: { windowMinutes: win.minutes, requests: n, slowRequests: slow },
      };
    }
  }
  const n15 = requestsOf(w.w15);
  if (n15 < Math.min(t.minRequests, 20)) return { rule: 'tenant.latency', state: n15 === 0 ? 'normal' : 'unknown', observed: null, expected: p0, summary: '', details: {} };
  const p95 = quantileMs(w.w15.figures, 0.95, F.latency)!;
  return { rule: 'tenant.latency', state: p95 < 2 * p0 ? 'normal' : 'unknown', observed: Math.round(p95), expected: Math.round(p0), summary: '', details: {} };
}

/** Volume rules use the tenant's own seasonal history only: a new tenant's traffic is its own business. */
const seasonal = (b: Baseline) => b.source === 'weekly' || b.source === 'daily';

/**
 * A collapse is judged against the tenant's quiet level (the quieter of its comparable hours,
 * and the lower of a ramp and a step at the hour), not its usual one: the usual level of a
 * daily baseline is a weekday's on a Sunday, and a ramp expects traffic an hour after closing.
 */
export function trafficDropVerdict(w: TenantWindows, b: Baseline, hourStart: number): Verdict {
  if (!seasonal(b)) return { rule: 'tenant.traffic_drop', state: 'unknown', observed: null, expected: null, summary: '', details: {} };
  // A daily baseline without a week of history has not seen this weekday (a first Sunday):
  // the drop must go below half its quiet level.
  const unseenWeekday = b.source === 'daily' && b.historyHours < 168 ? 0.5 : 1;
  // A day that has been quiet for hours is judged by its own level (never below half the quiet one).
  const scale = unseenWeekday * (b.recentLevel ?? 1);
  const expected15 = scale * (expectedRequests(b, hourStart, w.w15.from, w.w15.to, 'quiet') ?? 0);
  const n15 = requestsOf(w.w15);
  const recovered = expected15 >= 10 && n15 >= 0.5 * expected15;
  for (const win of recovered ? [w.w5] : [w.w5, w.w15, w.w60]) {
    const expected = scale * (expectedRequests(b, hourStart, win.from, win.to, 'quiet') ?? NaN);
    const n = requestsOf(win);
    if (expected >= 20 && n <= 0.25 * expected && poissonLower(n, expected) < EVIDENCE) {
      return {
        rule: 'tenant.traffic_drop',
        state: 'firing',
        observed: n,
        expected: Math.round(expected),
        summary: `${n} requests in ${win.minutes} min where even a quiet ${b.source === 'weekly' ? 'week' : 'day'} has about ${Math.round(expected)} at this time (${b.source} baseline): an integration may be broken.`,
        details: { windowMinutes: win.minutes, baseline: b.source, ...(b.recentLevel !== null && b.recentLevel < 1 ? { todayLevel: Math.round(b.recentLevel * 100) / 100 } : {}), ...(unseenWeekday < 1 ? { weekdayUnseen: true } : {}) },
      };
    }
  }
  return { rule: 'tenant.traffic_drop', state: recovered ? 'normal' : 'unknown', observed: n15, expected: Math.round(expected15), summary: '', details: {} };
}

export function trafficSurgeVerdict(w: TenantWindows, b: Baseline, hourStart: number): Verdict {
  if (!seasonal(b)) return { rule: 'tenant.traffic_surge', state: 'unknown', observed: null, expected: null, summary: '', details: {} };
  for (const win of [w.w5, w.w15]) {
    const expected = expectedRequests(b, hourStart, win.from, win.to);
    const n = requestsOf(win);
    if (expected !== null && n >= Math.max(5 * expected, expected + 100) && poissonUpper(n, Math.max(expected, 1)) < SURGE_EVIDENCE) {
      return {
        rule: 'tenant.traffic_surge',
        state: 'firing',
        observed: n,
        expected: Math.round(expected),
        summary: `${n} requests in ${win.minutes} min where about ${Math.round(expected)} are usual at this time (${b.source} baseline).`,
        details: { windowMinutes: win.minutes, baseline: b.source },
      };
    }
  }
  const expected15 = expectedRequests(b, hourStart, w.w15.from, w.w15.to);
  const n15 = requestsOf(w.w15);
  if (expected15 === null) return { rule: 'tenant.traffic_surge', state: 'unknown', observed: n15, expected: null, summary: '', details: {} };
  return { rule: 'tenant.traffic_surge', state: n15 <= 2.5 * expected15 + 50 ? 'normal' : 'unknown', observed: n15, expected: Math.round(expected15), summary: '', details: {} };
}

/**
 * The noisy neighbour: a tenant taking more than the threshold of all API (or job) time over
 * 5 or 15 minutes, on a platform busy enough for it to matter, and at least twice its usual
 * share (the business that is always the biggest is not an incident). The 5 minutes catch a
 * loop within minutes of its start; the 15 keep a long one firing and say when it is over.
 */
export function shareVerdict(kind: 'api' | 'job', w: TenantWindows, b: Baseline, p: PlatformWindow, t: RuleThresholds): Verdict {
  const rule = kind === 'api' ? 'tenant.api_share' : 'tenant.job_share';
  const figure = kind === 'api' ? F.apiUs : F.jobUs;
  const known = kind === 'api' ? b.apiShare : b.jobShare;
  const usual = known ?? 0;
  const measure = (win: WindowFigures, platform: { apiUs: number; jobUs: number }) => {
    const mine = win.figures[figure]!;
    const total = kind === 'api' ? platform.apiUs : platform.jobUs;
    // Busy enough: on average a twentieth of one core's time over the window.
    return { win, mine, total, busy: total >= 0.05 * win.minutes * 60e6 && p.activeTenants >= 5, share: total > 0 ? mine / total : 0 };
  };
  const m15 = measure(w.w15, p.w15);
  // Without a week of its own history a tenant's usual share is unknown: the biggest tenant of a
  // small deployment is not an incident.
  for (const m of known === null ? [] : [measure(w.w5, p.w5), m15]) {
    if (m.busy && m.share >= t.share && m.share >= 2 * usual) {
      const what = kind === 'api' ? 'API time' : 'job time';
      return {
        rule,
        state: 'firing',
        observed: m.share,
        expected: usual,
        summary: `This tenant took ${pct(m.share)} of all ${what} in the last ${m.win.minutes} min (${Math.round(m.mine / 1e6)} s of ${Math.round(m.total / 1e6)} s); usually ${pct(usual)}.`,
        details: { windowMinutes: m.win.minutes, tenantSeconds: m.mine / 1e6, platformSeconds: m.total / 1e6, activeTenants: p.activeTenants },
      };
    }
  }
  return { rule, state: m15.share < 0.75 * t.share || !m15.busy ? 'normal' : 'unknown', observed: m15.share, expected: usual, summary: '', details: {} };
}

export function tenantVerdicts(w: TenantWindows, b: Baseline, hourStart: number, p: PlatformWindow, t: RuleThresholds): Verdict[] {
  return [
    errorRateVerdict(w, b, t),
    latencyVerdict(w, b, t),
    trafficDropVerdict(w, b, hourStart),
    trafficSurgeVerdict(w, b, hourStart),
    shareVerdict('api', w, b, p, t),
    shareVerdict('job', w, b, p, t),
  ];
}

/** The baseline of a tenant with no history of its own: its plan's peers. */
export function fallbackBaseline(prior: PlanPrior): Baseline {
  return { source: 'none', requestsPerMin: null, requestsPerMinPrev: null, requestsPerMinNext: null, quietPerMin: null, quietPerMinPrev: null, quietPerMinNext: null, recentLevel: null, errorRate: prior.errorRate, errorRateRequests: PRIOR_WEIGHT, p95Ms: prior.p95Ms, apiShare: null, jobShare: null, historyHours: 0 };
}

/** How long a rule must stay normal before its alert resolves by itself. */
export const QUIET_MS = 5 * 60_000;
