/**
 * Alert quality by simulation: weeks of synthetic traffic for many tenants (daily and weekly
 * seasonality, a spread of sizes, day-to-day noise, some tenants new during the run), with
 * injected incidents of every kind, fed minute by minute, on an injected clock, to the real
 * baseline (health.baselines.ts, refreshed hourly as health.baselines does) and rule code
 * (health.rules.ts, every minute as health.evaluate does), with the alert lifecycle of
 * alerts.service.ts (one open alert per rule and tenant, resolved after QUIET_MS of normal).
 * Reports recall within 5 minutes of data, time to alert, and false alerts per 100 tenant-weeks.
 *
 * BENCH_TENANTS (1000), BENCH_DAYS (21), BENCH_INCIDENTS (60 per kind), BENCH_SEED; BENCH_VERBOSE=1
 * writes each false alert (tenant, time, verdict, baseline) to stderr, to find its cause.
 */
import { LATENCY_BUCKETS, FIGURES, F, bucketUpperMs } from '../src/platform/signals/index.ts';
import { baselineFor, tenantVerdicts, QUIET_MS, RECENT_HOURS, type Baseline, type HourSample, type Verdict } from '../src/modules/health/index.ts';

const TENANTS = Number(process.env.BENCH_TENANTS ?? 1000);
const DAYS = Number(process.env.BENCH_DAYS ?? 21);
const PER_KIND = Number(process.env.BENCH_INCIDENTS ?? 60);
const MIN_REQUESTS = 50;
const SHARE = 0.4;
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const T0 = Date.UTC(2026, 10, 2); // a Monday

let seed = Number(process.env.BENCH_SEED ?? 7);
const rand = () => ((seed = (seed * 1664525 + 1013904223) % 4294967296) / 4294967296);
const gauss = () => Math.sqrt(-2 * Math.log(rand() + 1e-12)) * Math.cos(2 * Math.PI * rand());
function poisson(lambda: number): number {
  if (lambda <= 0) return 0;
  if (lambda > 30) return Math.max(0, Math.round(lambda + Math.sqrt(lambda) * gauss()));
  const l = Math.exp(-lambda);
  let k = 0;
  let p = 1;
  do {
    k++;
    p *= rand();
  } while (p > l);
  return k - 1;
}

// A restaurant's day: quiet at night, lunch and dinner peaks. Index: local hour.
const dayShape = [0.02, 0.01, 0.01, 0.01, 0.02, 0.05, 0.15, 0.3, 0.45, 0.5, 0.6, 0.85, 1.0, 0.9, 0.55, 0.45, 0.5, 0.65, 0.9, 1.0, 0.85, 0.6, 0.3, 0.1];
const weekShape = [1.0, 1.0, 1.05, 1.1, 1.25, 1.35, 0.8]; // Monday .. Sunday

type Kind = 'error' | 'latency' | 'drop' | 'surge' | 'share';
const kinds: Kind[] = ['error', 'latency', 'drop', 'surge', 'share'];
const ruleOf: Record<Kind, string> = { error: 'tenant.error_rate', latency: 'tenant.latency', drop: 'tenant.traffic_drop', surge: 'tenant.traffic_surge', share: 'tenant.api_share' };

interface Tenant {
  peakRpm: number;
  tzShift: number;
  errorRate: number;
  latencyMedian: number;
  startMinute: number;
  dayNoise: Float64Array;
  probs: Float64Array;
}

function bucketProbs(median: number, sigma = 0.5): Float64Array {
  const cdf = (x: number) => 0.5 * (1 + erf((Math.log(x) - Math.log(median)) / (sigma * Math.SQRT2)));
  const out = new Float64Array(LATENCY_BUCKETS);
  let prev = 0;
  for (let i = 0; i < LATENCY_BUCKETS; i++) {
    const c = i === LATENCY_BUCKETS - 1 ? 1 : cdf(bucketUpperMs(i));
    out[i] = c - prev;
    prev = c;
  }
  return out;
}
function erf(x: number): number {
  const t = 1 / (1 + 0.3275911 * Math.abs(x));
  const y = 1 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-x * x);
  return x >= 0 ? y : -y;
}

