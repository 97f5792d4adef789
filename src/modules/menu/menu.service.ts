import type { Platform } from '../../platform/deps.ts';
import type { Tx } from '../../platform/db/index.ts';
import type { Scope } from '../../platform/auth/index.ts';
import { AppError, notFound } from '../../platform/errors/index.ts';
import { decodeTimeCursor, toPage, timeKeyOf, type Page } from '../../platform/http/pagination.ts';
import { assertCan } from '../access/index.ts';
import { recordAudit, auditSourceOfUser } from '../audit/index.ts';
import { existingBranchIds, requireBranch } from '../branches/index.ts';
import { existingInventoryItemIds, toMilli } from '../inventory/index.ts';
import {
  findMenuItem, listMenuItemRows, recipesOf, availabilityOf, insertMenuItem, updateMenuItemRow, replaceRecipe, setAvailability,
  toMenuItem, type MenuItemRow, type RecipeLineMilli,
} from './menu.repository.ts';
import type { MenuItem, CreateMenuItemInput, UpdateMenuItemInput, ListMenuItemsInput } from './menu.schemas.ts';

const invalid = (path: string, message: string) =>
  new AppError('validation_failed', 'The request does not match the expected shape.', { errors: [{ path, message }] });
const isUniqueViolation = (err: unknown) => (err as { code?: string }).code === '23505';
const nameTaken = (name: string) => new AppError('already_exists', `A menu item named "${name}" already exists.`, { field: 'name' });

type RecipeInput = NonNullable<CreateMenuItemInput['recipe']>;
type AvailabilityInput = NonNullable<CreateMenuItemInput['availability']>;

function recipeInMilli(recipe: RecipeInput): RecipeLineMilli[] {
  const seen = new Set<string>();
  return recipe.map((line, i) => {
    if (seen.has(line.inventoryItemId)) throw invalid(`recipe.${i}.inventoryItemId`, 'appears twice in the recipe');
    seen.add(line.inventoryItemId);
    return { inventoryItemId: line.inventoryItemId, quantityMilli: toMilli(line.quantity, `recipe.${i}.quantity`) };
  });
}

function distinctBranches(availability: AvailabilityInput): void {
  const seen = new Set<string>();
  availability.forEach((a, i) => {
    if (seen.has(a.branchId)) throw invalid(`availability.${i}.branchId`, 'appears twice');
    seen.add(a.branchId);
  });
}

/** Ids another tenant owns are as unknown as ids nobody owns: 404 either way. */
async function assertReferencesExist(trx: Tx, tenantId: string, recipe: RecipeLineMilli[] | undefined, availability: AvailabilityInput | undefined) {
  if (recipe?.length) {
    const ids = recipe.map((r) => r.inventoryItemId);
    const found = await existingInventoryItemIds(trx, tenantId, ids);
    const missing = ids.find((id) => !found.has(id));
    if (missing) throw new AppError('not_found', `No inventory item ${missing}.`, { inventoryItemId: missing });
  }
  if (availability?.length) {
    const ids = availability.map((a) => a.branchId);
    const found = await existingBranchIds(trx, tenantId, ids);
    const missing = ids.find((id) => !found.has(id));
    if (missing) throw new AppError('not_found', `No branch ${missing}.`, { branchId: missing });
  }
}

