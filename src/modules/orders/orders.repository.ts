import { sql, type ColumnType, type Generated, type Selectable } from 'kysely';
import { compiled, type Tx } from '../../platform/db/index.ts';
import { afterCursor, cursorAt, type PageKey } from '../../platform/http/pagination.ts';
import type { Order, OrderStatus, PaymentMethod } from './orders.schemas.ts';

type Nullable<T> = ColumnType<T | null, T | null | undefined, T | null>;
/** bigint: text out of pg (never rounded), numbers in. */
type BigMoney = ColumnType<string, number | string, number | string>;

export interface OrdersTable {
  tenant_id: string;
  id: Generated<string>;
  branch_id: string;
  status: ColumnType<OrderStatus, OrderStatus | undefined, OrderStatus>;
  currency: string;
  total_minor: BigMoney;
  created_by: string | null;
  created_at: Generated<Date>;
  paid_at: Nullable<Date>;
  refunded_at: Nullable<Date>;
  refunded_by: Nullable<string>;
  refund_reason: Nullable<string>;
  voided_at: Nullable<Date>;
  voided_by: Nullable<string>;
  void_reason: Nullable<string>;
}

export interface OrderLinesTable {
  tenant_id: string;
  order_id: string;
  line_no: number;
  /** The order's branch and paid/refunded times, copied for the sales report by item. */
  branch_id: string;
  paid_at: Nullable<Date>;
  refunded_at: Nullable<Date>;
  menu_item_id: string;
  name: string;
  unit_price_minor: number;
  quantity: number;
  line_total_minor: BigMoney;
}

export interface PaymentsTable {
  tenant_id: string;
  id: Generated<string>;
  order_id: string;
  method: PaymentMethod;
  amount_minor: BigMoney;
  change_minor: BigMoney;
  created_by: string | null;
  created_at: Generated<Date>;
}

declare module '../../platform/db/schema.ts' {
  interface Database {
    orders: OrdersTable;
    order_lines: OrderLinesTable;
    payments: PaymentsTable;
  }
}

export type OrderRow = Selectable<OrdersTable>;
export type OrderLineRow = Selectable<OrderLinesTable>;
export type PaymentRow = Selectable<PaymentsTable>;

export function toOrder(row: OrderRow, lines: OrderLineRow[], payment: PaymentRow | undefined): Order {
  return {
    id: row.id,
    branchId: row.branch_id,
    status: row.status,
    lines: lines.map((l) => ({
      lineNo: l.line_no,
      menuItemId: l.menu_item_id,
      name: l.name,
      quantity: l.quantity,
      unitPriceMinor: l.unit_price_minor,
      totalMinor: Number(l.line_total_minor),
    })),
    totalMinor: Number(row.total_minor),
    currency: row.currency,
    payment: payment
      ? {
          id: payment.id,
          method: payment.method,
          amountMinor: Number(payment.amount_minor),
          changeMinor: Number(payment.change_minor),
          paidAt: payment.created_at.toISOString(),
        }
      : null,
    createdBy: row.created_by,
    createdAt: row.created_at.toISOString(),
    paidAt: row.paid_at?.toISOString() ?? null,
    refundedAt: row.refunded_at?.toISOString() ?? null,
    refundReason: row.refund_reason,
    voidedAt: row.voided_at?.toISOString() ?? null,
    voidReason: row.void_reason,
  };
}

export function findOrder(trx: Tx, tenantId: string, id: string) {
  return trx.selectFrom('orders').selectAll().where('tenant_id', '=', tenantId).where('id', '=', id).executeTakeFirst();
}

export async function branchOfOrder(trx: Tx, tenantId: string, id: string): Promise<string | undefined> {
  const row = await trx.selectFrom('orders').select('branch_id').where('tenant_id', '=', tenantId).where('id', '=', id).executeTakeFirst();
  return row?.branch_id;
}

/**
 * Locks the order for a state change: a second till paying the same order waits here, then
 * finds it paid. Also reads the business's stock setting in the same round trip.
 */
const lockedOrder = compiled((db, a: { tenantId: string; id: string }) => sql<OrderRow & { allow_negative_stock: boolean }>`
  SELECT o.*, coalesce((t.settings ->> 'allowNegativeStock')::boolean, false) AS allow_negative_stock
    FROM orders o JOIN tenants t ON t.id = o.tenant_id
   WHERE o.tenant_id = ${a.tenantId} AND o.id = ${a.id}
     FOR UPDATE OF o`);

export async function lockOrder(trx: Tx, tenantId: string, id: string): Promise<(OrderRow & { allow_negative_stock: boolean }) | undefined> {
  return (await lockedOrder(trx, { tenantId, id }))[0];
}