const minutes = DAYS * 24 * 60;
const tenants: Tenant[] = Array.from({ length: TENANTS }, () => ({
  peakRpm: Math.exp(Math.log(0.2) + rand() * (Math.log(200) - Math.log(0.2))),
  tzShift: Math.floor(rand() * 4),
  errorRate: 0.001 + rand() * 0.009,
  latencyMedian: 20 + rand() * 60,
  startMinute: rand() < 0.05 ? Math.floor(rand() * minutes * 0.9) : 0,
  dayNoise: Float64Array.from({ length: DAYS + 1 }, () => Math.max(0.5, 1 + 0.12 * gauss())),
  probs: new Float64Array(0),
}));
for (const t of tenants) t.probs = bucketProbs(t.latencyMedian);

const expectedRate = (t: Tenant, minute: number) => {
  const at = T0 + minute * MINUTE;
  const local = new Date(at + t.tzShift * HOUR);
  const day = Math.floor(minute / 1440);
  return t.peakRpm * dayShape[local.getUTCHours()]! * weekShape[(local.getUTCDay() + 6) % 7]! * t.dayNoise[day]!;
};

// Incidents: after a week of history, where a 5-minute window holds enough traffic to tell.
interface Incident {
  kind: Kind;
  tenant: number;
  start: number;
  end: number;
  factor: number;
  alertedAt: number | null;
}
const incidents: Incident[] = [];
const tenantIncidents: Incident[][] = tenants.map(() => []);
let tries = 0;
let eligible = 0;
for (const kind of kinds) {
  let made = 0;
  while (made < PER_KIND && tries < 1e6) {
    tries++;
    const tenant = Math.floor(rand() * TENANTS);
    const start = Math.floor((8 + rand() * (DAYS - 8.5)) * 1440);
    const t = tenants[tenant]!;
    if (t.startMinute > start - 7 * 1440) continue;
    const in5 = expectedRate(t, start) * 5;
    const ok = kind === 'error' || kind === 'latency' ? in5 >= MIN_REQUESTS * 1.3 : kind === 'drop' ? in5 >= 30 : kind === 'surge' ? in5 >= 20 : in5 >= 100;
    if (!ok) continue;
    eligible++;
    const end = start + 20 + Math.floor(rand() * 40);
    if (tenantIncidents[tenant]!.some((i) => start < i.end + 120 && end > i.start - 120)) continue;
    const factor = kind === 'error' ? 0.15 + rand() * 0.25 : kind === 'latency' ? 4 + rand() * 4 : kind === 'drop' ? rand() * 0.1 : kind === 'surge' ? 6 + rand() * 6 : 0;
    const inc = { kind, tenant, start, end, factor, alertedAt: null };
    incidents.push(inc);
    tenantIncidents[tenant]!.push(inc);
    made++;
  }
}

// Figures per tenant: a ring of the last 60 minutes with running sums of the 5, 15 and 60
// minutes the evaluator reads (kept incrementally: the simulation is tens of millions of
// evaluations), and hourly rollups (with a running sum of the last week) for the baselines.
const RING = 60;
const ring = tenants.map(() => new Float64Array(RING * FIGURES));
const busySlot = tenants.map(() => new Uint8Array(RING));
const sums = tenants.map(() => ({ w5: new Float64Array(FIGURES), w15: new Float64Array(FIGURES), w60: new Float64Array(FIGURES) }));
const hours = tenants.map(() => new Float64Array((DAYS * 24 + 1) * FIGURES));
const weekSums = tenants.map(() => new Float64Array(FIGURES));
const platformHours = new Float64Array((DAYS * 24 + 1) * FIGURES);
const platformWeek = new Float64Array(FIGURES);
const platformRing = new Float64Array(RING * FIGURES);
const baselines: Baseline[] = tenants.map(() => ({ source: 'none', requestsPerMin: null, requestsPerMinPrev: null, requestsPerMinNext: null, quietPerMin: null, quietPerMinPrev: null, quietPerMinNext: null, recentLevel: null, errorRate: 0.005, errorRateRequests: 200, p95Ms: null, apiShare: null, jobShare: null, historyHours: 0 }));

const sampleOfHour = (arr: Float64Array, h: number): HourSample => {
  const o = h * FIGURES;
  return { requests: arr[o + F.requests]!, r5xx: arr[o + F.r5xx]!, apiUs: arr[o + F.apiUs]!, jobUs: arr[o + F.jobUs]!, latency: arr.subarray(o + F.latency, o + F.latency + LATENCY_BUCKETS) };
};

/** Moves a week's running sum to end before `hourIndex`: adds the hour that ended, drops the one that left. */
function slideWeek(sum: Float64Array, arr: Float64Array, hourIndex: number): void {
  const added = (hourIndex - 1) * FIGURES;
  const dropped = (hourIndex - 169) * FIGURES;
  for (let i = 0; i < FIGURES; i++) sum[i]! += arr[added + i]! - (hourIndex >= 169 ? arr[dropped + i]! : 0);
}