export function menuService(platform: Platform) {
  const { tenancy } = platform;

  async function view(trx: Tx, scope: Scope, rows: MenuItemRow[]): Promise<MenuItem[]> {
    const ids = rows.map((r) => r.id);
    const recipes = await recipesOf(trx, scope.tenantId, ids);
    const availability = await availabilityOf(trx, scope.tenantId, ids);
    return rows.map((r) => toMenuItem(r, scope.tenant.currency, recipes.get(r.id) ?? [], availability.get(r.id) ?? []));
  }

  return {
    async listMenuItems(scope: Scope, query: ListMenuItemsInput): Promise<Page<MenuItem>> {
      if (query.branchId) assertCan(scope, 'menu.read', query.branchId);
      const limit = query.limit ?? 50;
      const after = decodeTimeCursor(query.cursor);
      return tenancy.withTenant(scope, async (trx) => {
        await requireBranch(trx, scope.tenantId, query.branchId);
        const rows = await listMenuItemRows(trx, scope.tenantId, {
          category: query.category,
          availableIn: query.branchId,
          includeArchived: query.includeArchived ?? false,
          after,
          limit,
        });
        const page = toPage(rows, limit, timeKeyOf, (r) => r);
        return { data: await view(trx, scope, page.data), nextCursor: page.nextCursor };
      });
    },

    async getMenuItem(scope: Scope, id: string): Promise<MenuItem> {
      return tenancy.withTenant(scope, async (trx) => {
        const row = await findMenuItem(trx, scope.tenantId, id);
        if (!row) throw notFound('menu item');
        return (await view(trx, scope, [row]))[0]!;
      });
    },

    async createMenuItem(scope: Scope, input: CreateMenuItemInput): Promise<MenuItem> {
      const recipe = recipeInMilli(input.recipe ?? []);
      if (input.availability) distinctBranches(input.availability);
      const values = { name: input.name.trim(), category: input.category?.trim() ?? null, price_minor: input.priceMinor };
      try {
        return await tenancy.withTenant(scope, async (trx) => {
          await assertReferencesExist(trx, scope.tenantId, recipe, input.availability);
          const row = await insertMenuItem(trx, scope.tenantId, values);
          await replaceRecipe(trx, scope.tenantId, row.id, recipe);
          await setAvailability(trx, scope.tenantId, row.id, input.availability ?? []);
          const item = (await view(trx, scope, [row]))[0]!;
          await recordAudit(trx, auditSourceOfUser(scope), {
            action: 'menu_item.created',
            permission: 'menu.manage',
            target: { type: 'menu_item', id: item.id },
            changes: { after: { name: item.name, category: item.category, priceMinor: item.priceMinor, recipe: item.recipe, availability: item.availability } },
          });
          return item;
        });
      } catch (err) {
        if (isUniqueViolation(err)) throw nameTaken(values.name);
        throw err;
      }
    },

    /**
     * What a menu item is (name, category, price, recipe) is the same in every branch, so
     * changing it takes menu.manage for the whole business; a branch manager may switch the
     * item on or off in their own branch. A price change is audited on its own.
     */
    async updateMenuItem(scope: Scope, id: string, input: UpdateMenuItemInput): Promise<MenuItem> {
      const changesItem = input.name !== undefined || input.category !== undefined || input.priceMinor !== undefined || input.recipe !== undefined;
      if (changesItem) assertCan(scope, 'menu.manage', null);
      for (const a of input.availability ?? []) assertCan(scope, 'menu.manage', a.branchId);
      const recipe = input.recipe ? recipeInMilli(input.recipe) : undefined;
      if (input.availability) distinctBranches(input.availability);
      const patch: { name?: string; category?: string | null; price_minor?: number } = {};
      if (input.name !== undefined) patch.name = input.name.trim();
      if (input.category !== undefined) patch.category = input.category?.trim() ?? null;
      if (input.priceMinor !== undefined) patch.price_minor = input.priceMinor;
      try {
        return await tenancy.withTenant(scope, async (trx) => {
          const beforeRow = await findMenuItem(trx, scope.tenantId, id, { lock: true });
          if (!beforeRow) throw notFound('menu item');
          await assertReferencesExist(trx, scope.tenantId, recipe, input.availability);
          const before = (await view(trx, scope, [beforeRow]))[0]!;
          const row = await updateMenuItemRow(trx, scope.tenantId, id, patch);
          if (recipe) await replaceRecipe(trx, scope.tenantId, id, recipe);
          if (input.availability) await setAvailability(trx, scope.tenantId, id, input.availability);
          const after = (await view(trx, scope, [row]))[0]!;
          const source = auditSourceOfUser(scope);
          const target = { type: 'menu_item', id };
          if (before.priceMinor !== after.priceMinor) {
            await recordAudit(trx, source, {
              action: 'menu_item.price_changed',
              permission: 'menu.manage',
              target,
              changes: { before: { priceMinor: before.priceMinor }, after: { priceMinor: after.priceMinor }, currency: after.currency },
            });
          }
          const keys = (['name', 'category', 'recipe', 'availability'] as const).filter((k) => input[k] !== undefined);
          if (keys.length > 0) {
            await recordAudit(trx, source, {
              action: 'menu_item.updated',
              permission: 'menu.manage',
              target,
              changes: { before: Object.fromEntries(keys.map((k) => [k, before[k]])), after: Object.fromEntries(keys.map((k) => [k, after[k]])) },
            });
          }
          return after;
        });
      } catch (err) {
        if (isUniqueViolation(err) && patch.name) throw nameTaken(patch.name);
        throw err;
      }
    },

    /** Takes an item off the menu for good; past orders keep their lines. */
    async archiveMenuItem(scope: Scope, id: string): Promise<MenuItem> {
      return tenancy.withTenant(scope, async (trx) => {
        const before = await findMenuItem(trx, scope.tenantId, id, { lock: true });
        if (!before) throw notFound('menu item');
        const row = before.archived_at ? before : await updateMenuItemRow(trx, scope.tenantId, id, { archived_at: new Date() });
        if (!before.archived_at) {
          await recordAudit(trx, auditSourceOfUser(scope), {
            action: 'menu_item.archived',
            permission: 'menu.manage',
            target: { type: 'menu_item', id },
            changes: { before: { archivedAt: null }, after: { archivedAt: row.archived_at?.toISOString() } },
          });
        }
        return (await view(trx, scope, [row]))[0]!;
      });
    },
  };
}

export type MenuService = ReturnType<typeof menuService>;
