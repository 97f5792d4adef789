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

declare module '../../platform/db/schema.ts' {
  interface Database {
    tenant_health: TenantHealthTable;
    tenant_baselines: TenantBaselinesTable;
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
const shortColumns = [F.requests, F.r5xx, F.apiUs, F.jobUs, F.jobRuns, ...Array.from({ length: LATENCY_BUCKETS }, (_, i) => F.latency + i)];

/**
 * Per tenant, the figures of the last 60, 15 and 5 minutes before `end` (minute rows), for
 * every tenant with a row in the hour: one scan of the hour's minute rows.
 */
export async function recentWindows(trx: Tx, end: Date): Promise<Map<string, { w5: Float64Array; w15: Float64Array; w60: Float64Array }>> {
  const w60 = new Date(end.getTime() - 60 * 60_000);
  const w15 = new Date(end.getTime() - 15 * 60_000);
  const w5 = new Date(end.getTime() - 5 * 60_000);
  const short = (name: string, from: string) => shortColumns.map((i) => `${agg(figureColumns[i]!, ` FILTER (WHERE at >= ${from})`)} AS ${name}${i}`).join(', ');
  const rows = await query<Record<string, unknown> & { tenant_id: string }>(
    trx,
    `SELECT tenant_id, ${sums()}, ${short('a', '$3')}, ${short('b', '$4')}
     FROM tenant_signals WHERE grain = 'm' AND at >= $1 AND at < $2 GROUP BY tenant_id`,
    [w60, end, w15, w5],
  );
  const out = new Map<string, { w5: Float64Array; w15: Float64Array; w60: Float64Array }>();
  for (const r of rows) {
    const a = emptyFigures();
    const b = emptyFigures();
    for (const i of shortColumns) {
      a[i] = Number(r[`a${i}`] ?? 0);
      b[i] = Number(r[`b${i}`] ?? 0);
    }
    out.set(r.tenant_id, { w5: b, w15: a, w60: figuresFrom(r) });
  }
  return out;
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
