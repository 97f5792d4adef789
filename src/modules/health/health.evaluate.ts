import { sql, CompiledQuery } from 'kysely';
import type { Platform } from '../../platform/deps.ts';
import type { Tx } from '../../platform/db/index.ts';
import { F, quantileMs, figureColumns } from '../../platform/signals/index.ts';
import { tenantSlots } from '../../platform/jobs/index.ts';
import { raiseAlert, signalNormal, unresolvedOf, dispatchNotifications, type RuleName } from '../alerts/index.ts';
import { baselineFor, DEFAULT_PRIOR, RECENT_HOURS, type Baseline, type PlanPrior, type HourSample } from './health.baselines.ts';
import { tenantVerdicts, fallbackBaseline, QUIET_MS, type TenantWindows, type Verdict } from './health.rules.ts';
import { shortWindows, hourWindows, windowChanges, lastHourFigures, platformTotals, tenantTotals, hourSamples, signalsStart, figuresFrom, sampleOf } from './health.repository.ts';

/**
 * The evaluator, once a minute (job health.evaluate) with the time given: it reads the
 * settled minutes (a flush may land up to BRIGADE_SIGNAL_FLUSH_MS after its minute), refreshes
 * every tenant's last-hour figures (tenant_health, what the ops API sorts on), runs the tenant
 * rules against each tenant's baseline and the job rules, opens, counts and resolves alerts,
 * and hands their notifications to the queue.
 */
const MINUTE = 60_000;
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

export const tenantRules: RuleName[] = ['tenant.error_rate', 'tenant.latency', 'tenant.traffic_drop', 'tenant.traffic_surge', 'tenant.api_share', 'tenant.job_share'];

export interface EvaluationSummary {
  windowEnd: string;
  tenants: number;
  opened: number;
  firing: number;
  resolved: number;
  /** Milliseconds each phase took (read, verdicts, alerts, health, jobs, notify). */
  phases: Record<string, number>;
}

/** How long after a minute ends its counts may still arrive: one flush interval and a margin. */
export const settleMs = (config: Platform['config']) => config.BRIGADE_SIGNAL_FLUSH_MS + 5_000;

/** The end of the last minute whose counts have all landed by `now`. */
const settledEnd = (platform: Platform, now: Date) => new Date(Math.floor((now.getTime() - settleMs(platform.config)) / MINUTE) * MINUTE);

const baselineOfRow = (r: { source: Baseline['source']; requests_per_min: number | null; requests_per_min_prev: number | null; requests_per_min_next: number | null; quiet_per_min: number | null; quiet_per_min_prev: number | null; quiet_per_min_next: number | null; recent_level: number | null; error_rate_requests: number | null; error_rate: number | null; p95_ms: number | null; api_share: number | null; job_share: number | null; history_hours: number }, prior: PlanPrior): Baseline => ({
  source: r.source,
  requestsPerMin: r.requests_per_min,
  requestsPerMinPrev: r.requests_per_min_prev,
  requestsPerMinNext: r.requests_per_min_next,
  quietPerMin: r.quiet_per_min,
  quietPerMinPrev: r.quiet_per_min_prev,
  quietPerMinNext: r.quiet_per_min_next,
  recentLevel: r.recent_level,
  errorRateRequests: r.error_rate_requests,
  errorRate: r.error_rate ?? prior.errorRate,
  p95Ms: r.p95_ms ?? prior.p95Ms,
  apiShare: r.api_share,
  jobShare: r.job_share,
  historyHours: r.history_hours,
});

/** Per plan: the median error rate and p95 of its tenants' baselines (a new tenant's yardstick). */
async function planPriors(trx: Tx): Promise<Map<string, PlanPrior>> {
  const rows = await trx
    .selectFrom('tenant_baselines as b')
    .innerJoin('subscriptions as s', 's.tenant_id', 'b.tenant_id')
    .select(['s.plan', sql<number>`percentile_cont(0.5) WITHIN GROUP (ORDER BY b.error_rate)`.as('error_rate'), sql<number | null>`percentile_cont(0.5) WITHIN GROUP (ORDER BY b.p95_ms)`.as('p95_ms')])
    .where('b.source', '<>', 'none')
    .groupBy('s.plan')
    .execute();
  return new Map(rows.map((r) => [r.plan, { errorRate: Number(r.error_rate ?? DEFAULT_PRIOR.errorRate), p95Ms: r.p95_ms === null ? null : Number(r.p95_ms) }]));
}