function refreshBaselines(hourIndex: number): void {
  const hour = T0 + hourIndex * HOUR;
  if (hourIndex > 0) slideWeek(platformWeek, platformHours, hourIndex);
  const rates: number[] = [];
  tenants.forEach((t, ti) => {
    if (hourIndex > 0) slideWeek(weekSums[ti]!, hours[ti]!, hourIndex);
    const firstHour = Math.floor(t.startMinute / 60);
    if (firstHour >= hourIndex) return;
    const map = new Map<number, HourSample>();
    // The hours health.baselines reads: the comparable ones of the hours before (today's level), of and after this one.
    for (const k of [-3, -2, -1, 0, 1]) {
      for (let w = 1; w <= 4; w++) {
        const h = hourIndex + k - w * 168;
        if (h >= firstHour) map.set(T0 + h * HOUR, sampleOfHour(hours[ti]!, h));
      }
      for (let d = 1; d <= 7; d++) {
        const h = hourIndex + k - d * 24;
        if (h >= firstHour) map.set(T0 + h * HOUR, sampleOfHour(hours[ti]!, h));
      }
    }
    let recentRequests = 0;
    for (let h = Math.max(firstHour, hourIndex - RECENT_HOURS); h < hourIndex; h++) recentRequests += hours[ti]![h * FIGURES + F.requests]!;
    baselines[ti] = baselineFor({ hours: map, firstHour: T0 + firstHour * HOUR, week: sampleOfHour(weekSums[ti]!, 0), recentRequests }, hour, prior, { apiUs: platformWeek[F.apiUs]!, jobUs: platformWeek[F.jobUs]! });
    if (baselines[ti]!.source !== 'none') rates.push(baselines[ti]!.errorRate);
  });
  rates.sort((a, b) => a - b);
  if (rates.length) prior.errorRate = rates[rates.length >> 1]!;
}
const prior = { errorRate: 0.005, p95Ms: 60 as number | null };

interface OpenAlert {
  normalSince: number | null;
}
// Open alerts per tenant, by rule (one at most, as the alerts table's unique index keeps it).
const open = tenants.map(() => new Map<string, OpenAlert>());
const opened: { tenant: number; rule: string; minute: number; verdict: Verdict; baseline: Baseline }[] = [];

const platformSum = (m: number, len: number) => {
  let api = 0;
  let job = 0;
  for (let k = 0; k < len && k <= m; k++) {
    api += platformRing[((m - k) % RING) * FIGURES + F.apiUs]!;
    job += platformRing[((m - k) % RING) * FIGURES + F.jobUs]!;
  }
  return { apiUs: api, jobUs: job };
};

/** Takes minute `m - back` (still in the ring) out of a running sum, when it had anything. */
function drop(ti: number, m: number, back: number, sum: Float64Array): void {
  if (m < back) return;
  const s = (m - back) % RING;
  if (!busySlot[ti]![s]) return;
  const r = ring[ti]!;
  const o = s * FIGURES;
  for (let i = 0; i < FIGURES; i++) sum[i]! -= r[o + i]!;
}

const started = performance.now();
const incidentAt = (ti: number, m: number) => tenantIncidents[ti]!.find((i) => m >= i.start && m < i.end) ?? null;
let evaluations = 0;

