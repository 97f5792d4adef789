import { sql, type Expression, type SqlBool } from 'kysely';
import type { Platform } from '../../platform/deps.ts';
import type { Tx } from '../../platform/db/index.ts';
import { AppError } from '../../platform/errors/index.ts';
import { decodeCursor, encodeCursor } from '../../platform/http/pagination.ts';
import { F, quantileMs, addFigures, emptyFigures } from '../../platform/signals/index.ts';
import { alertsService } from '../alerts/index.ts';
import { planOf, limitsExceeded } from '../billing/index.ts';
import { baselineFor, expectedRequests, DEFAULT_PRIOR, type HourSample } from './health.baselines.ts';
import { seriesRows, tenantTotals, rankTenants, platformTotals, sampleOf, grainMs, type Grain } from './health.repository.ts';

/**
 * The tenant-aware operations API: figures about tenants (plan, status, usage, health), never
 * their data. Business name and slug stand beside every tenant id.
 *
 * A read model across modules (tenants, subscriptions, branches, users, orders, the rollups):
 * like reports, it reads the owners' tables in SQL, because paging 100,000 tenants by their
 * health cannot be done by asking each module about each tenant (decision 0500).
 */
export const tenantSorts = ['name', 'created', 'requests', 'errors', 'errorRate', 'p95', 'jobFailures', 'apiTime'] as const;
export type TenantSort = (typeof tenantSorts)[number];

/** Each health sort: its tenant_health column, the cast of its cursor value, and how its index orders it. */
const sortColumn: Record<Exclude<TenantSort, 'name' | 'created'>, { column: string; cast: string; nulls?: string }> = {
  requests: { column: 'h.requests', cast: 'bigint' },
  errors: { column: 'h.errors_5xx', cast: 'bigint' },
  errorRate: { column: 'h.error_rate', cast: 'real' },
  p95: { column: 'h.p95_ms', cast: 'real', nulls: 'NULLS LAST' },
  jobFailures: { column: 'h.job_failures', cast: 'bigint' },
  apiTime: { column: 'h.api_ms', cast: 'float8' },
};

export interface TenantQuery {
  q?: string;
  plan?: string;
  status?: string;
  hasOpenAlert?: boolean;
  sort?: TenantSort;
  limit?: number;
  cursor?: string;
}

export const topMeasures = ['requests', 'errors', 'errorRate', 'p95', 'jobFailures', 'apiTimeShare'] as const;
export type TopMeasure = (typeof topMeasures)[number];
export const windows = { '15m': 15 * 60_000, '1h': 3_600_000, '6h': 6 * 3_600_000, '24h': 86_400_000, '7d': 7 * 86_400_000 } as const;
export type WindowName = keyof typeof windows;

const MAX_POINTS = 1500;
const MAX_SPAN = 31 * 86_400_000;

const round = (x: number | null, digits = 1) => (x === null ? null : Math.round(x * 10 ** digits) / 10 ** digits);

function point(at: Date, f: ArrayLike<number>) {
  const requests = f[F.requests]!;
  return {
    at: at.toISOString(),
    requests,
    errors4xx: f[F.r4xx]!,
    errors5xx: f[F.r5xx]!,
    rateLimited: f[F.r429]!,
    paymentRequired: f[F.r402]!,
    errorRate: requests > 0 ? f[F.r5xx]! / requests : 0,
    p50Ms: round(quantileMs(f, 0.5, F.latency)),
    p95Ms: round(quantileMs(f, 0.95, F.latency)),
    p99Ms: round(quantileMs(f, 0.99, F.latency)),
    apiMs: Math.round(f[F.apiUs]! / 1000),
    dbMs: Math.round(f[F.dbUs]! / 1000),
    jobRuns: f[F.jobRuns]!,
    jobFailures: f[F.jobFailures]!,
    jobDead: f[F.jobDead]!,
    jobWaitMsAvg: f[F.jobRuns]! > 0 ? round(f[F.jobWaitUs]! / 1000 / f[F.jobRuns]!) : null,
    jobWaitMsMax: f[F.jobWaitMaxMs]!,
  };
}