export async function evaluate(platform: Platform, now = new Date()): Promise<EvaluationSummary> {
  const { tenancy, config } = platform;
  const end = settledEnd(platform, now);
  const hourStart = Math.floor(end.getTime() / HOUR) * HOUR;
  const thresholds = { minRequests: config.BRIGADE_ALERT_MIN_REQUESTS, share: config.BRIGADE_ALERT_SHARE_PERCENT / 100 };

  const phases: Record<string, number> = {};
  let mark = performance.now();
  const lap = <T>(name: string, v: T): T => {
    const t = performance.now();
    phases[name] = Math.round(t - mark);
    mark = t;
    return v;
  };
  // tenant_health first: the rules read each tenant's hour from it.
  lap('health', await refreshHealth(platform, end));
  const data = await tenancy.withSystem('health: read the last hour', async (trx) => {
    // Big aggregates run once: compiling them costs more than it saves.
    await sql`SET LOCAL jit = off`.execute(trx);
    return {
      short: lap('windows', await shortWindows(trx, end)),
      hour: lap('hour', await lastHourFigures(trx)),
      platform15: await platformTotals(trx, 'm', new Date(end.getTime() - 15 * MINUTE), end),
      platform5: lap('platform', await platformTotals(trx, 'm', new Date(end.getTime() - 5 * MINUTE), end)),
      baselines: lap('baselines', await trx.selectFrom('tenant_baselines').selectAll().execute()),
      plans: lap('plans', new Map((await trx.selectFrom('subscriptions').select(['tenant_id', 'plan']).execute()).map((r) => [r.tenant_id, r.plan]))),
      priors: lap('priors', await planPriors(trx)),
      open: lap('open', await unresolvedOf(trx, tenantRules)),
    };
  });

  const baselines = new Map(data.baselines.map((b) => [b.tenant_id, b]));
  const openKeys = new Set(data.open.map((a) => `${a.rule}|${a.subject}`));
  const candidates = new Set<string>([...data.hour.keys(), ...data.short.keys()]);
  // A tenant whose traffic stopped has no rows in the window: its baseline brings it in.
  for (const b of data.baselines) if ((b.requests_per_min ?? 0) >= 1 / 3) candidates.add(b.tenant_id);
  for (const a of data.open) if (a.tenant_id) candidates.add(a.tenant_id);

  let activeTenants = 0;
  for (const w of data.short.values()) if (w.w15[F.requests]! > 0 || w.w15[F.jobRuns]! > 0) activeTenants++;
  const platformWindow = {
    w5: { apiUs: data.platform5[F.apiUs]!, jobUs: data.platform5[F.jobUs]! },
    w15: { apiUs: data.platform15[F.apiUs]!, jobUs: data.platform15[F.jobUs]! },
    activeTenants,
  };

  // Figures a tenant has none of (w5 and w15 carry shortColumns, w60 tenant_health's figures).
  const empty = new Float64Array(figureColumns.length);
  const verdicts: { tenantId: string; v: Verdict }[] = [];
  for (const tenantId of candidates) {
    const w = data.short.get(tenantId);
    const windows: TenantWindows = {
      w5: { minutes: 5, from: end.getTime() - 5 * MINUTE, to: end.getTime(), figures: w?.w5 ?? empty },
      w15: { minutes: 15, from: end.getTime() - 15 * MINUTE, to: end.getTime(), figures: w?.w15 ?? empty },
      w60: { minutes: 60, from: end.getTime() - 60 * MINUTE, to: end.getTime(), figures: data.hour.get(tenantId) ?? empty },
    };
    const prior = data.priors.get(data.plans.get(tenantId) ?? '') ?? DEFAULT_PRIOR;
    const row = baselines.get(tenantId);
    const baseline = row ? baselineOfRow(row, prior) : fallbackBaseline(prior);
    for (const v of tenantVerdicts(windows, baseline, row ? row.hour_at.getTime() : hourStart, platformWindow, thresholds)) verdicts.push({ tenantId, v });
  }

  lap('verdicts', null);
  const summary: EvaluationSummary = { windowEnd: end.toISOString(), tenants: candidates.size, opened: 0, firing: 0, resolved: 0, phases };
  await tenancy.withSystem('health: raise and resolve tenant alerts', async (trx) => {
    for (const { tenantId, v } of verdicts) {
      if (v.state === 'firing') {
        summary.firing++;
        const r = await raiseAlert(trx, config, { rule: v.rule, tenantId, summary: v.summary, observed: v.observed, expected: v.expected, details: v.details, at: end });
        if (r.opened) summary.opened++;
      } else if (v.state === 'normal' && openKeys.has(`${v.rule}|${tenantId}`)) {
        if ((await signalNormal(trx, config, { rule: v.rule, subject: tenantId, at: end, quietMs: QUIET_MS, observed: v.observed })) === 'resolved') summary.resolved++;
      }
    }
  });

  lap('alerts', null);
  const jobs = await evaluateJobRules(platform, now);
  summary.opened += jobs.opened;
  summary.resolved += jobs.resolved;
  lap('jobRules', null);
  await dispatchNotifications(platform, now).catch((err) => platform.log.warn({ err: (err as Error).message }, 'alerts: could not hand notifications to the queue; the next dispatch will'));
  lap('notify', null);
  return summary;
}

