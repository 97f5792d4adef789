import { sql, type ColumnType, type Generated, type Selectable } from 'kysely';
import { sendTogether, type Tx } from '../../platform/db/index.ts';
import { afterCursor, cursorAt, type PageKey } from '../../platform/http/pagination.ts';
import { parseMilli, milliToNumber, milliToDecimal } from './inventory.quantity.ts';
import type { InventoryItem, Movement, MovementKind, LowStockAlert } from './inventory.schemas.ts';

type Nullable<T> = ColumnType<T | null, T | null | undefined, T | null>;
/** numeric(14,3): PostgreSQL hands it out as text; we send text too. */
type Decimal = ColumnType<string, string, string>;

export interface InventoryItemsTable {
  tenant_id: string;
  id: Generated<string>;
  name: string;
  unit: string;
  reorder_level: Decimal;
  archived_at: Nullable<Date>;
  created_at: Generated<Date>;
  updated_at: ColumnType<Date, Date | undefined, Date>;
}

export interface StockLevelsTable {
  tenant_id: string;
  inventory_item_id: string;
  branch_id: string;
  on_hand: ColumnType<string, string | undefined, string>;
  below_reorder: ColumnType<boolean, boolean | undefined, boolean>;
  updated_at: ColumnType<Date, Date | undefined, Date>;
}

export interface StockMovementsTable {
  tenant_id: string;
  id: Generated<string>;
  inventory_item_id: string;
  branch_id: string;
  kind: MovementKind;
  quantity_delta: Decimal;
  on_hand_after: Decimal;
  reason: string | null;
  order_id: string | null;
  created_by: string | null;
  created_at: Generated<Date>;
}

export interface LowStockAlertsTable {
  tenant_id: string;
  id: Generated<string>;
  inventory_item_id: string;
  branch_id: string;
  movement_id: string;
  on_hand: Decimal;
  reorder_level: Decimal;
  created_at: Generated<Date>;
}

declare module '../../platform/db/schema.ts' {
  interface Database {
    inventory_items: InventoryItemsTable;
    stock_levels: StockLevelsTable;
    stock_movements: StockMovementsTable;
    low_stock_alerts: LowStockAlertsTable;
  }
}

export function toInventoryItem(row: Selectable<InventoryItemsTable>): InventoryItem {
  return {
    id: row.id,
    name: row.name,
    unit: row.unit,
    reorderLevel: milliToNumber(parseMilli(row.reorder_level)),
    archivedAt: row.archived_at?.toISOString() ?? null,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
  };
}

export function toMovement(row: Selectable<StockMovementsTable>): Movement {
  return {
    id: row.id,
    inventoryItemId: row.inventory_item_id,
    branchId: row.branch_id,
    kind: row.kind,
    quantityDelta: milliToNumber(parseMilli(row.quantity_delta)),
    onHandAfter: milliToNumber(parseMilli(row.on_hand_after)),
    reason: row.reason,
    orderId: row.order_id,
    createdBy: row.created_by,
    createdAt: row.created_at.toISOString(),
  };
}

export function toAlert(row: Selectable<LowStockAlertsTable>): LowStockAlert {
  return {
    id: row.id,
    inventoryItemId: row.inventory_item_id,
    branchId: row.branch_id,
    onHand: milliToNumber(parseMilli(row.on_hand)),
    reorderLevel: milliToNumber(parseMilli(row.reorder_level)),
    createdAt: row.created_at.toISOString(),
  };
}

export function findInventoryItem(trx: Tx, tenantId: string, id: string, opts: { lock?: boolean } = {}) {
  let q = trx.selectFrom('inventory_items').selectAll().where('tenant_id', '=', tenantId).where('id', '=', id);
  if (opts.lock) q = q.forUpdate();
  return q.executeTakeFirst();
}

/** Which of `ids` are inventory items of the tenant. */
export async function existingInventoryItemIds(trx: Tx, tenantId: string, ids: string[]): Promise<Set<string>> {
  if (ids.length === 0) return new Set();
  const rows = await trx.selectFrom('inventory_items').select('id').where('tenant_id', '=', tenantId).where('id', 'in', ids).execute();
  return new Set(rows.map((r) => r.id));
}

