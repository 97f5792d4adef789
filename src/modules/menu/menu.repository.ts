import { sql, type ColumnType, type Generated, type Selectable } from 'kysely';
import { compiled, type Tx } from '../../platform/db/index.ts';
import { afterCursor, cursorAt, type PageKey } from '../../platform/http/pagination.ts';
import { parseMilli, milliToDecimal, milliToNumber } from '../inventory/index.ts';
import type { MenuItem } from './menu.schemas.ts';

export interface MenuItemsTable {
  tenant_id: string;
  id: Generated<string>;
  name: string;
  category: string | null;
  price_minor: number;
  archived_at: ColumnType<Date | null, Date | null | undefined, Date | null>;
  created_at: Generated<Date>;
  updated_at: ColumnType<Date, Date | undefined, Date>;
}

export interface MenuItemAvailabilityTable {
  tenant_id: string;
  menu_item_id: string;
  branch_id: string;
  available: boolean;
}

export interface RecipeLinesTable {
  tenant_id: string;
  menu_item_id: string;
  inventory_item_id: string;
  quantity: string;
}

declare module '../../platform/db/schema.ts' {
  interface Database {
    menu_items: MenuItemsTable;
    menu_item_availability: MenuItemAvailabilityTable;
    recipe_lines: RecipeLinesTable;
  }
}

export type MenuItemRow = Selectable<MenuItemsTable>;
export interface RecipeLineMilli {
  inventoryItemId: string;
  quantityMilli: number;
}

export function toMenuItem(
  row: MenuItemRow,
  currency: string,
  recipe: RecipeLineMilli[],
  availability: { branchId: string; available: boolean }[],
): MenuItem {
  return {
    id: row.id,
    name: row.name,
    category: row.category,
    priceMinor: row.price_minor,
    currency,
    recipe: recipe.map((r) => ({ inventoryItemId: r.inventoryItemId, quantity: milliToNumber(r.quantityMilli) })),
    availability,
    archivedAt: row.archived_at?.toISOString() ?? null,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
  };
}

export function findMenuItem(trx: Tx, tenantId: string, id: string, opts: { lock?: boolean } = {}) {
  let q = trx.selectFrom('menu_items').selectAll().where('tenant_id', '=', tenantId).where('id', '=', id);
  if (opts.lock) q = q.forUpdate();
  return q.executeTakeFirst();
}

export function listMenuItemRows(
  trx: Tx,
  tenantId: string,
  opts: { category?: string; availableIn?: string; includeArchived: boolean; after: PageKey | null; limit: number },
) {
  let q = trx
    .selectFrom('menu_items as m')
    .selectAll('m')
    .select(cursorAt('m.created_at').as('cursor_at'))
    .where('m.tenant_id', '=', tenantId)
    .orderBy('m.created_at')
    .orderBy('m.id')
    .limit(opts.limit + 1);
  if (!opts.includeArchived) q = q.where('m.archived_at', 'is', null);
  if (opts.category !== undefined) q = q.where('m.category', '=', opts.category);
  if (opts.availableIn !== undefined) {
    const branchId = opts.availableIn;
    q = q.where((eb) =>
      eb.not(
        eb.exists(
          eb
            .selectFrom('menu_item_availability as a')
            .select('a.menu_item_id')
            .whereRef('a.tenant_id', '=', 'm.tenant_id')
            .whereRef('a.menu_item_id', '=', 'm.id')
            .where('a.branch_id', '=', branchId)
            .where('a.available', '=', false),
        ),
      ),
    );
  }
  if (opts.after) q = q.where(afterCursor('m.created_at', 'm.id', opts.after, 'asc'));
  return q.execute();
}

type RecipeRow = { menu_item_id: string; inventory_item_id: string; quantity: string };

const recipeLinesOfItems = compiled((db, a: { tenantId: string; ids: string[] }) => sql<RecipeRow>`
  SELECT menu_item_id, inventory_item_id, quantity FROM recipe_lines
   WHERE tenant_id = ${a.tenantId} AND menu_item_id = ANY(${a.ids}::uuid[])
   ORDER BY menu_item_id, inventory_item_id`);
/**
 * The items an order's lines name, read from the orders module's `order_lines` in the same
 * statement: paying an order needs no round trip of its own to learn the ids, and the statement
 * is compiled once (a subquery handed in by the caller would be built on every sale).
 */