for (let m = 0; m < minutes; m++) {
  if (m % 60 === 0) refreshBaselines(m / 60);
  const slot = (m % RING) * FIGURES;
  platformRing.fill(0, slot, slot + FIGURES);
  let active = 0;
  // 1. This minute's traffic.
  for (let ti = 0; ti < TENANTS; ti++) {
    const t = tenants[ti]!;
    const r = ring[ti]!;
    const w = sums[ti]!;
    // The minute an hour ago leaves the hour (its slot is reused now), those 5 and 15 minutes ago the shorter windows.
    drop(ti, m, 60, w.w60);
    drop(ti, m, 15, w.w15);
    drop(ti, m, 5, w.w5);
    busySlot[ti]![m % RING] = 0;
    r.fill(0, slot, slot + FIGURES);
    if (m >= t.startMinute) {
      const inc = incidentAt(ti, m);
      let rate = expectedRate(t, m);
      let errorRate = t.errorRate;
      let latencyFactor = 1;
      if (inc?.kind === 'error') errorRate = inc.factor;
      if (inc?.kind === 'latency') latencyFactor = inc.factor;
      if (inc?.kind === 'drop') rate *= inc.factor;
      if (inc?.kind === 'surge') rate *= inc.factor;
      if (inc?.kind === 'share') {
        // The noisy neighbour: a heavy endpoint in a loop, taking most of the platform's API time.
        latencyFactor = 8;
        rate = Math.max(rate, (inc.factor ||= Math.max(4, (platformRing[(((m - 1 + RING) % RING) * FIGURES) + F.apiUs]! / 1e3 / (t.latencyMedian * 8)) * 1.5)));
      }
      const n = poisson(rate);
      if (n > 0) {
        const e = Math.min(n, poisson(n * errorRate));
        r[slot + F.requests] = n;
        r[slot + F.r5xx] = e;
        r[slot + F.r2xx] = n - e;
        const probs = latencyFactor === 1 ? t.probs : bucketProbs(t.latencyMedian * latencyFactor);
        let apiMs = 0;
        if (n <= 30) {
          for (let i = 0; i < n; i++) {
            let u = rand();
            let b = 0;
            while (b < LATENCY_BUCKETS - 1 && u > probs[b]!) u -= probs[b++]!;
            r[slot + F.latency + b]!++;
            apiMs += Math.min(bucketUpperMs(b), 20_000) * 0.85;
          }
        } else {
          for (let b = 0; b < LATENCY_BUCKETS; b++) {
            const p = probs[b]!;
            if (p < 1e-5) continue;
            const c = Math.max(0, Math.round(n * p + Math.sqrt(n * p * (1 - p)) * gauss()));
            r[slot + F.latency + b] = c;
            apiMs += c * Math.min(bucketUpperMs(b), 20_000) * 0.85;
          }
        }
        // Whole microseconds, as the recorder counts them (the running sums stay exact).
        r[slot + F.apiUs] = Math.round(apiMs * 1000);
        busySlot[ti]![m % RING] = 1;
        const hourRow = hours[ti]!;
        const ho = Math.floor(m / 60) * FIGURES;
        for (let i = 0; i < FIGURES; i++) {
          const v = r[slot + i]!;
          if (v === 0) continue;
          platformRing[slot + i]! += v;
          hourRow[ho + i]! += v;
          w.w5[i]! += v;
          w.w15[i]! += v;
          w.w60[i]! += v;
        }
      }
    }
    // As the evaluator counts them: tenants with a request or a job in the last 15 minutes.
    if (w.w15[F.requests]! > 0 || w.w15[F.jobRuns]! > 0) active++;
  }
  for (let i = 0; i < FIGURES; i++) platformHours[Math.floor(m / 60) * FIGURES + i]! += platformRing[slot + i]!;

  // 2. The evaluator, on the minutes up to this one, for the tenants it reads (health.evaluate.ts):
  // those with rows in the hour, with a baseline of some volume, or with an open alert.
  const end = T0 + (m + 1) * MINUTE;
  const hourStart = Math.floor((end - 1) / HOUR) * HOUR;
  const platformWindow = { w5: platformSum(m, 5), w15: platformSum(m, 15), activeTenants: active };
  for (let ti = 0; ti < TENANTS; ti++) {
    if (m < tenants[ti]!.startMinute) continue;
    const w = sums[ti]!;
    const mine = open[ti]!;
    if (w.w60[F.requests]! === 0 && w.w60[F.jobRuns]! === 0 && (baselines[ti]!.requestsPerMin ?? 0) < 1 / 3 && mine.size === 0) continue;
    evaluations++;
    const verdicts = tenantVerdicts(
      { w5: { minutes: 5, from: end - 5 * MINUTE, to: end, figures: w.w5 }, w15: { minutes: 15, from: end - 15 * MINUTE, to: end, figures: w.w15 }, w60: { minutes: 60, from: end - 60 * MINUTE, to: end, figures: w.w60 } },
      baselines[ti]!,
      hourStart,
      platformWindow,
      { minRequests: MIN_REQUESTS, share: SHARE },
    );
    for (const v of verdicts) {
      if (v.state === 'unknown') continue;
      const a = mine.get(v.rule);
      if (v.state === 'firing') {
        if (!a) {
          mine.set(v.rule, { normalSince: null });
          opened.push({ tenant: ti, rule: v.rule, minute: m, verdict: v, baseline: { ...baselines[ti]! } });
          const inc = tenantIncidents[ti]!.find((i) => m >= i.start && m < i.end + 5 && ruleOf[i.kind] === v.rule);
          if (inc && inc.alertedAt === null) inc.alertedAt = m;
        } else a.normalSince = null;
      } else if (v.state === 'normal' && a) {
        a.normalSince ??= end;
        if (end - a.normalSince >= QUIET_MS) mine.delete(v.rule);
      }
    }
  }
}
const seconds = (performance.now() - started) / 1000;

