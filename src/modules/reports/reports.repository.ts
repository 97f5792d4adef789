import { sql, type RawBuilder } from 'kysely';
import type { Tx } from '../../platform/db/index.ts';

/*
 * The sales report reads the orders tables (owned by the orders module) and never writes them.
 * A sale counts when it is paid (paid_at), a refund when it is refunded (refunded_at): a period's
 * net is what the tills really took. Served by index-only range scans of the partial indexes
 * orders_paid_by_time and orders_refunded_by_time, and for the item grouping of their twins on
 * order_lines (which carry their order's branch and times for this purpose).
 */

export interface Period {
  /** SQL giving the first instant (inclusive) and the end (exclusive) as timestamptz. */
  from: RawBuilder<Date>;
  to: RawBuilder<Date>;
}

interface Filter {
  tenantId: string;
  timezone: string;
  period: Period;
  branchIds: 'all' | string[];
}

const inBranches = (f: Filter) => (f.branchIds === 'all' ? sql`` : sql`AND o.branch_id = ANY(${f.branchIds}::uuid[])`);

/** Instants as the report prints them: ISO 8601 UTC. */
export async function resolvePeriod(trx: Tx, period: Period): Promise<{ from: Date; to: Date }> {
  const { rows } = await sql<{ from: Date; to: Date }>`SELECT ${period.from} AS "from", ${period.to} AS "to"`.execute(trx);
  return rows[0]!;
}

export interface MoneyRow {
  orders: string;
  gross: string;
  refunds: string;
}

export async function salesByDay(trx: Tx, f: Filter) {
  const tz = f.timezone;
  const { rows } = await sql<MoneyRow & { day: string }>`
    WITH events AS (
      SELECT (o.paid_at AT TIME ZONE ${tz})::date AS day, 1 AS orders, o.total_minor AS gross, 0::bigint AS refunds
        FROM orders o
       WHERE o.tenant_id = ${f.tenantId} AND o.paid_at >= ${f.period.from} AND o.paid_at < ${f.period.to} ${inBranches(f)}
      UNION ALL
      SELECT (o.refunded_at AT TIME ZONE ${tz})::date, 0, 0, o.total_minor
        FROM orders o
       WHERE o.tenant_id = ${f.tenantId} AND o.refunded_at >= ${f.period.from} AND o.refunded_at < ${f.period.to} ${inBranches(f)}
    ), totals AS (
      SELECT day, sum(orders) AS orders, sum(gross) AS gross, sum(refunds) AS refunds FROM events GROUP BY day
    ), days AS (
      SELECT generate_series((${f.period.from} AT TIME ZONE ${tz})::date,
                             ((${f.period.to} - interval '1 microsecond') AT TIME ZONE ${tz})::date,
                             interval '1 day')::date AS day
    )
    SELECT to_char(d.day, 'YYYY-MM-DD') AS day, coalesce(t.orders, 0) AS orders, coalesce(t.gross, 0) AS gross, coalesce(t.refunds, 0) AS refunds
      FROM days d LEFT JOIN totals t ON t.day = d.day
     ORDER BY d.day`.execute(trx);
  return rows;
}

export async function salesByBranch(trx: Tx, f: Filter) {
  const { rows } = await sql<MoneyRow & { branch_id: string; branch_name: string }>`
    WITH events AS (
      SELECT o.branch_id, 1 AS orders, o.total_minor AS gross, 0::bigint AS refunds
        FROM orders o
       WHERE o.tenant_id = ${f.tenantId} AND o.paid_at >= ${f.period.from} AND o.paid_at < ${f.period.to} ${inBranches(f)}
      UNION ALL
      SELECT o.branch_id, 0, 0, o.total_minor
        FROM orders o
       WHERE o.tenant_id = ${f.tenantId} AND o.refunded_at >= ${f.period.from} AND o.refunded_at < ${f.period.to} ${inBranches(f)}
    )
    SELECT e.branch_id, b.name AS branch_name, sum(e.orders) AS orders, sum(e.gross) AS gross, sum(e.refunds) AS refunds
      FROM events e JOIN branches b ON b.tenant_id = ${f.tenantId} AND b.id = e.branch_id
     GROUP BY e.branch_id, b.name
     ORDER BY b.name, e.branch_id`.execute(trx);
  return rows;
}

export async function salesByItem(trx: Tx, f: Filter) {
  const inLineBranches = f.branchIds === 'all' ? sql`` : sql`AND l.branch_id = ANY(${f.branchIds}::uuid[])`;
  const { rows } = await sql<MoneyRow & { menu_item_id: string; name: string; quantity: string; refunded_quantity: string }>`
    WITH events AS (
      SELECT l.menu_item_id, l.order_id AS sold_in, l.quantity, 0 AS refunded_quantity, l.line_total_minor AS gross, 0::bigint AS refunds
        FROM order_lines l
       WHERE l.tenant_id = ${f.tenantId} AND l.paid_at >= ${f.period.from} AND l.paid_at < ${f.period.to} ${inLineBranches}
      UNION ALL
      SELECT l.menu_item_id, NULL, 0, l.quantity, 0, l.line_total_minor
        FROM order_lines l
       WHERE l.tenant_id = ${f.tenantId} AND l.refunded_at >= ${f.period.from} AND l.refunded_at < ${f.period.to} ${inLineBranches}
    )
    SELECT e.menu_item_id, m.name, count(DISTINCT e.sold_in) AS orders, sum(e.quantity) AS quantity,
           sum(e.refunded_quantity) AS refunded_quantity, sum(e.gross) AS gross, sum(e.refunds) AS refunds
      FROM events e JOIN menu_items m ON m.tenant_id = ${f.tenantId} AND m.id = e.menu_item_id
     GROUP BY e.menu_item_id, m.name
     ORDER BY sum(e.gross) DESC, m.name`.execute(trx);
  return rows;
}

export async function salesTotals(trx: Tx, f: Filter): Promise<MoneyRow> {
  const { rows } = await sql<MoneyRow>`
    SELECT
      (SELECT count(*) FROM orders o
        WHERE o.tenant_id = ${f.tenantId} AND o.paid_at >= ${f.period.from} AND o.paid_at < ${f.period.to} ${inBranches(f)}) AS orders,
      (SELECT coalesce(sum(o.total_minor), 0) FROM orders o
        WHERE o.tenant_id = ${f.tenantId} AND o.paid_at >= ${f.period.from} AND o.paid_at < ${f.period.to} ${inBranches(f)}) AS gross,
      (SELECT coalesce(sum(o.total_minor), 0) FROM orders o
        WHERE o.tenant_id = ${f.tenantId} AND o.refunded_at >= ${f.period.from} AND o.refunded_at < ${f.period.to} ${inBranches(f)}) AS refunds`.execute(trx);
  return rows[0]!;
}
