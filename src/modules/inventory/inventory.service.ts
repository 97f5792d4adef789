import type { Platform } from '../../platform/deps.ts';
import { deferStatement, type Tx } from '../../platform/db/index.ts';
import type { Scope } from '../../platform/auth/index.ts';
import { AppError, notFound } from '../../platform/errors/index.ts';
import { decodeTimeCursor, toPage, timeKeyOf, type Page } from '../../platform/http/pagination.ts';
import { enqueueLater } from '../../platform/jobs/outbox.ts';
import { branchesWith } from '../access/index.ts';
import { recordAudit, auditSourceOfUser } from '../audit/index.ts';
import { requireOpenBranch, requireBranch, visibleBranches } from '../branches/index.ts';
import {
  findInventoryItem, listInventoryItemRows, insertInventoryItem, updateInventoryItemRow, stockLevelsOf, listMovementRows,
  listAlertRows, lockStockLevels, writeMovements, movementsStatement, insertAlert, toInventoryItem, toMovement, toAlert, type LevelChange,
} from './inventory.repository.ts';
import { toMilli, parseMilli, milliToNumber, milliToDecimal, describeQuantity, MAX_ON_HAND_MILLI } from './inventory.quantity.ts';
import type {
  InventoryItem, Movement, MovementKind, StockLevel, LowStockAlert, CreateInventoryItemInput, UpdateInventoryItemInput,
  AdjustStockInput, ListInventoryItemsInput, ListMovementsInput, ListAlertsInput,
} from './inventory.schemas.ts';

const invalid = (path: string, message: string) =>
  new AppError('validation_failed', 'The request does not match the expected shape.', { errors: [{ path, message }] });

const isUniqueViolation = (err: unknown) => (err as { code?: string }).code === '23505';
const nameTaken = (name: string) => new AppError('already_exists', `An inventory item named "${name}" already exists.`, { field: 'name' });

export interface StockLine {
  inventoryItemId: string;
  /** Signed change in thousandths; ignored when `countedMilli` is given. */
  deltaMilli: number;
  /** A stocktake: the level becomes this, the movement is the difference. */
  countedMilli?: number;
}

export interface StockMove {
  tenantId: string;
  userId: string | null;
  branchId: string;
  kind: MovementKind;
  reason: string | null;
  orderId: string | null;
  lines: StockLine[];
  /** Sales may take stock below zero where the business allows it; nothing else may. */
  allowNegative: boolean;
  /**
   * The caller needs no movements back: unless a level crosses its reorder point (an alert needs
   * its movement's id), the levels and the ledger are written with the transaction's next round
   * trip (its COMMIT) instead of one of their own, and `movements` comes back empty.
   */
  movementsLater?: boolean;
}

export interface StockMoveResult {
  movements: Movement[];
  alerts: { id: string; inventoryItemId: string }[];
}

/**
 * Moves stock of some items in one branch, inside the caller's transaction: locks their levels,
 * refuses to go below zero (unless allowed), writes the new levels and the ledger rows together,
 * and raises one low-stock alert per downward crossing of the reorder level (the flag on the
 * level re-arms when stock is back at or above it). Each alert writes a mail.low_stock job.
 */
