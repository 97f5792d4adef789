import { sql, CompiledQuery, type ColumnType } from 'kysely';
import type { Tx } from '../../platform/db/index.ts';
import { F, FIGURES, LATENCY_BUCKETS, figureColumns, emptyFigures, mergeOf, type FigureColumn } from '../../platform/signals/index.ts';
import type { HourSample } from './health.baselines.ts';

/**
 * The health module's tables (tenant_health, tenant_baselines; the rollups themselves belong
 * to platform/signals) and the queries that read rollups.
 */
type Real = ColumnType<number | null, number | null | undefined, number | null>;

export interface TenantHealthTable {
  tenant_id: string;
  requests: ColumnType<string, number | undefined, number>;
  errors_4xx: ColumnType<string, number | undefined, number>;
  errors_5xx: ColumnType<string, number | undefined, number>;
  error_rate: ColumnType<number, number | undefined, number>;
  p50_ms: Real;
  p95_ms: Real;
  p99_ms: Real;
  api_ms: ColumnType<number, number | undefined, number>;
  api_share: ColumnType<number, number | undefined, number>;
  job_runs: ColumnType<string, number | undefined, number>;
  job_failures: ColumnType<string, number | undefined, number>;
  window_end: ColumnType<Date | null, Date | null | undefined, Date | null>;
}

export interface TenantBaselinesTable {
  tenant_id: string;
  hour_at: Date;
  requests_per_min: Real;
  requests_per_min_prev: Real;
  requests_per_min_next: Real;
  quiet_per_min: Real;
  quiet_per_min_prev: Real;
  quiet_per_min_next: Real;
  recent_level: Real;
  error_rate_requests: Real;
  error_rate: Real;
  p95_ms: Real;
  api_share: Real;
  job_share: Real;
  source: 'weekly' | 'daily' | 'recent' | 'none';
  history_hours: number;
  computed_at: Date;
}

/** One row: the window tenant_health was last refreshed for (decision 0681). */
export interface TenantHealthRefreshTable {
  id: ColumnType<boolean, boolean | undefined, never>;
  window_end: Date;
  platform_api_ms: ColumnType<number, number | undefined, number>;
  read_at: Date;
}

declare module '../../platform/db/schema.ts' {
  interface Database {
    tenant_health: TenantHealthTable;
    tenant_baselines: TenantBaselinesTable;
    tenant_health_refresh: TenantHealthRefreshTable;
  }
}

export type Grain = 'm' | 'h' | 'd';
export const grainMs: Record<Grain, number> = { m: 60_000, h: 3_600_000, d: 86_400_000 };

const agg = (c: FigureColumn, filter = '') => `${mergeOf(c) === 'max' ? 'max' : 'sum'}(${c})${filter}`;

/** Every figure summed over rows, in figureColumns order, as f0..f44. */
const sums = (filter = '', prefix = 'f') => figureColumns.map((c, i) => `${agg(c, filter)} AS ${prefix}${i}`).join(', ');

export function figuresFrom(row: Record<string, unknown>, prefix = 'f'): Float64Array {
  const out = emptyFigures();
  for (let i = 0; i < FIGURES; i++) out[i] = Number(row[`${prefix}${i}`] ?? 0);
  return out;
}

async function query<R>(trx: Tx, text: string, params: unknown[]): Promise<R[]> {
  return (await trx.executeQuery<R>(CompiledQuery.raw(text, params))).rows;
}

/** Columns the short windows need: volume, errors, time and the latency buckets. */
export const shortColumns = [F.requests, F.r5xx, F.apiUs, F.jobUs, F.jobRuns, ...Array.from({ length: LATENCY_BUCKETS }, (_, i) => F.latency + i)];

/** Columns of a tenant's last hour (tenant_health's figures and the buckets of its percentiles). */
export const hourColumns = [F.requests, F.r4xx, F.r5xx, F.apiUs, F.jobRuns, F.jobFailures, ...Array.from({ length: LATENCY_BUCKETS }, (_, i) => F.latency + i)];

/**
 * The sums of some figures as one text value, space separated: one field per tenant and window
 * instead of one per figure, which is what parsing 100,000 rows costs (decision 0681).
 */
const packed = (columns: number[], filter = '') => `concat_ws(' ', ${columns.map((i) => agg(figureColumns[i]!, filter)).join(', ')})`;