/**
 * tenant_health: every tenant's figures over the hour before `end`. Only tenants whose hour
 * changed since the last refresh are recomputed (from their minute rows) and written: those
 * with a minute that entered or left the window. Every tenant is recomputed on the first run,
 * after a gap of an hour or more, when the clock went back, or when a batch landed since the
 * last read for minutes it had already counted (a late flush). Rows whose figures did not
 * change are not rewritten; the window and the platform's API time are kept once, in
 * tenant_health_refresh (decision 0681).
 */
async function refreshHealth(platform: Platform, end: Date): Promise<void> {
  await platform.tenancy.withSystem('health: refresh the last hour per tenant', async (trx) => {
    await sql`SET LOCAL jit = off`.execute(trx);
    const state = await trx.selectFrom('tenant_health_refresh').selectAll().forUpdate().executeTakeFirst();
    const readAt = (await sql<{ now: Date }>`SELECT now() AS now`.execute(trx)).rows[0]!.now;
    const before = state?.window_end ?? null;
    let changed = before !== null && before.getTime() <= end.getTime() && end.getTime() - before.getTime() < HOUR;
    if (changed && state) {
      // A flush's transaction starts (flushed_at) a moment before it commits: a margin.
      const late = await sql<{ one: number }>`
        SELECT 1 AS one FROM signal_flushes WHERE flushed_at >= ${new Date(state.read_at.getTime() - 5_000)} AND (first_at IS NULL OR first_at < ${before})
        LIMIT 1`.execute(trx);
      if (late.rows.length) changed = false;
    }
    const tenantIds = changed ? await windowChanges(trx, before!, end) : null;
    const figures = tenantIds && tenantIds.length === 0 ? new Map<string, Float64Array>() : await hourWindows(trx, end, tenantIds);
    // Every tenant: those with rows in the hour, and those whose figures must return to zero.
    const ids =
      tenantIds ??
      [...new Set([...figures.keys(), ...(await trx.selectFrom('tenant_health').select('tenant_id').where((eb) => eb.or([eb('requests', '>', '0' as never), eb('job_runs', '>', '0' as never)])).execute()).map((r) => r.tenant_id)])];
    const total = await platformTotals(trx, 'm', new Date(end.getTime() - HOUR), end);
    const platformApiMs = total[F.apiUs]! / 1000;
    const empty = new Float64Array(figureColumns.length);
    const rows = ids.map((tenantId) => {
      const f = figures.get(tenantId) ?? empty;
      const requests = f[F.requests]!;
      return {
        tenantId,
        requests,
        e4: f[F.r4xx]!,
        e5: f[F.r5xx]!,
        rate: requests > 0 ? f[F.r5xx]! / requests : 0,
        p50: quantileMs(f, 0.5, F.latency),
        p95: quantileMs(f, 0.95, F.latency),
        p99: quantileMs(f, 0.99, F.latency),
        apiMs: f[F.apiUs]! / 1000,
        jobRuns: f[F.jobRuns]!,
        jobFailures: f[F.jobFailures]!,
      };
    });
    rows.sort((a, b) => (a.tenantId < b.tenantId ? -1 : 1));
    for (let i = 0; i < rows.length; i += 5000) {
      const chunk = rows.slice(i, i + 5000);
      const col = <K extends keyof (typeof chunk)[number]>(k: K) => chunk.map((r) => r[k]);
      await trx.executeQuery(
        CompiledQuery.raw(
          // A tenant's row appears with its first figures (one not yet there lists as zero).
          `INSERT INTO tenant_health AS h (tenant_id, requests, errors_4xx, errors_5xx, error_rate, p50_ms, p95_ms, p99_ms, api_ms, api_share, job_runs, job_failures, window_end)
           SELECT u.tenant_id, u.requests, u.e4, u.e5, u.rate, u.p50, u.p95, u.p99, u.api_ms, CASE WHEN $12::float8 > 0 THEN u.api_ms / $12::float8 ELSE 0 END, u.job_runs, u.job_failures, $13
           FROM unnest($1::uuid[], $2::bigint[], $3::bigint[], $4::bigint[], $5::real[], $6::real[], $7::real[], $8::real[], $9::float8[], $10::bigint[], $11::bigint[])
             AS u(tenant_id, requests, e4, e5, rate, p50, p95, p99, api_ms, job_runs, job_failures)
           WHERE EXISTS (SELECT 1 FROM tenants t WHERE t.id = u.tenant_id)
           ORDER BY u.tenant_id
           ON CONFLICT (tenant_id) DO UPDATE SET requests = excluded.requests, errors_4xx = excluded.errors_4xx, errors_5xx = excluded.errors_5xx, error_rate = excluded.error_rate,
             p50_ms = excluded.p50_ms, p95_ms = excluded.p95_ms, p99_ms = excluded.p99_ms, api_ms = excluded.api_ms, api_share = excluded.api_share,
             job_runs = excluded.job_runs, job_failures = excluded.job_failures, window_end = excluded.window_end
           WHERE (h.requests, h.errors_4xx, h.errors_5xx, h.error_rate, h.p50_ms, h.p95_ms, h.p99_ms, h.api_ms, h.job_runs, h.job_failures)
                 IS DISTINCT FROM (excluded.requests, excluded.errors_4xx, excluded.errors_5xx, excluded.error_rate, excluded.p50_ms, excluded.p95_ms, excluded.p99_ms, excluded.api_ms, excluded.job_runs, excluded.job_failures)`,
          [col('tenantId'), col('requests'), col('e4'), col('e5'), col('rate'), col('p50'), col('p95'), col('p99'), col('apiMs'), col('jobRuns'), col('jobFailures'), platformApiMs, end],
        ),
      );
    }
    await sql`
      INSERT INTO tenant_health_refresh (id, window_end, platform_api_ms, read_at) VALUES (true, ${end}, ${platformApiMs}, ${readAt})
      ON CONFLICT (id) DO UPDATE SET window_end = excluded.window_end, platform_api_ms = excluded.platform_api_ms, read_at = excluded.read_at`.execute(trx);
  });
}