export async function moveStock(trx: Tx, move: StockMove): Promise<StockMoveResult> {
  const merged = new Map<string, StockLine>();
  for (const line of move.lines) {
    const seen = merged.get(line.inventoryItemId);
    merged.set(line.inventoryItemId, seen ? { ...seen, deltaMilli: seen.deltaMilli + line.deltaMilli } : { ...line });
  }
  const ids = [...merged.keys()].sort();
  if (ids.length === 0) return { movements: [], alerts: [] };
  const levels = await lockStockLevels(trx, move.tenantId, move.branchId, ids);

  const changes: LevelChange[] = [];
  const short: { inventoryItemId: string; name: string; onHand: number; needed: number; unit: string }[] = [];
  const crossings: { itemId: string; afterMilli: number; reorderLevel: string }[] = [];
  for (const level of levels) {
    const line = merged.get(level.inventory_item_id)!;
    const beforeMilli = parseMilli(level.on_hand);
    const deltaMilli = line.countedMilli !== undefined ? line.countedMilli - beforeMilli : line.deltaMilli;
    const afterMilli = beforeMilli + deltaMilli;
    if (afterMilli < 0 && deltaMilli < 0 && !move.allowNegative) {
      short.push({ inventoryItemId: level.inventory_item_id, name: level.name, unit: level.unit, onHand: beforeMilli, needed: -deltaMilli });
    }
    if (Math.abs(afterMilli) > MAX_ON_HAND_MILLI) {
      throw new AppError('unprocessable', `That would take ${level.name} beyond the largest quantity Brigade keeps.`, { inventoryItemId: level.inventory_item_id });
    }
    const below = afterMilli < parseMilli(level.reorder_level);
    if (below && !level.below_reorder) crossings.push({ itemId: level.inventory_item_id, afterMilli, reorderLevel: level.reorder_level });
    changes.push({ itemId: level.inventory_item_id, deltaMilli, afterMilli, below });
  }
  if (short.length > 0) {
    const what = short.map((s) => `${s.name} (${describeQuantity(s.onHand, s.unit)} on hand, ${describeQuantity(s.needed, s.unit)} needed)`).join(', ');
    throw new AppError(
      'insufficient_stock',
      move.kind === 'sale'
        ? `Not enough stock in this branch for this order: ${what}.`
        : `This would take stock below zero: ${what}.`,
      { branchId: move.branchId, items: short.map((s) => ({ inventoryItemId: s.inventoryItemId, name: s.name, onHand: milliToNumber(s.onHand), needed: milliToNumber(s.needed) })) },
    );
  }

  const meta = { kind: move.kind, reason: move.reason, orderId: move.orderId, userId: move.userId };
  if (move.movementsLater && crossings.length === 0) {
    await deferStatement(trx, movementsStatement(move.tenantId, move.branchId, changes, meta));
    return { movements: [], alerts: [] };
  }
  const rows = await writeMovements(trx, move.tenantId, move.branchId, changes, meta);
  const movementOf = new Map(rows.map((r) => [r.inventory_item_id, r]));
  const alerts: StockMoveResult['alerts'] = [];
  for (const c of crossings) {
    const alert = await insertAlert(trx, move.tenantId, {
      itemId: c.itemId,
      branchId: move.branchId,
      movementId: movementOf.get(c.itemId)!.id,
      onHandMilli: c.afterMilli,
      reorderLevel: c.reorderLevel,
    });
    await enqueueLater(trx, move.tenantId, 'mail.low_stock', {
      branchId: move.branchId,
      inventoryItemId: c.itemId,
      onHand: milliToNumber(c.afterMilli),
      reorderLevel: milliToNumber(parseMilli(c.reorderLevel)),
    });
    alerts.push({ id: alert.id, inventoryItemId: c.itemId });
  }
  return { movements: rows.map(toMovement), alerts };
}