function unpack(text: string | null, columns: number[], into = emptyFigures()): Float64Array {
  if (!text) return into;
  const parts = text.split(' ');
  for (let k = 0; k < columns.length; k++) into[columns[k]!] = Number(parts[k]);
  return into;
}

/**
 * Per tenant with a row in the 15 minutes before `end`, the figures of the last 15 and 5
 * minutes (the short columns; others are zero): each window's rows summed once (a filtered
 * sum over the 15 minutes costs as much per row as a sum).
 */
export async function shortWindows(trx: Tx, end: Date): Promise<Map<string, { w5: Float64Array; w15: Float64Array }>> {
  const sql = `SELECT tenant_id, ${packed(shortColumns)} AS f FROM tenant_signals WHERE grain = 'm' AND at >= $1 AND at < $2 GROUP BY tenant_id`;
  const w15 = await query<{ tenant_id: string; f: string }>(trx, sql, [new Date(end.getTime() - 15 * 60_000), end]);
  const w5 = await query<{ tenant_id: string; f: string }>(trx, sql, [new Date(end.getTime() - 5 * 60_000), end]);
  const out = new Map<string, { w5: Float64Array; w15: Float64Array }>();
  for (const r of w15) out.set(r.tenant_id, { w15: unpack(r.f, shortColumns), w5: emptyFigures() });
  for (const r of w5) {
    const w = out.get(r.tenant_id);
    if (w) unpack(r.f, shortColumns, w.w5);
    else out.set(r.tenant_id, { w15: emptyFigures(), w5: unpack(r.f, shortColumns) });
  }
  return out;
}

/**
 * The last hour's figures (hourColumns) of the given tenants, or of every tenant with a row in
 * it (null): minute rows in [end - 60 min, end), by the primary key for a list of tenants.
 */
export async function hourWindows(trx: Tx, end: Date, tenantIds: string[] | null): Promise<Map<string, Float64Array>> {
  const from = new Date(end.getTime() - 60 * 60_000);
  const rows = tenantIds
    ? await query<{ tenant_id: string; f: string }>(
        trx,
        // A bitmap of the tenants' keys: three times faster than a lookup per tenant.
        `SELECT tenant_id, ${packed(hourColumns)} AS f FROM tenant_signals WHERE tenant_id = ANY($3::uuid[]) AND grain = 'm' AND at >= $1 AND at < $2 GROUP BY tenant_id`,
        [from, end, tenantIds],
      )
    : await query<{ tenant_id: string; f: string }>(trx, `SELECT tenant_id, ${packed(hourColumns)} AS f FROM tenant_signals WHERE grain = 'm' AND at >= $1 AND at < $2 GROUP BY tenant_id`, [from, end]);
  return new Map(rows.map((r) => [r.tenant_id, unpack(r.f, hourColumns)]));
}

/**
 * Tenants whose last hour differs between a window ending at `before` and one ending at `end`
 * (before < end, less than an hour apart): those with a minute row that entered or left it.
 */
export async function windowChanges(trx: Tx, before: Date, end: Date): Promise<string[]> {
  const rows = await query<{ tenant_id: string }>(
    trx,
    `SELECT tenant_id FROM tenant_signals WHERE grain = 'm' AND at >= $1 AND at < $2
     UNION SELECT tenant_id FROM tenant_signals WHERE grain = 'm' AND at >= $3 AND at < $4`,
    [before, end, new Date(before.getTime() - 60 * 60_000), new Date(end.getTime() - 60 * 60_000)],
  );
  return rows.map((r) => r.tenant_id);
}

/**
 * Every tenant's last hour as tenant_health holds it (requests, 4xx, 5xx, API time, job runs and
 * failures; no latency buckets), for tenants with any request or job run in it.
 */
export async function lastHourFigures(trx: Tx): Promise<Map<string, Float64Array>> {
  const columns = [F.requests, F.r4xx, F.r5xx, F.apiUs, F.jobRuns, F.jobFailures];
  const rows = await query<{ tenant_id: string; f: string }>(
    trx,
    `SELECT tenant_id, concat_ws(' ', requests, errors_4xx, errors_5xx, round(api_ms * 1000), job_runs, job_failures) AS f FROM tenant_health WHERE requests > 0 OR job_runs > 0`,
    [],
  );
  return new Map(rows.map((r) => [r.tenant_id, unpack(r.f, columns)]));
}

