import type { Platform } from '../../platform/deps.ts';
import { atCommit, inParallel, type Tx } from '../../platform/db/index.ts';
import type { Scope } from '../../platform/auth/index.ts';
import type { Awaitable } from '../../platform/awaitable.ts';
import { AppError, notFound } from '../../platform/errors/index.ts';
import { decodeTimeCursor, toPage, timeKeyOf, type Page } from '../../platform/http/pagination.ts';
import { assertCan, branchesWith, can, type Permission } from '../access/index.ts';
import { recordAudit, auditSourceOfUser } from '../audit/index.ts';
import { requireOpenBranch, requireBranch, visibleBranches } from '../branches/index.ts';
import { itemsForSale, recipesOf, type RecipeLineMilli } from '../menu/index.ts';
import { moveStock, soldByOrder, type StockLine } from '../inventory/index.ts';
import {
  findOrder, branchOfOrder, lockOrder, linesOf, paymentsOf, insertOrder, markPaid, markRefunded, markVoided, listOrderRows, toOrder,
  type OrderRow, type OrderLineRow, type NewLine,
} from './orders.repository.ts';
import type { Order, PlaceOrderInput, PayOrderInput, RefundOrderInput, VoidOrderInput, ListOrdersInput } from './orders.schemas.ts';

const statusWords = { open: 'open', paid: 'already paid', refunded: 'refunded', voided: 'voided' } as const;

function notOpen(order: OrderRow, action: string): AppError {
  return new AppError('order_not_open', `This order is ${statusWords[order.status]}: only open orders can be ${action}.`, { orderStatus: order.status });
}

/** Recipe quantities times portions, per inventory item: what paying the order takes from stock. */
function stockNeeded(lines: OrderLineRow[], recipes: Map<string, RecipeLineMilli[]>): StockLine[] {
  const need = new Map<string, number>();
  for (const line of lines) {
    for (const r of recipes.get(line.menu_item_id) ?? []) {
      need.set(r.inventoryItemId, (need.get(r.inventoryItemId) ?? 0) + r.quantityMilli * line.quantity);
    }
  }
  return [...need].map(([inventoryItemId, milli]) => ({ inventoryItemId, deltaMilli: -milli }));
}

/** How many orders' branches a process keeps (then it starts again). */
const ORDER_BRANCHES_KEPT = 10_000;