const recipeLinesOfOrder = compiled((db, a: { tenantId: string; orderId: string }) => sql<RecipeRow>`
  SELECT menu_item_id, inventory_item_id, quantity FROM recipe_lines
   WHERE tenant_id = ${a.tenantId}
     AND menu_item_id IN (SELECT menu_item_id FROM order_lines WHERE tenant_id = ${a.tenantId} AND order_id = ${a.orderId})
   ORDER BY menu_item_id, inventory_item_id`);

/** The recipes of the menu items, by id or as the lines of an order name them. */
export async function recipesOf(trx: Tx, tenantId: string, items: string[] | { orderId: string }): Promise<Map<string, RecipeLineMilli[]>> {
  const out = new Map<string, RecipeLineMilli[]>();
  if (Array.isArray(items) && items.length === 0) return out;
  const rows = Array.isArray(items) ? await recipeLinesOfItems(trx, { tenantId, ids: items }) : await recipeLinesOfOrder(trx, { tenantId, orderId: items.orderId });
  for (const r of rows) {
    const list = out.get(r.menu_item_id) ?? [];
    list.push({ inventoryItemId: r.inventory_item_id, quantityMilli: parseMilli(r.quantity) });
    out.set(r.menu_item_id, list);
  }
  return out;
}

export async function availabilityOf(trx: Tx, tenantId: string, menuItemIds: string[]): Promise<Map<string, { branchId: string; available: boolean }[]>> {
  const out = new Map<string, { branchId: string; available: boolean }[]>();
  if (menuItemIds.length === 0) return out;
  const rows = await trx
    .selectFrom('menu_item_availability')
    .select(['menu_item_id', 'branch_id', 'available'])
    .where('tenant_id', '=', tenantId)
    .where('menu_item_id', 'in', menuItemIds)
    .orderBy('branch_id')
    .execute();
  for (const r of rows) {
    const list = out.get(r.menu_item_id) ?? [];
    list.push({ branchId: r.branch_id, available: r.available });
    out.set(r.menu_item_id, list);
  }
  return out;
}

export function insertMenuItem(trx: Tx, tenantId: string, values: { name: string; category: string | null; price_minor: number }) {
  return trx.insertInto('menu_items').values({ tenant_id: tenantId, ...values }).returningAll().executeTakeFirstOrThrow();
}

export function updateMenuItemRow(trx: Tx, tenantId: string, id: string, values: Partial<{ name: string; category: string | null; price_minor: number; archived_at: Date }>) {
  return trx
    .updateTable('menu_items')
    .set({ ...values, updated_at: new Date() })
    .where('tenant_id', '=', tenantId)
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirstOrThrow();
}

export async function replaceRecipe(trx: Tx, tenantId: string, menuItemId: string, recipe: RecipeLineMilli[]): Promise<void> {
  await trx.deleteFrom('recipe_lines').where('tenant_id', '=', tenantId).where('menu_item_id', '=', menuItemId).execute();
  if (recipe.length === 0) return;
  await trx
    .insertInto('recipe_lines')
    .values(recipe.map((r) => ({ tenant_id: tenantId, menu_item_id: menuItemId, inventory_item_id: r.inventoryItemId, quantity: milliToDecimal(r.quantityMilli) })))
    .execute();
}

export async function setAvailability(trx: Tx, tenantId: string, menuItemId: string, entries: { branchId: string; available: boolean }[]): Promise<void> {
  if (entries.length === 0) return;
  await trx
    .insertInto('menu_item_availability')
    .values(entries.map((e) => ({ tenant_id: tenantId, menu_item_id: menuItemId, branch_id: e.branchId, available: e.available })))
    .onConflict((oc) => oc.columns(['tenant_id', 'menu_item_id', 'branch_id']).doUpdateSet((eb) => ({ available: eb.ref('excluded.available') })))
    .execute();
}

export interface PricedItem {
  id: string;
  name: string;
  price_minor: number;
  archived_at: Date | null;
  available: boolean;
}

/** The items an order names, with their current price and whether the branch may sell them. */
const pricedItems = compiled((db, a: { tenantId: string; branchId: string; ids: string[] }) => sql<PricedItem>`
  SELECT m.id, m.name, m.price_minor, m.archived_at, coalesce(a.available, true) AS available
    FROM menu_items m
    LEFT JOIN menu_item_availability a
      ON a.tenant_id = m.tenant_id AND a.menu_item_id = m.id AND a.branch_id = ${a.branchId}
   WHERE m.tenant_id = ${a.tenantId} AND m.id = ANY(${a.ids}::uuid[])`);

export function itemsForSale(trx: Tx, tenantId: string, branchId: string, ids: string[]): Promise<PricedItem[]> {
  return pricedItems(trx, { tenantId, branchId, ids });
}