/** Platform figures summed over [from, to) at a grain. */
export async function platformTotals(trx: Tx, grain: Grain, from: Date, to: Date): Promise<Float64Array> {
  const rows = await query<Record<string, unknown>>(trx, `SELECT ${sums()} FROM platform_signals WHERE grain = $1 AND at >= $2 AND at < $3`, [grain, from, to]);
  return figuresFrom(rows[0] ?? {});
}

/**
 * Per tenant, figures summed over [from, to): minute rows for windows up to six hours, else
 * hour rows (with the current, not yet rolled, hour from its minutes). `minRequests` leaves out
 * tenants with too few requests for a rate or a percentile to mean anything.
 */
export async function tenantTotals(trx: Tx, from: Date, to: Date, opts: { minRequests?: number; tenantId?: string } = {}): Promise<Map<string, Float64Array>> {
  const having = opts.minRequests ? `HAVING sum(requests) >= ${Math.floor(opts.minRequests)}` : '';
  const tenant = opts.tenantId ? 'AND tenant_id = $3' : '';
  const h = opts.tenantId ? '$4' : '$3';
  const hourStart = new Date(Math.floor(to.getTime() / 3_600_000) * 3_600_000);
  const long = to.getTime() - from.getTime() > 6 * 3_600_000;
  // Hours fully rolled up come from hour rows; the hour still going on, from its minutes.
  const source = long
    ? `SELECT * FROM tenant_signals WHERE grain = 'h' AND at >= $1 AND at < ${h} ${tenant}
       UNION ALL SELECT * FROM tenant_signals WHERE grain = 'm' AND at >= greatest($1, ${h}) AND at < $2 ${tenant}`
    : `SELECT * FROM tenant_signals WHERE grain = 'm' AND at >= $1 AND at < $2 ${tenant}`;
  const rows = await query<Record<string, unknown> & { tenant_id: string }>(
    trx,
    `SELECT tenant_id, ${sums()} FROM (${source}) rows GROUP BY tenant_id ${having}`,
    [from, to, ...(opts.tenantId ? [opts.tenantId] : []), ...(long ? [hourStart] : [])],
  );
  return new Map(rows.map((r) => [r.tenant_id, figuresFrom(r)]));
}

/**
 * The stretches of [from, to) to read as minutes, and the hours to read as hour rows: hours
 * wholly inside it that are rolled up (their platform row exists) and not marked dirty since
 * (a flush touched them after their rollup). A 6-hour window reads five or six hour rows per
 * tenant and its edges' minutes instead of 360 minute rows (decision 0681).
 */
async function windowParts(trx: Tx, from: Date, to: Date): Promise<{ hours: Date[]; minutes: [Date, Date][] }> {
  const H = 3_600_000;
  const whole: Date[] = [];
  for (let h = Math.ceil(from.getTime() / H) * H; h + H <= to.getTime(); h += H) whole.push(new Date(h));
  const clean = whole.length
    ? new Set(
        (
          await query<{ at: Date }>(
            trx,
            `SELECT at FROM platform_signals p WHERE grain = 'h' AND at = ANY($1::timestamptz[])
             AND NOT EXISTS (SELECT 1 FROM signal_dirty d WHERE d.grain = 'h' AND d.at = p.at)`,
            [whole],
          )
        ).map((r) => r.at.getTime()),
      )
    : new Set<number>();
  const hours = whole.filter((h) => clean.has(h.getTime()));
  const minutes: [Date, Date][] = [];
  let start = from.getTime();
  for (const h of hours) {
    if (h.getTime() > start) minutes.push([new Date(start), h]);
    start = h.getTime() + H;
  }
  if (start < to.getTime()) minutes.push([new Date(start), to]);
  return { hours, minutes };
}

export type RankMeasure = 'requests' | 'errors' | 'errorRate' | 'jobFailures' | 'apiTime';

/**
 * The top tenants by a figure summed over [from, to), ranked in SQL (ties by id): only the
 * columns the ranking needs are summed and only `limit` rows leave the database.
 */