const linesOfOrders = compiled((db, a: { tenantId: string; orderIds: string[] }) => sql<OrderLineRow>`
  SELECT * FROM order_lines WHERE tenant_id = ${a.tenantId} AND order_id = ANY(${a.orderIds}::uuid[]) ORDER BY order_id, line_no`);
const paymentsOfOrders = compiled((db, a: { tenantId: string; orderIds: string[] }) => sql<PaymentRow>`
  SELECT * FROM payments WHERE tenant_id = ${a.tenantId} AND order_id = ANY(${a.orderIds}::uuid[])`);

export async function linesOf(trx: Tx, tenantId: string, orderIds: string[]): Promise<Map<string, OrderLineRow[]>> {
  const out = new Map<string, OrderLineRow[]>();
  if (orderIds.length === 0) return out;
  const rows = await linesOfOrders(trx, { tenantId, orderIds });
  for (const r of rows) {
    const list = out.get(r.order_id) ?? [];
    list.push(r);
    out.set(r.order_id, list);
  }
  return out;
}

export async function paymentsOf(trx: Tx, tenantId: string, orderIds: string[]): Promise<Map<string, PaymentRow>> {
  if (orderIds.length === 0) return new Map();
  const rows = await paymentsOfOrders(trx, { tenantId, orderIds });
  return new Map(rows.map((r) => [r.order_id, r]));
}

export interface NewLine {
  menuItemId: string;
  name: string;
  unitPriceMinor: number;
  quantity: number;
}

type OrderWithLineRow = OrderRow & { line_no: number; menu_item_id: string; line_name: string; unit_price_minor: number; quantity: number; line_total_minor: string };
const orderWithLines = compiled(
  (db, a: { tenantId: string; branchId: string; currency: string; totalMinor: number; createdBy: string; lineNos: number[]; menuItemIds: string[]; names: string[]; prices: number[]; quantities: number[] }) =>
    sql<OrderWithLineRow>`
    WITH o AS (
      INSERT INTO orders (tenant_id, branch_id, currency, total_minor, created_by)
      VALUES (${a.tenantId}, ${a.branchId}, ${a.currency}, ${a.totalMinor}, ${a.createdBy})
      RETURNING *
    ), l AS (
      INSERT INTO order_lines (tenant_id, order_id, line_no, branch_id, menu_item_id, name, unit_price_minor, quantity, line_total_minor)
      SELECT o.tenant_id, o.id, x.line_no, o.branch_id, x.menu_item_id, x.name, x.unit_price_minor, x.quantity, x.unit_price_minor::bigint * x.quantity
        FROM o, unnest(${a.lineNos}::int[], ${a.menuItemIds}::uuid[], ${a.names}::text[], ${a.prices}::int[], ${a.quantities}::int[])
             AS x(line_no, menu_item_id, name, unit_price_minor, quantity)
      RETURNING line_no, menu_item_id, name, unit_price_minor, quantity, line_total_minor
    )
    SELECT o.*, l.line_no, l.menu_item_id, l.name AS line_name, l.unit_price_minor, l.quantity, l.line_total_minor
      FROM o, l
     ORDER BY l.line_no`,
);

/** The order and its lines in one statement (one row per line, the order's columns on each). */
export async function insertOrder(
  trx: Tx,
  tenantId: string,
  values: { branchId: string; currency: string; totalMinor: number; createdBy: string },
  lines: NewLine[],
): Promise<{ order: OrderRow; lines: OrderLineRow[] }> {
  const rows = await orderWithLines(trx, {
    tenantId,
    branchId: values.branchId,
    currency: values.currency,
    totalMinor: values.totalMinor,
    createdBy: values.createdBy,
    lineNos: lines.map((_, i) => i + 1),
    menuItemIds: lines.map((l) => l.menuItemId),
    names: lines.map((l) => l.name),
    prices: lines.map((l) => l.unitPriceMinor),
    quantities: lines.map((l) => l.quantity),
  });
  const first = rows[0];
  if (!first) throw new Error('an order needs at least one line');
  const { line_no: _n, menu_item_id: _m, line_name: _l, unit_price_minor: _u, quantity: _q, line_total_minor: _t, ...order } = first;
  return {
    order,
    lines: rows.map((r) => ({
      tenant_id: tenantId,
      order_id: order.id,
      line_no: r.line_no,
      branch_id: order.branch_id,
      paid_at: null,
      refunded_at: null,
      menu_item_id: r.menu_item_id,
      name: r.line_name,
      unit_price_minor: r.unit_price_minor,
      quantity: r.quantity,
      line_total_minor: r.line_total_minor,
    })),
  };
}