export function inventoryService(platform: Platform) {
  const { tenancy } = platform;

  async function requireItem(trx: Tx, tenantId: string, id: string, opts: { lock?: boolean } = {}) {
    const row = await findInventoryItem(trx, tenantId, id, opts);
    if (!row) throw notFound('inventory item');
    return row;
  }

  return {
    async listInventoryItems(scope: Scope, query: ListInventoryItemsInput): Promise<Page<InventoryItem>> {
      const limit = query.limit ?? 50;
      const after = decodeTimeCursor(query.cursor);
      const rows = await tenancy.readAsTenant(scope, (db) =>
        listInventoryItemRows(db, scope.tenantId, { includeArchived: query.includeArchived ?? false, after, limit }),
      );
      return toPage(rows, limit, timeKeyOf, toInventoryItem);
    },

    async getInventoryItem(scope: Scope, id: string): Promise<InventoryItem> {
      return toInventoryItem(await tenancy.readAsTenant(scope, (db) => requireItem(db, scope.tenantId, id)));
    },

    async createInventoryItem(scope: Scope, input: CreateInventoryItemInput): Promise<InventoryItem> {
      const values = { name: input.name.trim(), unit: input.unit, reorderLevelMilli: toMilli(input.reorderLevel, 'reorderLevel') };
      try {
        return await tenancy.withTenant(scope, async (trx) => {
          const item = toInventoryItem(await insertInventoryItem(trx, scope.tenantId, values));
          await recordAudit(trx, auditSourceOfUser(scope), {
            action: 'inventory_item.created',
            permission: 'inventory.adjust',
            target: { type: 'inventory_item', id: item.id },
            changes: { after: { name: item.name, unit: item.unit, reorderLevel: item.reorderLevel } },
          });
          return item;
        });
      } catch (err) {
        if (isUniqueViolation(err)) throw nameTaken(values.name);
        throw err;
      }
    },

    async updateInventoryItem(scope: Scope, id: string, input: UpdateInventoryItemInput): Promise<InventoryItem> {
      const patch: { name?: string; unit?: string; reorder_level?: string } = {};
      if (input.name !== undefined) patch.name = input.name.trim();
      if (input.unit !== undefined) patch.unit = input.unit;
      if (input.reorderLevel !== undefined) patch.reorder_level = milliToDecimal(toMilli(input.reorderLevel, 'reorderLevel'));
      try {
        return await tenancy.withTenant(scope, async (trx) => {
          const before = toInventoryItem(await requireItem(trx, scope.tenantId, id, { lock: true }));
          const after = toInventoryItem(await updateInventoryItemRow(trx, scope.tenantId, id, patch));
          const keys = (['name', 'unit', 'reorderLevel'] as const).filter((k) => input[k] !== undefined);
          await recordAudit(trx, auditSourceOfUser(scope), {
            action: 'inventory_item.updated',
            permission: 'inventory.adjust',
            target: { type: 'inventory_item', id },
            changes: { before: Object.fromEntries(keys.map((k) => [k, before[k]])), after: Object.fromEntries(keys.map((k) => [k, after[k]])) },
          });
          return after;
        });
      } catch (err) {
        if (isUniqueViolation(err) && patch.name) throw nameTaken(patch.name);
        throw err;
      }
    },

    async stockOf(scope: Scope, id: string): Promise<StockLevel[]> {
      const branchIds = branchesWith(scope.grants, 'inventory.read');
      return tenancy.withTenant(scope, async (trx) => {
        await requireItem(trx, scope.tenantId, id);
        if (branchIds !== 'all' && branchIds.length === 0) return [];
        const rows = await stockLevelsOf(trx, scope.tenantId, id, branchIds);
        return rows.map((r) => ({ branchId: r.branch_id, onHand: milliToNumber(parseMilli(r.on_hand)), belowReorderLevel: r.below_reorder }));
      });
    },

    /** A delivery, waste, stocktake or correction in one branch: never below zero, audited. */
    async adjustStock(scope: Scope, id: string, input: AdjustStockInput): Promise<{ movement: Movement; onHand: number }> {
      const kind = input.kind ?? 'adjustment';
      let line: { deltaMilli: number; countedMilli?: number };
      if (input.countedOnHand !== undefined) {
        if (kind !== 'count') throw invalid('countedOnHand', 'is only for kind "count"');
        if (input.quantityDelta !== undefined) throw invalid('quantityDelta', 'cannot be sent with countedOnHand');
        line = { deltaMilli: 0, countedMilli: toMilli(input.countedOnHand, 'countedOnHand') };
      } else {
        if (input.quantityDelta === undefined) throw invalid('quantityDelta', 'is required');
        const deltaMilli = toMilli(input.quantityDelta, 'quantityDelta');
        if (kind === 'delivery' && deltaMilli <= 0) throw invalid('quantityDelta', 'must be positive for a delivery');
        if (kind === 'waste' && deltaMilli >= 0) throw invalid('quantityDelta', 'must be negative for waste');
        if (kind === 'adjustment' && deltaMilli === 0) throw invalid('quantityDelta', 'must not be zero');
        line = { deltaMilli };
      }
      return tenancy.withTenant(scope, async (trx) => {
        await requireOpenBranch(trx, scope.tenantId, input.branchId);
        const item = await requireItem(trx, scope.tenantId, id);
        if (item.archived_at) throw new AppError('invalid_state', `The inventory item "${item.name}" is archived.`);
        const { movements } = await moveStock(trx, {
          tenantId: scope.tenantId,
          userId: scope.userId,
          branchId: input.branchId,
          kind,
          reason: input.reason.trim(),
          orderId: null,
          lines: [{ inventoryItemId: id, ...line }],
          allowNegative: false,
        });
        const movement = movements[0]!;
        await recordAudit(trx, auditSourceOfUser(scope), {
          action: 'stock.adjusted',
          permission: 'inventory.adjust',
          target: { type: 'inventory_item', id },
          changes: {
            branchId: input.branchId,
            kind,
            reason: movement.reason,
            before: { onHand: milliToNumber(Math.round(movement.onHandAfter * 1000) - Math.round(movement.quantityDelta * 1000)) },
            after: { onHand: movement.onHandAfter },
          },
        });
        return { movement, onHand: movement.onHandAfter };
      });
    },

    async listMovements(scope: Scope, id: string, query: ListMovementsInput): Promise<Page<Movement>> {
      const branchIds = visibleBranches(scope, 'inventory.read', query.branchId);
      const limit = query.limit ?? 50;
      const after = decodeTimeCursor(query.cursor);
      return tenancy.withTenant(scope, async (trx) => {
        await requireItem(trx, scope.tenantId, id);
        await requireBranch(trx, scope.tenantId, query.branchId);
        if (branchIds !== 'all' && branchIds.length === 0) return { data: [], nextCursor: null };
        return toPage(await listMovementRows(trx, scope.tenantId, id, { branchIds, after, limit }), limit, timeKeyOf, toMovement);
      });
    },

    async listLowStockAlerts(scope: Scope, query: ListAlertsInput): Promise<Page<LowStockAlert>> {
      const branchIds = visibleBranches(scope, 'inventory.read', query.branchId);
      const limit = query.limit ?? 50;
      const after = decodeTimeCursor(query.cursor);
      if (branchIds !== 'all' && branchIds.length === 0) return { data: [], nextCursor: null };
      const rows = await tenancy.withTenant(scope, async (trx) => {
        await requireBranch(trx, scope.tenantId, query.branchId);
        return listAlertRows(trx, scope.tenantId, { branchIds, after, limit });
      });
      return toPage(rows, limit, timeKeyOf, toAlert);
    },
  };
}

export type InventoryService = ReturnType<typeof inventoryService>;