export async function rankTenants(trx: Tx, from: Date, to: Date, by: RankMeasure, limit: number, minRequests = 0): Promise<{ tenantId: string; value: number; base: number; requests: number }[]> {
  const { hours, minutes } = await windowParts(trx, from, to);
  const columns = 'tenant_id, requests, r5xx, job_failures, api_us';
  const params: unknown[] = [];
  const p = (v: unknown) => `$${params.push(v)}`;
  const parts = [
    ...(hours.length ? [`SELECT ${columns} FROM tenant_signals WHERE grain = 'h' AND at = ANY(${p(hours)}::timestamptz[])`] : []),
    ...minutes.map(([a, b]) => `SELECT ${columns} FROM tenant_signals WHERE grain = 'm' AND at >= ${p(a)} AND at < ${p(b)}`),
  ];
  if (parts.length === 0) return [];
  const value = { requests: 'sum(requests)', errors: 'sum(r5xx)', errorRate: 'sum(r5xx)::float8 / nullif(sum(requests), 0)', jobFailures: 'sum(job_failures)', apiTime: 'sum(api_us)' }[by];
  const base = { requests: 'sum(requests)', errors: 'sum(r5xx)', errorRate: 'sum(r5xx)', jobFailures: 'sum(job_failures)', apiTime: 'sum(api_us)' }[by];
  const rows = await query<{ tenant_id: string; value: string | number; base: string; requests: string }>(
    trx,
    `SELECT tenant_id, ${value} AS value, ${base} AS base, sum(requests) AS requests FROM (${parts.join(' UNION ALL ')}) w
     GROUP BY tenant_id HAVING ${value} > 0 ${minRequests > 0 ? `AND sum(requests) >= ${Math.floor(minRequests)}` : ''}
     ORDER BY ${value} DESC, tenant_id LIMIT ${p(limit)}`,
    params,
  );
  return rows.map((r) => ({ tenantId: r.tenant_id, value: Number(r.value), base: Number(r.base), requests: Number(r.requests) }));
}

/** One tenant's (or, with null, the platform's) rows at a grain in [from, to), oldest first. */
export async function seriesRows(trx: Tx, tenantId: string | null, grain: Grain, from: Date, to: Date): Promise<{ at: Date; figures: Float64Array }[]> {
  const rows = tenantId
    ? await query<Record<string, unknown> & { at: Date }>(trx, `SELECT at, ${figureColumns.map((c, i) => `${c} AS f${i}`).join(', ')} FROM tenant_signals WHERE tenant_id = $1 AND grain = $2 AND at >= $3 AND at < $4 ORDER BY at`, [tenantId, grain, from, to])
    : await query<Record<string, unknown> & { at: Date }>(trx, `SELECT at, ${figureColumns.map((c, i) => `${c} AS f${i}`).join(', ')} FROM platform_signals WHERE grain = $1 AND at >= $2 AND at < $3 ORDER BY at`, [grain, from, to]);
  return rows.map((r) => ({ at: r.at, figures: figuresFrom(r) }));
}

export const sampleOf = (f: ArrayLike<number>): HourSample => ({
  requests: f[F.requests]!,
  r5xx: f[F.r5xx]!,
  apiUs: f[F.apiUs]!,
  jobUs: f[F.jobUs]!,
  latency: Array.from({ length: LATENCY_BUCKETS }, (_, i) => f[F.latency + i]!),
});

/** Hour rows of every tenant at the given hours: the samples baselines are made of. */
export async function hourSamples(trx: Tx, hours: Date[], tenantId?: string): Promise<Map<string, Map<number, HourSample>>> {
  const rows = await query<Record<string, unknown> & { tenant_id: string; at: Date }>(
    trx,
    `SELECT tenant_id, at, ${figureColumns.map((c, i) => `${c} AS f${i}`).join(', ')}
     FROM tenant_signals WHERE grain = 'h' AND at = ANY($1::timestamptz[]) ${tenantId ? 'AND tenant_id = $2' : ''}`,
    tenantId ? [hours, tenantId] : [hours],
  );
  const out = new Map<string, Map<number, HourSample>>();
  for (const r of rows) {
    let m = out.get(r.tenant_id);
    if (!m) out.set(r.tenant_id, (m = new Map()));
    m.set(r.at.getTime(), sampleOf(figuresFrom(r)));
  }
  return out;
}

/** When signals began to be kept: history before it is unknown, not quiet. */
export async function signalsStart(trx: Tx): Promise<Date | null> {
  const r = await sql<{ at: Date | null }>`SELECT min(at) AS at FROM tenant_signals WHERE grain IN ('h', 'm')`.execute(trx);
  return r.rows[0]?.at ?? null;
}