// 3. The verdicts.
const within5 = (i: Incident) => i.alertedAt !== null && i.alertedAt - i.start < 5;
const rows = kinds.map((kind) => {
  const mine = incidents.filter((i) => i.kind === kind);
  const caught = mine.filter(within5);
  const delays = mine.filter((i) => i.alertedAt !== null).map((i) => i.alertedAt! - i.start + 1).sort((a, b) => a - b);
  return { kind, n: mine.length, recall: caught.length / mine.length, everCaught: delays.length / mine.length, median: delays[delays.length >> 1] ?? null, p95: delays[Math.floor(delays.length * 0.95)] ?? null };
});
// A false alert: opened for a tenant outside any of its incidents (and the hour after one).
const falseAlerts = opened.filter((o) => !tenantIncidents[o.tenant]!.some((i) => o.minute >= i.start && o.minute < i.end + 60));
const tenantWeeks = tenants.reduce((s, t) => s + (minutes - t.startMinute) / (7 * 1440), 0);
const falseByRule = new Map<string, number>();
for (const f of falseAlerts) falseByRule.set(f.rule, (falseByRule.get(f.rule) ?? 0) + 1);
const per100 = (falseAlerts.length / tenantWeeks) * 100;
if (process.env.BENCH_VERBOSE) {
  for (const f of falseAlerts.slice(0, 40)) {
    const t = tenants[f.tenant]!;
    const at = new Date(T0 + f.minute * MINUTE);
    process.stderr.write(`false ${f.rule} tenant ${f.tenant} peak ${t.peakRpm.toFixed(1)} 5xx ${t.errorRate.toFixed(4)} tz ${t.tzShift} start ${t.startMinute} at ${at.toISOString()} (day ${Math.floor(f.minute / 1440)}) ${f.verdict.summary} ${JSON.stringify(f.verdict.details)} baseline ${JSON.stringify(f.baseline)}\n`);
  }
}
const overall = incidents.filter(within5).length / incidents.length;

process.stdout.write(`## Alert quality by simulation

${TENANTS.toLocaleString('en-US')} tenants, ${DAYS} days of synthetic traffic minute by minute (${Math.round(tenantWeeks)} tenant-weeks;
${tenants.filter((t) => t.startMinute > 0).length} tenants start during the run), sizes log-uniform from 0.2 to 200 requests a minute at peak, a
restaurant's day (lunch and dinner peaks, quiet nights, time zones shifted 0-3 h), a week with busier
weekends, ±12% day-to-day noise, Poisson arrivals, 0.1-1% usual 5xx, log-normal latency (median 20-80 ms).
The real baseline code is refreshed every simulated hour and the real rules run every simulated minute
(${evaluations.toLocaleString('en-US')} tenant evaluations, ${seconds.toFixed(0)} s), with the alert lifecycle of the alerts module.
Incidents (20-60 min) start after a week of history, at tenants and times where a 5-minute window holds
enough traffic to tell (errors and latency: 65 requests; collapse: 30; surge: 20; noisy neighbour: 100);
${((incidents.length / Math.max(1, eligible)) * 100).toFixed(0)}% of eligible draws kept (no overlaps).

| incident | injected | recall within 5 min of data | caught at all | time to alert, median / p95 (min) |
| --- | ---: | ---: | ---: | ---: |
${rows.map((r) => `| ${r.kind} (${ruleOf[r.kind]}) | ${r.n} | ${(r.recall * 100).toFixed(1)}% | ${(r.everCaught * 100).toFixed(1)}% | ${r.median ?? '-'} / ${r.p95 ?? '-'} |`).join('\n')}

Overall recall within 5 minutes: **${(overall * 100).toFixed(1)}%** (goal ≥ 95%).
False alerts: **${falseAlerts.length}** in ${Math.round(tenantWeeks)} tenant-weeks = **${per100.toFixed(2)} per 100 tenant-weeks** (goal < 1)${
  falseAlerts.length ? `; by rule: ${[...falseByRule].map(([r, n]) => `${r} ${n}`).join(', ')}` : ''
}.
Error rates of 15-40% (from 0.1-1%), latency ×4-8, traffic to 0-10% or ×6-12, a tenant looping on an
endpoint 8× slower than its usual until it holds most of the platform's API time.
`);