type PaidRow = OrderRow & { payment_id: string; method: PaymentMethod; amount_minor: string; change_minor: string; payment_created_by: string | null; payment_created_at: Date };
const paidOrder = compiled((db, a: { tenantId: string; orderId: string; method: PaymentMethod; amountMinor: number; changeMinor: number; userId: string }) => sql<PaidRow>`
  WITH paid AS (
    UPDATE orders SET status = 'paid', paid_at = now()
     WHERE tenant_id = ${a.tenantId} AND id = ${a.orderId} AND status = 'open'
    RETURNING *
  ), lines AS (
    UPDATE order_lines l SET paid_at = paid.paid_at FROM paid WHERE l.tenant_id = paid.tenant_id AND l.order_id = paid.id
  ), payment AS (
    INSERT INTO payments (tenant_id, order_id, method, amount_minor, change_minor, created_by)
    SELECT tenant_id, id, ${a.method}, ${a.amountMinor}, ${a.changeMinor}, ${a.userId} FROM paid
    RETURNING *
  )
  SELECT paid.*, payment.id AS payment_id, payment.method, payment.amount_minor, payment.change_minor,
         payment.created_by AS payment_created_by, payment.created_at AS payment_created_at
    FROM paid, payment`);

/** Marks the order paid, only if it is still open, and records the payment: one statement. */
export async function markPaid(
  trx: Tx,
  tenantId: string,
  orderId: string,
  payment: { method: PaymentMethod; amountMinor: number; changeMinor: number; userId: string },
): Promise<{ order: OrderRow; payment: PaymentRow } | null> {
  const rows = await paidOrder(trx, { tenantId, orderId, method: payment.method, amountMinor: payment.amountMinor, changeMinor: payment.changeMinor, userId: payment.userId });
  const row = rows[0];
  if (!row) return null;
  const { payment_id, method, amount_minor, change_minor, payment_created_by, payment_created_at, ...order } = row;
  return {
    order,
    payment: {
      tenant_id: tenantId,
      id: payment_id,
      order_id: orderId,
      method,
      amount_minor,
      change_minor,
      created_by: payment_created_by,
      created_at: payment_created_at,
    },
  };
}

export async function markRefunded(trx: Tx, tenantId: string, orderId: string, by: { userId: string; reason: string }): Promise<OrderRow | undefined> {
  const { rows } = await sql<OrderRow>`
    WITH refunded AS (
      UPDATE orders SET status = 'refunded', refunded_at = now(), refunded_by = ${by.userId}, refund_reason = ${by.reason}
       WHERE tenant_id = ${tenantId} AND id = ${orderId} AND status = 'paid'
      RETURNING *
    ), lines AS (
      UPDATE order_lines l SET refunded_at = refunded.refunded_at FROM refunded WHERE l.tenant_id = refunded.tenant_id AND l.order_id = refunded.id
    )
    SELECT * FROM refunded`.execute(trx);
  return rows[0];
}

export function markVoided(trx: Tx, tenantId: string, orderId: string, by: { userId: string; reason: string }) {
  return trx
    .updateTable('orders')
    .set({ status: 'voided', voided_at: sql<Date>`now()`, voided_by: by.userId, void_reason: by.reason })
    .where('tenant_id', '=', tenantId)
    .where('id', '=', orderId)
    .where('status', '=', 'open')
    .returningAll()
    .executeTakeFirst();
}

export function listOrderRows(
  trx: Tx,
  tenantId: string,
  opts: {
    branchIds: 'all' | string[];
    /** Further branches of which only the open orders are listed. */
    openOnlyBranchIds?: 'all' | string[];
    status?: OrderStatus;
    from?: string;
    to?: string;
    after: PageKey | null;
    limit: number;
  },
) {
  let q = trx
    .selectFrom('orders')
    .selectAll()
    .select(cursorAt('created_at').as('cursor_at'))
    .where('tenant_id', '=', tenantId)
    .orderBy('created_at', 'desc')
    .orderBy('id', 'desc')
    .limit(opts.limit + 1);
  if (opts.branchIds !== 'all') {
    const full = opts.branchIds;
    const openOnly = opts.openOnlyBranchIds ?? [];
    q = q.where((eb) =>
      eb.or([
        ...(full.length ? [eb('branch_id', 'in', full)] : []),
        ...(openOnly === 'all' ? [eb('status', '=', 'open')] : openOnly.length ? [eb.and([eb('branch_id', 'in', openOnly), eb('status', '=', 'open')])] : []),
      ]),
    );
  }
  if (opts.status) q = q.where('status', '=', opts.status);
  if (opts.from) q = q.where('created_at', '>=', new Date(opts.from));
  if (opts.to) q = q.where('created_at', '<', new Date(opts.to));
  if (opts.after) q = q.where(afterCursor('created_at', 'id', opts.after, 'desc'));
  return q.execute();
}