/** Checks a time range of the health API and picks its step: bounded, so a page stays small. */
export function seriesRange(q: { from?: string; to?: string; step?: 'minute' | 'hour' | 'day' }, now = new Date()) {
  const to = q.to ? new Date(q.to) : now;
  const from = q.from ? new Date(q.from) : new Date(to.getTime() - 86_400_000);
  const bad = (path: string, message: string) => new AppError('validation_failed', 'The time range is not one this API serves.', { errors: [{ path: `querystring.${path}`, message }] });
  if (Number.isNaN(from.getTime())) throw bad('from', 'is not a date-time');
  if (Number.isNaN(to.getTime())) throw bad('to', 'is not a date-time');
  if (from >= to) throw bad('from', 'must be before to');
  if (to.getTime() - from.getTime() > MAX_SPAN) throw bad('from', 'must be at most 31 days before to');
  if (to.getTime() > now.getTime() + 3_600_000) throw bad('to', 'must not be more than an hour in the future');
  const span = to.getTime() - from.getTime();
  const grain: Grain = q.step ? ({ minute: 'm', hour: 'h', day: 'd' } as const)[q.step] : span <= 6 * 3_600_000 ? 'm' : span <= 7 * 86_400_000 ? 'h' : 'd';
  if (span / grainMs[grain] > MAX_POINTS) throw bad('step', `gives more than ${MAX_POINTS} points for this range; choose a larger step`);
  // Whole steps: the first point starts at or before `from`.
  const start = new Date(Math.floor(from.getTime() / grainMs[grain]) * grainMs[grain]);
  return { from: start, to, grain };
}

