import os from 'node:os';
import { sql, CompiledQuery, type ColumnType } from 'kysely';
import type { Tenancy, Tx } from '../db/index.ts';
import { FIGURES, figureColumns, mergeOf, type FigureColumn } from './figures.ts';

type Figures = { [K in FigureColumn]: ColumnType<string, number | undefined, number> };

export interface TenantSignalsTable extends Figures {
  tenant_id: string;
  grain: 'm' | 'h' | 'd';
  at: Date;
}

export interface PlatformSignalsTable extends Figures {
  grain: 'm' | 'h' | 'd';
  at: Date;
}

declare module '../db/schema.ts' {
  interface Database {
    tenant_signals: TenantSignalsTable;
    platform_signals: PlatformSignalsTable;
    signal_flushes: { batch_id: string; flushed_at: ColumnType<Date, Date | undefined, Date>; first_at: ColumnType<Date | null, Date | null | undefined, Date | null> };
    signal_dirty: { grain: 'h' | 'd'; at: Date; version: string };
  }
  interface OutboxTable {
    trace_context: ColumnType<string | null, string | null | undefined, string | null>;
  }
}

/** One flushed batch: figures per (tenant, minute) and per minute for the platform. */
export interface SignalBatch {
  id: string;
  tenantRows: { tenantId: string; minute: number; figures: Float64Array }[];
  platformRows: { minute: number; figures: Float64Array }[];
}

export type FlushOutcome = 'applied' | 'already-applied';

const CHUNK = 5000;
const processName = `${os.hostname()}:${process.pid}`;
export const batchIdPrefix = (startedAt: number) => `${processName}:${startedAt.toString(36)}`;

const upsertSet = (table: string) =>
  figureColumns
    .map((c) => (mergeOf(c) === 'max' ? `${c} = greatest(${table}.${c}, excluded.${c})` : `${c} = ${table}.${c} + excluded.${c}`))
    .join(', ');

const arrays = (offset: number) => figureColumns.map((_, i) => `$${offset + i}::bigint[]`).join(', ');

const TENANT_UPSERT = `
  INSERT INTO tenant_signals (tenant_id, grain, at, ${figureColumns.join(', ')})
  SELECT t, 'm', a, ${figureColumns.map((_, i) => `c${i}`).join(', ')}
  FROM unnest($1::uuid[], $2::timestamptz[], ${arrays(3)}) AS u(t, a, ${figureColumns.map((_, i) => `c${i}`).join(', ')})
  -- A business being deleted (or deleted) gets no new rows: counted before its deletion, flushed after.
  WHERE NOT EXISTS (SELECT 1 FROM tenant_deletions d WHERE d.tenant_id = u.t)
  ON CONFLICT (tenant_id, grain, at) DO UPDATE SET ${upsertSet('tenant_signals')}`;

const PLATFORM_UPSERT = `
  INSERT INTO platform_signals (grain, at, ${figureColumns.join(', ')})
  SELECT 'm', a, ${figureColumns.map((_, i) => `c${i}`).join(', ')}
  FROM unnest($1::timestamptz[], ${arrays(2)}) AS u(a, ${figureColumns.map((_, i) => `c${i}`).join(', ')})
  ON CONFLICT (grain, at) DO UPDATE SET ${upsertSet('platform_signals')}`;

const column = (rows: { figures: Float64Array }[], i: number) => rows.map((r) => Math.round(r.figures[i]!));

/**
 * Adds a batch to the minute rows, once: the batch id is recorded in the same transaction, so
 * a retry after an ambiguous failure (the commit happened, its answer was lost) adds nothing.
 * Rows are written in key order, so flushes of several processes touching the same rows wait
 * for each other instead of deadlocking.
 */
export async function writeSignalBatch(tenancy: Tenancy, batch: SignalBatch): Promise<FlushOutcome> {
  const tenantRows = [...batch.tenantRows].sort((a, b) => (a.tenantId < b.tenantId ? -1 : a.tenantId > b.tenantId ? 1 : a.minute - b.minute));
  const platformRows = [...batch.platformRows].sort((a, b) => a.minute - b.minute);
  return tenancy.withSystem('signals: flush a batch', async (trx) => {
    // first_at: the earliest minute of the batch; a batch that lands for minutes the evaluator has
    // already counted makes it recompute every tenant's hour (health.evaluate.ts).
    let first = Infinity;
    for (const r of tenantRows) first = Math.min(first, r.minute);
    for (const r of platformRows) first = Math.min(first, r.minute);
    const firstAt = Number.isFinite(first) ? new Date(first * 60_000) : null;
    const fresh = await sql<{ one: number }>`INSERT INTO signal_flushes (batch_id, first_at) VALUES (${batch.id}, ${firstAt}) ON CONFLICT DO NOTHING RETURNING 1 AS one`.execute(trx);
    if (fresh.rows.length === 0) return 'already-applied';
    // A lost flush costs at most one interval of counts, never a request: no disk wait.
    await sql`SET LOCAL synchronous_commit = off`.execute(trx);
    if (platformRows.length) {
      await raw(trx, PLATFORM_UPSERT, [platformRows.map((r) => new Date(r.minute * 60_000)), ...Array.from({ length: FIGURES }, (_, i) => column(platformRows, i))]);
    }
    for (let start = 0; start < tenantRows.length; start += CHUNK) {
      const chunk = tenantRows.slice(start, start + CHUNK);
      await raw(trx, TENANT_UPSERT, [chunk.map((r) => r.tenantId), chunk.map((r) => new Date(r.minute * 60_000)), ...Array.from({ length: FIGURES }, (_, i) => column(chunk, i))]);
    }
    const hours = [...new Set([...tenantRows, ...platformRows].map((r) => Math.floor(r.minute / 60)))].sort((a, b) => a - b);
    if (hours.length) await markDirty(trx, 'h', hours.map((h) => new Date(h * 3_600_000)));
    return 'applied';
  });
}

/** Marks hours (or days) whose finer rows changed: the rollup recomputes them. */
export async function markDirty(trx: Tx, grain: 'h' | 'd', ats: Date[]): Promise<void> {
  await sql`
    INSERT INTO signal_dirty (grain, at, version)
    SELECT ${grain}, a, nextval('signal_dirty_version') FROM unnest(${ats}::timestamptz[]) AS a ORDER BY a
    ON CONFLICT (grain, at) DO UPDATE SET version = excluded.version`.execute(trx);
}

async function raw(trx: Tx, text: string, params: unknown[]): Promise<void> {
  await trx.executeQuery(CompiledQuery.raw(text, params));
}