export function ordersService(platform: Platform) {
  const { tenancy } = platform;
  /**
   * The branch of each order this process placed or looked up, by tenant and order: an order
   * never changes branch, so what was known stays true and needs no invalidation. A till pays
   * the order it just placed; its permission check then costs no round trip.
   */
  const orderBranches = new Map<string, string>();
  const rememberBranch = (tenantId: string, orderId: string, branchId: string) => {
    if (orderBranches.size >= ORDER_BRANCHES_KEPT) orderBranches.clear();
    orderBranches.set(`${tenantId}/${orderId}`, branchId);
  };

  async function lockForChange(trx: Tx, scope: Scope, id: string) {
    const order = await lockOrder(trx, scope.tenantId, id);
    if (!order) throw notFound('order');
    return order;
  }

  async function viewOf(trx: Tx, tenantId: string, order: OrderRow): Promise<Order> {
    const lines = await linesOf(trx, tenantId, [order.id]);
    const payments = await paymentsOf(trx, tenantId, [order.id]);
    return toOrder(order, lines.get(order.id) ?? [], payments.get(order.id));
  }

  return {
    /**
     * The branch an order belongs to, for the permission check of routes naming an order.
     * A caller holding `permission` business-wide needs no lookup (any branch will do; the use
     * case still answers 404 for an unknown id); others get 404 for ids not of their tenant.
     */
    branchForAccess(scope: Scope, id: string, permission: Permission): Awaitable<string | null> {
      if (can(scope.grants, permission, null)) return null;
      const known = orderBranches.get(`${scope.tenantId}/${id}`);
      if (known) return known;
      return tenancy.readAsTenant(scope, (db) => branchOfOrder(db, scope.tenantId, id)).then((branchId) => {
        if (!branchId) throw notFound('order');
        rememberBranch(scope.tenantId, id, branchId);
        return branchId;
      });
    },

    /** Opens an order with each line priced as the menu says now: later price changes leave it alone. */
    async placeOrder(scope: Scope, input: PlaceOrderInput): Promise<Order> {
      const placed = await tenancy.withTenant(scope, async (trx) => {
        const ids = [...new Set(input.lines.map((l) => l.menuItemId))];
        // The branch check, the plan's quota and the prices in one round trip (with BEGIN and the context).
        const [, , forSale] = await inParallel([
          requireOpenBranch(trx, scope.tenantId, input.branchId),
          platform.hooks.claimLimit?.(trx, scope.tenantId, 'ordersPerMonth') ?? Promise.resolve(),
          itemsForSale(trx, scope.tenantId, input.branchId, ids),
        ] as const);
        const items = new Map(forSale.map((i) => [i.id, i]));
        const lines: NewLine[] = input.lines.map((l) => {
          const item = items.get(l.menuItemId);
          if (!item) throw new AppError('not_found', `No menu item ${l.menuItemId}.`, { menuItemId: l.menuItemId });
          if (item.archived_at || !item.available) {
            throw new AppError('menu_item_unavailable', `"${item.name}" is not on sale in this branch.`, { menuItemId: item.id });
          }
          return { menuItemId: item.id, name: item.name, unitPriceMinor: item.price_minor, quantity: l.quantity };
        });
        const totalMinor = lines.reduce((sum, l) => sum + l.unitPriceMinor * l.quantity, 0);
        // The order and its lines go out with the COMMIT: one round trip for both.
        const created = insertOrder(
          atCommit(trx),
          scope.tenantId,
          { branchId: input.branchId, currency: scope.tenant.currency, totalMinor, createdBy: scope.userId },
          lines,
        );
        created.catch(() => undefined);
        return { created };
      });
      const created = await placed.created;
      const order = toOrder(created.order, created.lines, undefined);
      rememberBranch(scope.tenantId, order.id, order.branchId);
      return order;
    },

    /**
     * Takes payment and consumes the recipes' stock in one transaction. The order row is locked
     * first, so of two tills paying at once one wins and the other gets 409; stock moves once.
     */
    async payOrder(scope: Scope, id: string, input: PayOrderInput): Promise<Order> {
      return tenancy.withTenant(scope, async (trx) => {
        // The lock, the lines and their recipes in one round trip (lines never change once placed).
        const [order, linesById, recipes] = await inParallel([
          lockOrder(trx, scope.tenantId, id),
          linesOf(trx, scope.tenantId, [id]),
          recipesOf(trx, scope.tenantId, { orderId: id }),
        ] as const);
        if (!order) throw notFound('order');
        if (order.status !== 'open') throw notOpen(order, 'paid');
        const total = Number(order.total_minor);
        if (input.method === 'card' && input.amountMinor !== total) {
          throw new AppError('payment_amount_invalid', `A card payment must be exactly the total, ${total}.`, { totalMinor: total, amountMinor: input.amountMinor });
        }
        if (input.method === 'cash' && input.amountMinor < total) {
          throw new AppError('payment_amount_invalid', `The cash handed over (${input.amountMinor}) is less than the total (${total}).`, {
            totalMinor: total,
            amountMinor: input.amountMinor,
          });
        }
        const lines = linesById.get(id) ?? [];
        const needed = stockNeeded(lines, recipes);
        // The payment and the stock locks in one round trip; the levels and the ledger go out with
        // the COMMIT. The stock rows are shared by every till of the branch, so they are held for
        // two round trips only (a shortage still rolls the payment back with it).
        const [paid] = await inParallel([
          markPaid(trx, scope.tenantId, id, {
            method: input.method,
            amountMinor: input.amountMinor,
            changeMinor: input.method === 'cash' ? input.amountMinor - total : 0,
            userId: scope.userId,
          }),
          moveStock(trx, {
            tenantId: scope.tenantId,
            userId: scope.userId,
            branchId: order.branch_id,
            kind: 'sale',
            reason: null,
            orderId: id,
            lines: needed,
            allowNegative: order.allow_negative_stock,
            movementsLater: true,
          }),
        ] as const);
        if (!paid) throw notOpen(order, 'paid');
        return toOrder(paid.order, lines, paid.payment);
      });
    },

    /** Paid → refunded, audited; puts the sold stock back only when asked (sealed goods). */
    async refundOrder(scope: Scope, id: string, input: RefundOrderInput): Promise<Order> {
      return tenancy.withTenant(scope, async (trx) => {
        const order = await lockForChange(trx, scope, id);
        if (order.status !== 'paid') {
          throw new AppError('order_not_paid', `This order is ${order.status}: only paid orders can be refunded.`, { orderStatus: order.status });
        }
        const reason = input.reason.trim();
        if (input.restock) {
          const sold = await soldByOrder(trx, scope.tenantId, id);
          await moveStock(trx, {
            tenantId: scope.tenantId,
            userId: scope.userId,
            branchId: order.branch_id,
            kind: 'refund',
            reason,
            orderId: id,
            lines: sold.map((s) => ({ inventoryItemId: s.itemId, deltaMilli: s.soldMilli })),
            allowNegative: true,
          });
        }
        const refunded = await markRefunded(trx, scope.tenantId, id, { userId: scope.userId, reason });
        if (!refunded) throw new AppError('order_not_paid', 'Only paid orders can be refunded.');
        await recordAudit(trx, auditSourceOfUser(scope), {
          action: 'order.refunded',
          permission: 'orders.refund',
          target: { type: 'order', id },
          changes: {
            before: { status: 'paid' },
            after: { status: 'refunded' },
            reason,
            amountMinor: Number(order.total_minor),
            currency: order.currency,
            branchId: order.branch_id,
            restocked: Boolean(input.restock),
          },
        });
        return viewOf(trx, scope.tenantId, refunded);
      });
    },

    /** Open → voided (a mistaken or abandoned order), audited. */
    async voidOrder(scope: Scope, id: string, input: VoidOrderInput): Promise<Order> {
      return tenancy.withTenant(scope, async (trx) => {
        const order = await lockForChange(trx, scope, id);
        if (order.status !== 'open') throw notOpen(order, 'voided');
        const reason = input.reason.trim();
        const voided = await markVoided(trx, scope.tenantId, id, { userId: scope.userId, reason });
        if (!voided) throw notOpen(order, 'voided');
        await recordAudit(trx, auditSourceOfUser(scope), {
          action: 'order.voided',
          permission: 'orders.void',
          target: { type: 'order', id },
          changes: { before: { status: 'open' }, after: { status: 'voided' }, reason, amountMinor: Number(order.total_minor), branchId: order.branch_id },
        });
        return viewOf(trx, scope.tenantId, voided);
      });
    },

    async getOrder(scope: Scope, id: string): Promise<Order> {
      return tenancy.withTenant(scope, async (trx) => {
        const order = await findOrder(trx, scope.tenantId, id);
        if (!order) throw notFound('order');
        if (order.status !== 'open') assertCan(scope, 'orders.read', order.branch_id);
        return viewOf(trx, scope.tenantId, order);
      });
    },

    /** Newest first; only branches where the caller may read orders. */
    async listOrders(scope: Scope, query: ListOrdersInput): Promise<Page<Order>> {
      // Branches where every order may be read, and those (a cashier's) where only the open ones.
      const readable = visibleBranches(scope, 'orders.read_open', query.branchId);
      const branchIds = query.branchId ? (can(scope.grants, 'orders.read', query.branchId) ? [query.branchId] : []) : branchesWith(scope.grants, 'orders.read');
      const openOnlyBranchIds = branchIds === 'all' ? [] : readable === 'all' ? 'all' : readable.filter((b) => !branchIds.includes(b));
      if (branchIds !== 'all' && branchIds.length === 0 && openOnlyBranchIds.length === 0) return { data: [], nextCursor: null };
      if (query.from && query.to && new Date(query.from) > new Date(query.to)) {
        throw new AppError('validation_failed', 'The request does not match the expected shape.', {
          errors: [{ path: 'querystring.to', message: 'must not be before from' }],
        });
      }
      const limit = query.limit ?? 50;
      const after = decodeTimeCursor(query.cursor);
      return tenancy.withTenant(scope, async (trx) => {
        await requireBranch(trx, scope.tenantId, query.branchId);
        const rows = await listOrderRows(trx, scope.tenantId, { branchIds, openOnlyBranchIds, status: query.status, from: query.from, to: query.to, after, limit });
        const page = toPage(rows, limit, timeKeyOf, (r) => r);
        const ids = page.data.map((o) => o.id);
        const lines = await linesOf(trx, scope.tenantId, ids);
        const payments = await paymentsOf(trx, scope.tenantId, ids);
        return { data: page.data.map((o) => toOrder(o, lines.get(o.id) ?? [], payments.get(o.id))), nextCursor: page.nextCursor };
      });
    },
  };
}

export type OrdersService = ReturnType<typeof ordersService>;