export function healthOps(platform: Platform) {
  const { tenancy } = platform;
  const alerts = alertsService(platform);

  async function listRows(where: Expression<SqlBool> | null, q: TenantQuery & { ids?: string[] }) {
    const limit = q.limit ?? 50;
    const sort = q.sort ?? 'name';
    return tenancy.withSystem('ops: tenants', async (trx) => {
      let query = trx
        .selectFrom('tenants as t')
        .leftJoin('subscriptions as s', 's.tenant_id', 't.id')
        .leftJoin('tenant_health as h', 'h.tenant_id', 't.id')
        // The window every row is refreshed for, and the platform's API time over it (decision 0681).
        .leftJoin('tenant_health_refresh as w', (join) => join.onTrue())
        .select([
          't.id', 't.name', 't.slug', 't.created_at', 's.plan', 's.status', 's.trial_ends_at', 's.current_period_end', 's.current_period_start',
          'h.requests', 'h.errors_4xx', 'h.errors_5xx', 'h.error_rate', 'h.p50_ms', 'h.p95_ms', 'h.p99_ms', 'h.api_ms', 'h.job_runs', 'h.job_failures',
          sql<number | null>`CASE WHEN w.platform_api_ms > 0 THEN h.api_ms / w.platform_api_ms ELSE 0 END`.as('api_share'),
          sql<Date | null>`CASE WHEN h.tenant_id IS NOT NULL THEN coalesce(w.window_end, h.window_end) END`.as('window_end'),
          sql<string>`to_char(t.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`.as('created_key'),
          sql<number>`(SELECT count(*)::int FROM alerts a WHERE a.tenant_id = t.id AND a.state <> 'resolved')`.as('open_alerts'),
        ]);
      if (where) query = query.where(where);
      if (q.ids) query = query.where('t.id', 'in', q.ids);
      if (q.q) {
        const like = `%${q.q.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
        query = query.where((eb) => eb.or([eb('t.name', 'ilike', like), eb('t.slug', 'ilike', like), ...(/^[0-9a-f-]{36}$/i.test(q.q!) ? [eb('t.id', '=', q.q!)] : [])]));
      }
      if (q.plan) query = query.where('s.plan', '=', q.plan);
      if (q.status) query = query.where('s.status', '=', q.status as 'active');
      if (q.hasOpenAlert !== undefined) {
        const exists = sql<SqlBool>`EXISTS (SELECT 1 FROM alerts a WHERE a.tenant_id = t.id AND a.state <> 'resolved')`;
        query = query.where(q.hasOpenAlert ? exists : sql<SqlBool>`NOT ${exists}`);
      }
      let key: (r: Record<string, unknown>) => (string | number)[];
      let rows: Awaited<ReturnType<typeof query.execute>> | undefined;
      if (sort === 'name') {
        const after = decodeCursor(q.cursor, ['s', 'uuid']);
        if (after) query = query.where(sql<SqlBool>`(t.name, t.id) > (${after[0]}, ${after[1]}::uuid)`);
        query = query.orderBy('t.name').orderBy('t.id');
        key = (r) => [r.name as string, r.id as string];
      } else if (sort === 'created') {
        const after = decodeCursor(q.cursor, ['time', 'uuid']);
        if (after) query = query.where(sql<SqlBool>`(t.created_at, t.id) < (${after[0]}::timestamptz, ${after[1]}::uuid)`);
        query = query.orderBy('t.created_at', 'desc').orderBy('t.id', 'desc');
        key = (r) => [r.created_key as string, r.id as string];
      } else {
        // Tenants with a value, through the column's index (value descending, then id); then
        // those at zero (or not yet refreshed) by id: a page reads about its own rows, not
        // every tenant sorted (decision 0681).
        const { column, cast, nulls = '' } = sortColumn[sort];
        const col = sql.raw(column);
        const after = decodeCursor(q.cursor, ['num', 'uuid']);
        const keyed = query.select(sql<string>`coalesce(${col}, 0)::text`.as('sort_key'));
        key = (r) => [r.sort_key as string, r.id as string];
        const found: Awaited<ReturnType<typeof keyed.execute>> = [];
        if (!after || Number(after[0]) > 0) {
          let valued = keyed.where(sql<SqlBool>`${col} > 0`);
          if (after) {
            const v = sql`${after[0]}::${sql.raw(cast)}`;
            // `<= v` bounds the index scan; the rest breaks the tie by id.
            valued = valued.where(sql<SqlBool>`${col} <= ${v} AND (${col} < ${v} OR t.id > ${after[1]}::uuid)`);
          }
          found.push(...(await valued.orderBy(sql`${col} DESC ${sql.raw(nulls)}`).orderBy('t.id').limit(limit + 1).execute()));
        }
        if (found.length <= limit) {
          let zero = keyed.where(sql<SqlBool>`coalesce(${col}, 0) = 0`);
          if (after && Number(after[0]) <= 0) zero = zero.where(sql<SqlBool>`t.id > ${after[1]}::uuid`);
          found.push(...(await zero.orderBy('t.id').limit(limit + 1 - found.length).execute()));
        }
        rows = found;
      }
      if (!rows) rows = await query.limit(limit + 1).execute();
      const more = rows.length > limit;
      const page = rows.slice(0, limit);
      const usage = await usageOf(page.map((r) => ({ id: r.id, periodStart: r.current_period_start })));
      return {
        data: page.map((r) => ({
          id: r.id,
          name: r.name,
          slug: r.slug,
          plan: r.plan,
          status: r.status,
          trialEndsAt: r.trial_ends_at?.toISOString() ?? null,
          currentPeriodEnd: r.current_period_end?.toISOString() ?? null,
          createdAt: r.created_at.toISOString(),
          usage: usage.get(r.id) ?? { branches: 0, members: 0, ordersThisPeriod: 0 },
          overLimit: overLimitOf(r.plan, usage.get(r.id) ?? { branches: 0, members: 0, ordersThisPeriod: 0 }),
          health: {
            requests: Number(r.requests ?? 0),
            errors4xx: Number(r.errors_4xx ?? 0),
            errors5xx: Number(r.errors_5xx ?? 0),
            errorRate: Number(r.error_rate ?? 0),
            p50Ms: round(r.p50_ms ?? null),
            p95Ms: round(r.p95_ms ?? null),
            p99Ms: round(r.p99_ms ?? null),
            apiTimeShare: Number(r.api_share ?? 0),
            jobRuns: Number(r.job_runs ?? 0),
            jobFailures: Number(r.job_failures ?? 0),
            windowEnd: r.window_end?.toISOString() ?? null,
          },
          openAlerts: r.open_alerts,
        })),
        nextCursor: more ? encodeCursor(key(page[page.length - 1] as unknown as Record<string, unknown>)) : null,
      };
    });
  }

  /** Branches, members and orders of the current period, for a page of tenants in one statement. */
  async function usageOf(tenants: { id: string; periodStart: Date | null }[]) {
    if (tenants.length === 0) return new Map<string, { branches: number; members: number; ordersThisPeriod: number }>();
    const now = new Date();
    const monthStart = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1));
    const rows = await tenancy.withSystem('ops: tenant usage', (trx) =>
      sql<{ id: string; branches: number; members: number; orders: number }>`
        SELECT u.id,
          (SELECT count(*)::int FROM branches b WHERE b.tenant_id = u.id AND b.archived_at IS NULL) AS branches,
          (SELECT count(*)::int FROM users m WHERE m.tenant_id = u.id AND m.status <> 'removed') AS members,
          (SELECT count(*)::int FROM orders o WHERE o.tenant_id = u.id AND o.created_at >= u.since) AS orders
        FROM unnest(${tenants.map((t) => t.id)}::uuid[], ${tenants.map((t) => (t.periodStart && t.periodStart <= now ? t.periodStart : monthStart))}::timestamptz[]) AS u(id, since)`.execute(trx),
    );
    return new Map(rows.rows.map((r) => [r.id, { branches: r.branches, members: r.members, ordersThisPeriod: r.orders }]));
  }

  async function series(tenantId: string | null, range: ReturnType<typeof seriesRange>) {
    const { from, to, grain } = range;
    const step = grainMs[grain];
    const history = new Date(from.getTime() - 29 * 86_400_000);
    const found = await tenancy.withSystem('ops: health series', async (trx) => {
      // Hours and days not rolled up yet (the hour going on) come from their minutes.
      const rows = await seriesRows(trx, tenantId, grain, from, to);
      const fine = grain === 'm' ? [] : await seriesRows(trx, tenantId, 'm', new Date(Math.max(from.getTime(), to.getTime() - 2 * step)), to);
      const hours = await seriesRows(trx, tenantId, 'h', history, to);
      const createdAt = tenantId ? (await trx.selectFrom('tenants').select('created_at').where('id', '=', tenantId).executeTakeFirst())?.created_at : null;
      const start = await trx.selectFrom('tenant_signals').select(sql<Date | null>`min(at)`.as('at')).where('grain', 'in', ['h', 'm']).executeTakeFirst();
      return { rows, fine, hours, createdAt, start: start?.at ?? null };
    });
    const points = new Map<number, Float64Array>();
    for (let at = from.getTime(); at < to.getTime(); at += step) points.set(at, emptyFigures());
    const rolled = new Set<number>();
    for (const r of found.rows) {
      rolled.add(r.at.getTime());
      const p = points.get(r.at.getTime());
      if (p) addFigures(p, r.figures);
    }
    for (const r of found.fine) {
      const bucket = Math.floor(r.at.getTime() / step) * step;
      if (rolled.has(bucket)) continue;
      const p = points.get(bucket);
      if (p) addFigures(p, r.figures);
    }
    const hourMap = new Map<number, HourSample>(found.hours.map((h) => [h.at.getTime(), sampleOf(h.figures)]));
    const first = Math.max(found.createdAt ? Math.floor(found.createdAt.getTime() / 3_600_000) * 3_600_000 : 0, found.start ? Math.floor(found.start.getTime() / 3_600_000) * 3_600_000 : Infinity);
    const history2 = { hours: hourMap, firstHour: Number.isFinite(first) ? first : null };
    const baselineCache = new Map<number, ReturnType<typeof baselineFor>>();
    const baselineAt = (hour: number) => {
      let b = baselineCache.get(hour);
      if (!b) baselineCache.set(hour, (b = baselineFor(history2, hour, DEFAULT_PRIOR)));
      return b;
    };
    const baseline = [...points.keys()].map((at) => {
      const hour = Math.floor(at / 3_600_000) * 3_600_000;
      const b = baselineAt(hour);
      let requests: number | null = null;
      if (grain === 'd') {
        let sum = 0;
        for (let h = at; h < at + step; h += 3_600_000) {
          const r = baselineAt(h).requestsPerMin;
          if (r === null) {
            sum = NaN;
            break;
          }
          sum += r * 60;
        }
        requests = Number.isNaN(sum) ? null : sum;
      } else requests = expectedRequests(b, hour, at, at + step);
      return { at: new Date(at).toISOString(), requests: requests === null ? null : round(requests), errorRate: b.errorRate, p95Ms: round(b.p95Ms), source: b.source };
    });
    return {
      from: from.toISOString(),
      to: to.toISOString(),
      step: ({ m: 'minute', h: 'hour', d: 'day' } as const)[grain],
      series: [...points].map(([at, f]) => point(new Date(at), f)),
      baseline,
    };
  }

  return {
    listTenants: (q: TenantQuery) => listRows(null, q),

    async getTenant(id: string) {
      const page = await listRows(null, { ids: [id], limit: 1 });
      const tenant = page.data[0];
      if (!tenant) return null;
      const [sub, open] = await Promise.all([
        tenancy.withSystem('ops: tenant subscription', async (trx) => ({
          row: await trx.selectFrom('subscriptions').selectAll().where('tenant_id', '=', id).executeTakeFirst(),
          transitions: await trx.selectFrom('subscription_transitions').selectAll().where('tenant_id', '=', id).orderBy('at', 'desc').limit(100).execute(),
          baseline: await trx.selectFrom('tenant_baselines').selectAll().where('tenant_id', '=', id).executeTakeFirst(),
        })),
        alerts.openAlertsOf([id]),
      ]);
      const s = sub.row;
      return {
        ...tenant,
        subscription: s
          ? {
              plan: s.plan,
              status: s.status,
              statusChangedAt: s.status_changed_at.toISOString(),
              trialEndsAt: s.trial_ends_at?.toISOString() ?? null,
              currentPeriodStart: s.current_period_start?.toISOString() ?? null,
              currentPeriodEnd: s.current_period_end?.toISOString() ?? null,
              cancelAtPeriodEnd: s.cancel_at_period_end,
              graceEndsAt: s.grace_ends_at?.toISOString() ?? null,
              retainUntil: s.retain_until?.toISOString() ?? null,
              provider: s.provider,
              providerSyncedAt: s.provider_synced_at?.toISOString() ?? null,
              transitions: sub.transitions.map((t) => ({ at: t.at.toISOString(), from: t.from_status, to: t.to_status, reason: t.reason, source: t.source })),
            }
          : null,
        baseline: sub.baseline
          ? { hour: sub.baseline.hour_at.toISOString(), source: sub.baseline.source, requestsPerMinute: sub.baseline.requests_per_min, errorRate: sub.baseline.error_rate, p95Ms: round(sub.baseline.p95_ms), historyHours: sub.baseline.history_hours }
          : null,
        openAlerts: open.get(id) ?? [],
      };
    },

    async tenantHealth(id: string, range: ReturnType<typeof seriesRange>) {
      const exists = await tenancy.withSystem('ops: tenant exists', (trx) => trx.selectFrom('tenants').select(['id', 'name', 'slug']).where('id', '=', id).executeTakeFirst());
      if (!exists) return null;
      return { tenantId: exists.id, name: exists.name, slug: exists.slug, ...(await series(id, range)) };
    },

    platformHealth: (range: ReturnType<typeof seriesRange>) => series(null, range),

    async topTenants(by: TopMeasure, windowName: WindowName, limit: number, now = new Date()) {
      const to = new Date(Math.floor(now.getTime() / 60_000) * 60_000);
      const from = new Date(to.getTime() - windows[windowName]);
      // A rate or a percentile of a handful of requests means nothing: rank tenants with enough.
      const minRequests = by === 'errorRate' || by === 'p95' ? platform.config.BRIGADE_ALERT_MIN_REQUESTS : 0;
      const shareBase = by === 'errors' || by === 'errorRate' ? F.r5xx : by === 'jobFailures' ? F.jobFailures : by === 'apiTimeShare' ? F.apiUs : F.requests;
      const found = await tenancy.withSystem('ops: top tenants', async (trx) => {
        if (windowName === '1h') {
          // The hour tenant_health was last refreshed for, so the shares are of the same hour.
          const end = (await trx.selectFrom('tenant_health_refresh').select('window_end').executeTakeFirst())?.window_end ?? to;
          const platformFigures = await platformTotals(trx, 'm', new Date(end.getTime() - 3_600_000), end);
          return { ranked: await topFromHealth(trx, by, limit, minRequests), platformFigures, from: new Date(end.getTime() - 3_600_000), to: end };
        }
        const platformFigures = await platformTotals(trx, windows[windowName] > 6 * 3_600_000 ? 'h' : 'm', from, to);
        // Big aggregates run once: compiling them costs more than it saves.
        await sql`SET LOCAL jit = off`.execute(trx);
        if (by !== 'p95') return { ranked: await rankTenants(trx, from, to, by === 'apiTimeShare' ? 'apiTime' : by, limit, minRequests), platformFigures, from, to };
        // A percentile needs the latency buckets: summed per tenant with enough requests, ranked here.
        const totals = await tenantTotals(trx, from, to, { minRequests });
        const valueOf = (f: Float64Array): number => quantileMs(f, 0.95, F.latency) ?? 0;
        const ranked = [...totals]
          .map(([tenantId, f]) => ({ tenantId, value: valueOf(f), base: f[shareBase]!, requests: f[F.requests]! }))
          .filter((r) => r.value > 0)
          .sort((x, y) => y.value - x.value || (x.tenantId < y.tenantId ? -1 : 1))
          .slice(0, limit);
        return { ranked, platformFigures, from, to };
      });
      const total = found.platformFigures[shareBase]!;
      const tenants = found.ranked.length
        ? await tenancy.withSystem('ops: top tenant names', (trx) => trx.selectFrom('tenants').select(['id', 'name', 'slug']).where('id', 'in', found.ranked.map((r) => r.tenantId)).execute())
        : [];
      const byId = new Map(tenants.map((t) => [t.id, t]));
      return {
        by,
        window: windowName,
        from: found.from.toISOString(),
        to: found.to.toISOString(),
        data: found.ranked.map((r) => {
          const share = total > 0 ? Math.min(1, r.base / total) : null;
          return {
            tenantId: r.tenantId,
            name: byId.get(r.tenantId)?.name ?? null,
            slug: byId.get(r.tenantId)?.slug ?? null,
            value: by === 'apiTimeShare' ? (share ?? 0) : by === 'p95' ? Math.round(r.value * 10) / 10 : r.value,
            share,
            requests: r.requests,
          };
        }),
      };
    },
  };
}

/** The top of the last hour, read from tenant_health through its index: a handful of rows. */
async function topFromHealth(trx: Tx, by: TopMeasure, limit: number, minRequests: number) {
  const column = { requests: 'requests', errors: 'errors_5xx', errorRate: 'error_rate', p95: 'p95_ms', jobFailures: 'job_failures', apiTimeShare: 'api_ms' }[by];
  const base = { requests: 'requests', errors: 'errors_5xx', errorRate: 'errors_5xx', p95: 'requests', jobFailures: 'job_failures', apiTimeShare: 'api_ms * 1000' }[by];
  const rows = await sql<{ tenant_id: string; value: number | string; base: number | string; requests: string }>`
    SELECT tenant_id, ${sql.raw(column)} AS value, ${sql.raw(base)} AS base, requests FROM tenant_health
    WHERE ${sql.raw(column)} > 0 AND requests >= ${minRequests}
    ORDER BY ${sql.raw(column)} DESC ${sql.raw(column === 'p95_ms' ? 'NULLS LAST' : '')}, tenant_id LIMIT ${limit}`.execute(trx);
  return rows.rows.map((r) => ({ tenantId: r.tenant_id, value: Number(r.value), base: Number(r.base), requests: Number(r.requests) }));
}

export type HealthOps = ReturnType<typeof healthOps>;

/** The plan's limits the tenant's usage exceeds (the ops view of billing's over-limit state). */
function overLimitOf(plan: string | null, usage: { branches: number; members: number; ordersThisPeriod: number }) {
  return limitsExceeded(planOf(plan ?? 'trial'), { branches: usage.branches, members: usage.members, ordersPerMonth: usage.ordersThisPeriod, scheduledReports: 0 });
}