export function listInventoryItemRows(trx: Tx, tenantId: string, opts: { includeArchived: boolean; after: PageKey | null; limit: number }) {
  let q = trx
    .selectFrom('inventory_items')
    .selectAll()
    .select(cursorAt('created_at').as('cursor_at'))
    .where('tenant_id', '=', tenantId)
    .orderBy('created_at')
    .orderBy('id')
    .limit(opts.limit + 1);
  if (!opts.includeArchived) q = q.where('archived_at', 'is', null);
  if (opts.after) q = q.where(afterCursor('created_at', 'id', opts.after, 'asc'));
  return q.execute();
}

export function insertInventoryItem(trx: Tx, tenantId: string, values: { name: string; unit: string; reorderLevelMilli: number }) {
  return trx
    .insertInto('inventory_items')
    .values({ tenant_id: tenantId, name: values.name, unit: values.unit, reorder_level: milliToDecimal(values.reorderLevelMilli) })
    .returningAll()
    .executeTakeFirstOrThrow();
}

export function updateInventoryItemRow(trx: Tx, tenantId: string, id: string, values: { name?: string; unit?: string; reorder_level?: string }) {
  return trx
    .updateTable('inventory_items')
    .set({ ...values, updated_at: new Date() })
    .where('tenant_id', '=', tenantId)
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirstOrThrow();
}

/** On hand of one item in each of the given active branches (zero where it never moved). */
export function stockLevelsOf(trx: Tx, tenantId: string, itemId: string, branchIds: 'all' | string[]) {
  let q = trx
    .selectFrom('branches as b')
    .leftJoin('stock_levels as s', (j) =>
      j.onRef('s.tenant_id', '=', 'b.tenant_id').onRef('s.branch_id', '=', 'b.id').on('s.inventory_item_id', '=', itemId),
    )
    .select(['b.id as branch_id', sql<string>`coalesce(s.on_hand, 0)`.as('on_hand'), sql<boolean>`coalesce(s.below_reorder, false)`.as('below_reorder')])
    .where('b.tenant_id', '=', tenantId)
    .where('b.archived_at', 'is', null)
    .orderBy('b.created_at')
    .orderBy('b.id');
  if (branchIds !== 'all') q = q.where('b.id', 'in', branchIds);
  return q.execute();
}

export function listMovementRows(trx: Tx, tenantId: string, itemId: string, opts: { branchIds: 'all' | string[]; after: PageKey | null; limit: number }) {
  let q = trx
    .selectFrom('stock_movements')
    .selectAll()
    .select(cursorAt('created_at').as('cursor_at'))
    .where('tenant_id', '=', tenantId)
    .where('inventory_item_id', '=', itemId)
    .orderBy('created_at', 'desc')
    .orderBy('id', 'desc')
    .limit(opts.limit + 1);
  if (opts.branchIds !== 'all') q = q.where('branch_id', 'in', opts.branchIds);
  if (opts.after) q = q.where(afterCursor('created_at', 'id', opts.after, 'desc'));
  return q.execute();
}

export function listAlertRows(trx: Tx, tenantId: string, opts: { branchIds: 'all' | string[]; after: PageKey | null; limit: number }) {
  let q = trx
    .selectFrom('low_stock_alerts')
    .selectAll()
    .select(cursorAt('created_at').as('cursor_at'))
    .where('tenant_id', '=', tenantId)
    .orderBy('created_at', 'desc')
    .orderBy('id', 'desc')
    .limit(opts.limit + 1);
  if (opts.branchIds !== 'all') q = q.where('branch_id', 'in', opts.branchIds);
  if (opts.after) q = q.where(afterCursor('created_at', 'id', opts.after, 'desc'));
  return q.execute();
}

export interface LockedLevel {
  inventory_item_id: string;
  on_hand: string;
  below_reorder: boolean;
  reorder_level: string;
  name: string;
  unit: string;
}

/**
 * Locks the stock levels of `itemIds` in one branch, creating missing ones at zero first.
 * Always in item-id order, so two sales touching the same items queue instead of deadlocking.
 */