/** Dead letters per job type and per tenant, and the relay's lag, against their thresholds. */
async function evaluateJobRules(platform: Platform, now: Date): Promise<{ opened: number; resolved: number }> {
  const { tenancy, config } = platform;
  const since = new Date(now.getTime() - DAY);
  const lagBefore = new Date(now.getTime() - config.BRIGADE_ALERT_OUTBOX_LAG_SECONDS * 1000);
  const found = await tenancy.withSystem('health: dead letters and outbox lag', async (trx) => ({
    byType: await trx.selectFrom('dead_jobs').select(['type', sql<number>`count(*)::int`.as('n')]).where('resolved_at', 'is', null).where('died_at', '>=', since).groupBy('type').execute(),
    byTenant: await trx
      .selectFrom('dead_jobs')
      .select(['tenant_id', sql<number>`count(*)::int`.as('n')])
      .where('resolved_at', 'is', null)
      .where('died_at', '>=', since)
      .where('tenant_id', 'is not', null)
      .groupBy('tenant_id')
      .execute(),
    // Tenants whose oldest due row has waited too long; those at their cap wait by design.
    waiting: await sql<{ tenant_id: string; oldest: Date }>`
      SELECT tenant_id, min(greatest(run_at, created_at)) AS oldest FROM outbox
      WHERE relayed_at IS NULL AND run_at <= ${now} GROUP BY tenant_id
      HAVING min(greatest(run_at, created_at)) < ${lagBefore}`.execute(trx),
    open: await unresolvedOf(trx, ['jobs.dead_letters', 'tenant.dead_letters', 'jobs.outbox_lag']),
  }));

  let lag: { seconds: number; tenants: number } | null = null;
  if (found.waiting.rows.length) {
    const ids = found.waiting.rows.map((r) => r.tenant_id);
    const inFlight = await tenantSlots(platform.redis, config.BRIGADE_QUEUE_PREFIX, platform.log)
      .inFlight(ids)
      .catch(() => new Map<string, number>());
    const lagging = found.waiting.rows.filter((r) => (inFlight.get(r.tenant_id) ?? 0) < config.BRIGADE_JOB_TENANT_CAP);
    if (lagging.length) lag = { seconds: Math.round((now.getTime() - Math.min(...lagging.map((r) => r.oldest.getTime()))) / 1000), tenants: lagging.length };
  }

  const threshold = config.BRIGADE_ALERT_DEAD_JOBS;
  const result = { opened: 0, resolved: 0 };
  await tenancy.withSystem('health: raise and resolve job alerts', async (trx) => {
    const firing = new Set<string>();
    const raise = async (rule: RuleName, subject: string, tenantId: string | null, observed: number, expected: number, summary: string, details: Record<string, unknown>) => {
      firing.add(`${rule}|${subject}`);
      if ((await raiseAlert(trx, config, { rule, subject, tenantId, observed, expected, summary, details, at: now })).opened) result.opened++;
    };
    for (const r of found.byType) {
      if (r.n >= threshold) await raise('jobs.dead_letters', r.type, null, r.n, threshold, `${r.n} ${r.type} jobs died in the last 24 hours and wait for an operator (threshold ${threshold}).`, { type: r.type });
    }
    for (const r of found.byTenant) {
      if (r.n >= threshold) await raise('tenant.dead_letters', r.tenant_id!, r.tenant_id, r.n, threshold, `${r.n} of this tenant's jobs died in the last 24 hours and wait for an operator (threshold ${threshold}).`, {});
    }
    if (lag) {
      const limit = config.BRIGADE_ALERT_OUTBOX_LAG_SECONDS;
      await raise('jobs.outbox_lag', 'platform', null, lag.seconds, limit, `A due outbox row has waited ${lag.seconds} s to be relayed (${lag.tenants} tenant(s) with room in the queues are waiting; threshold ${limit} s).`, { tenants: lag.tenants });
    }
    const counts = new Map<string, number>([...found.byType.map((r) => [`jobs.dead_letters|${r.type}`, r.n] as const), ...found.byTenant.map((r) => [`tenant.dead_letters|${r.tenant_id}`, r.n] as const)]);
    for (const a of found.open) {
      const key = `${a.rule}|${a.subject}`;
      if (firing.has(key)) continue;
      // Dead letters: normal once fewer than half the threshold remain (replayed or discarded).
      const normal = a.rule === 'jobs.outbox_lag' || (counts.get(key) ?? 0) < threshold / 2;
      if (normal && (await signalNormal(trx, config, { rule: a.rule as RuleName, subject: a.subject, at: now, quietMs: QUIET_MS })) === 'resolved') result.resolved++;
    }
  });
  return result;
}

// ---------------------------------------------------------------------------------------------
// Baselines, once an hour (job health.baselines): every tenant's expectation for the hour.

export async function refreshBaselines(platform: Platform, now = new Date()): Promise<{ tenants: number; hour: string }> {
  const { tenancy } = platform;
  const hour = Math.floor(now.getTime() / HOUR) * HOUR;
  const sampleHours = new Set<number>();
  // The comparable hours of the hours before (today's level), of and after this one.
  for (const k of [-3, -2, -1, 0, 1]) {
    for (let w = 1; w <= 4; w++) sampleHours.add(hour + k * HOUR - w * 7 * DAY);
    for (let d = 1; d <= 7; d++) sampleHours.add(hour + k * HOUR - d * DAY);
  }
  const today = Math.floor(hour / DAY) * DAY;
  const computedAt = new Date();
  const result = await tenancy.withSystem('health: refresh baselines', async (trx) => {
    const samples = await hourSamples(trx, [...sampleHours].map((h) => new Date(h)));
    // Today's level: the last hours from their minutes (the hour just ended may not be rolled up yet).
    const recent = await tenantTotals(trx, new Date(hour - RECENT_HOURS * HOUR), new Date(hour));
    const weekSql = (table: 'tenant_signals' | 'platform_signals', group: string) => `
      SELECT ${group ? `${group}, ` : ''}${figureColumns.map((c, i) => `sum(${c}) AS f${i}`).join(', ')} FROM (
        SELECT * FROM ${table} WHERE grain = 'd' AND at >= $1 AND at < $2
        UNION ALL SELECT * FROM ${table} WHERE grain = 'h' AND at >= $2 AND at < $3
      ) w ${group ? `GROUP BY ${group}` : ''}`;
    const params = [new Date(today - 7 * DAY), new Date(today), new Date(hour)];
    const weekRows = (await trx.executeQuery<Record<string, unknown> & { tenant_id: string }>(CompiledQuery.raw(weekSql('tenant_signals', 'tenant_id'), params))).rows;
    const platformWeek = figuresFrom((await trx.executeQuery<Record<string, unknown>>(CompiledQuery.raw(weekSql('platform_signals', ''), params))).rows[0] ?? {});
    const weeks = new Map<string, HourSample>(weekRows.map((r) => [r.tenant_id, sampleOf(figuresFrom(r))]));
    const ids = [...new Set([...samples.keys(), ...weeks.keys()])];
    const start = await signalsStart(trx);
    const tenants = ids.length ? await trx.selectFrom('tenants as t').leftJoin('subscriptions as s', 's.tenant_id', 't.id').select(['t.id', 't.created_at', 's.plan']).where('t.id', 'in', ids).execute() : [];
    const priors = await planPriors(trx);
    const rows = tenants.map((t) => {
      const firstHour = Math.max(Math.floor(t.created_at.getTime() / HOUR) * HOUR, start ? Math.floor(start.getTime() / HOUR) * HOUR : hour);
      const b = baselineFor(
        { hours: samples.get(t.id) ?? new Map(), firstHour, week: weeks.get(t.id) ?? null, recentRequests: recent.get(t.id)?.[F.requests] ?? 0 },
        hour,
        priors.get(t.plan ?? '') ?? DEFAULT_PRIOR,
        { apiUs: platformWeek[F.apiUs]!, jobUs: platformWeek[F.jobUs]! },
      );
      return { tenantId: t.id, b };
    });
    for (let i = 0; i < rows.length; i += 5000) {
      const chunk = rows.slice(i, i + 5000);
      const col = (f: (b: Baseline) => unknown) => chunk.map((r) => f(r.b));
      await trx.executeQuery(
        CompiledQuery.raw(
          `INSERT INTO tenant_baselines (tenant_id, hour_at, requests_per_min, requests_per_min_prev, requests_per_min_next, error_rate, p95_ms, api_share, job_share, source, history_hours, computed_at,
             quiet_per_min, quiet_per_min_prev, quiet_per_min_next, recent_level, error_rate_requests)
           SELECT t, $2, rpm, prev, next, er, p95, api, job, src, hh, $3, q, qprev, qnext, lvl, ern
           FROM unnest($1::uuid[], $4::real[], $5::real[], $6::real[], $7::real[], $8::real[], $9::real[], $10::real[], $11::text[], $12::int[], $13::real[], $14::real[], $15::real[], $16::real[], $17::real[])
             AS u(t, rpm, prev, next, er, p95, api, job, src, hh, q, qprev, qnext, lvl, ern)
           ORDER BY t
           ON CONFLICT (tenant_id) DO UPDATE SET hour_at = excluded.hour_at, requests_per_min = excluded.requests_per_min, requests_per_min_prev = excluded.requests_per_min_prev,
             requests_per_min_next = excluded.requests_per_min_next, quiet_per_min = excluded.quiet_per_min, quiet_per_min_prev = excluded.quiet_per_min_prev,
             quiet_per_min_next = excluded.quiet_per_min_next, recent_level = excluded.recent_level, error_rate_requests = excluded.error_rate_requests, error_rate = excluded.error_rate, p95_ms = excluded.p95_ms, api_share = excluded.api_share,
             job_share = excluded.job_share, source = excluded.source, history_hours = excluded.history_hours, computed_at = excluded.computed_at`,
          [
            chunk.map((r) => r.tenantId),
            new Date(hour),
            computedAt,
            col((b) => b.requestsPerMin),
            col((b) => b.requestsPerMinPrev),
            col((b) => b.requestsPerMinNext),
            col((b) => b.errorRate),
            col((b) => b.p95Ms),
            col((b) => b.apiShare),
            col((b) => b.jobShare),
            col((b) => b.source),
            col((b) => b.historyHours),
            col((b) => b.quietPerMin),
            col((b) => b.quietPerMinPrev),
            col((b) => b.quietPerMinNext),
            col((b) => b.recentLevel),
            col((b) => b.errorRateRequests),
          ],
        ),
      );
    }
    // Tenants with no traffic in any sampled hour nor the last week expect none.
    await trx.deleteFrom('tenant_baselines').where('computed_at', '<', computedAt).execute();
    return rows.length;
  });
  return { tenants: result, hour: new Date(hour).toISOString() };
}