export async function lockStockLevels(trx: Tx, tenantId: string, branchId: string, itemIds: string[]): Promise<LockedLevel[]> {
  // One round trip, two statements: the lock's snapshot is taken after the missing rows exist.
  const [, rows] = await sendTogether(trx, [
    sql`
      INSERT INTO stock_levels (tenant_id, inventory_item_id, branch_id)
      SELECT ${tenantId}::uuid, item, ${branchId}::uuid FROM unnest(${itemIds}::uuid[]) AS item
      ON CONFLICT DO NOTHING`,
    sql<LockedLevel>`
      SELECT s.inventory_item_id, s.on_hand, s.below_reorder, i.reorder_level, i.name, i.unit
        FROM stock_levels s
        JOIN inventory_items i ON i.tenant_id = s.tenant_id AND i.id = s.inventory_item_id
       WHERE s.tenant_id = ${tenantId} AND s.branch_id = ${branchId} AND s.inventory_item_id = ANY(${itemIds}::uuid[])
       ORDER BY s.inventory_item_id
         FOR UPDATE OF s`,
  ]);
  return rows as LockedLevel[];
}

export interface LevelChange {
  itemId: string;
  deltaMilli: number;
  afterMilli: number;
  below: boolean;
}

/** The new levels and their ledger rows in one statement. */
export function movementsStatement(
  tenantId: string,
  branchId: string,
  changes: LevelChange[],
  meta: { kind: MovementKind; reason: string | null; orderId: string | null; userId: string | null },
) {
  const ids = changes.map((c) => c.itemId);
  const deltas = changes.map((c) => milliToDecimal(c.deltaMilli));
  const afters = changes.map((c) => milliToDecimal(c.afterMilli));
  const below = changes.map((c) => c.below);
  return sql<Selectable<StockMovementsTable>>`
    WITH input AS (
      SELECT * FROM unnest(${ids}::uuid[], ${deltas}::numeric[], ${afters}::numeric[], ${below}::boolean[])
        AS t(item, delta, after, below)
    ), levels AS (
      UPDATE stock_levels s SET on_hand = input.after, below_reorder = input.below, updated_at = now()
        FROM input
       WHERE s.tenant_id = ${tenantId} AND s.branch_id = ${branchId} AND s.inventory_item_id = input.item
    )
    INSERT INTO stock_movements (tenant_id, inventory_item_id, branch_id, kind, quantity_delta, on_hand_after, reason, order_id, created_by)
    SELECT ${tenantId}, item, ${branchId}, ${meta.kind}, delta, after, ${meta.reason}, ${meta.orderId}, ${meta.userId} FROM input
    RETURNING *`;
}

/** Writes the new levels and their ledger rows in one statement; returns the movements in input order. */
export async function writeMovements(
  trx: Tx,
  tenantId: string,
  branchId: string,
  changes: LevelChange[],
  meta: { kind: MovementKind; reason: string | null; orderId: string | null; userId: string | null },
): Promise<Selectable<StockMovementsTable>[]> {
  const { rows } = await movementsStatement(tenantId, branchId, changes, meta).execute(trx);
  const byItem = new Map(rows.map((r) => [r.inventory_item_id, r]));
  return changes.map((c) => byItem.get(c.itemId)!);
}

export function insertAlert(trx: Tx, tenantId: string, values: { itemId: string; branchId: string; movementId: string; onHandMilli: number; reorderLevel: string }) {
  return trx
    .insertInto('low_stock_alerts')
    .values({
      tenant_id: tenantId,
      inventory_item_id: values.itemId,
      branch_id: values.branchId,
      movement_id: values.movementId,
      on_hand: milliToDecimal(values.onHandMilli),
      reorder_level: values.reorderLevel,
    })
    .returning('id')
    .executeTakeFirstOrThrow();
}

/** What an order's sale took from stock, per item: what a restocking refund puts back. */
export async function soldByOrder(trx: Tx, tenantId: string, orderId: string): Promise<{ itemId: string; soldMilli: number }[]> {
  const rows = await trx
    .selectFrom('stock_movements')
    .select(['inventory_item_id', sql<string>`-sum(quantity_delta)`.as('sold')])
    .where('tenant_id', '=', tenantId)
    .where('order_id', '=', orderId)
    .where('kind', '=', 'sale')
    .groupBy('inventory_item_id')
    .execute();
  return rows.map((r) => ({ itemId: r.inventory_item_id, soldMilli: parseMilli(r.sold) })).filter((r) => r.soldMilli !== 0);
}
