import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createTestContext, aTenant, aMember, aBranch, problem, type TestContext } from '../../../test/harness.ts';
import { as, anInventoryItem, aMenuItem, expectStatus, sqlAsOwner } from '../../../test/hospitality.fixtures.ts';

let t: TestContext;
before(async () => {
  t = await createTestContext();
});
after(() => t.close());

test('a menu item is created with its category, price, recipe and per-branch availability', async () => {
  const owner = await aTenant(t.app);
  const quay = await aBranch(t, owner.tenant.id, 'Quay');
  const town = await aBranch(t, owner.tenant.id, 'Town');
  const cod = await anInventoryItem(t, owner, { name: 'Cod', unit: 'kg' });
  const potatoes = await anInventoryItem(t, owner, { name: 'Potatoes', unit: 'kg' });
  const res = await as(t, owner).post('/v1/menu-items', {
    name: 'Fish and chips',
    category: 'Mains',
    priceMinor: 1450,
    recipe: [
      { inventoryItemId: cod.id, quantity: 0.18 },
      { inventoryItemId: potatoes.id, quantity: 0.25 },
    ],
    availability: [{ branchId: town, available: false }],
  });
  assert.equal(res.statusCode, 201);
  const item = res.json().menuItem;
  assert.equal(item.name, 'Fish and chips');
  assert.equal(item.category, 'Mains');
  assert.equal(item.priceMinor, 1450);
  assert.equal(item.currency, 'EUR');
  assert.deepEqual(new Set(item.recipe.map((r: { inventoryItemId: string; quantity: number }) => `${r.inventoryItemId}:${r.quantity}`)), new Set([`${cod.id}:0.18`, `${potatoes.id}:0.25`]));
  assert.deepEqual(item.availability, [{ branchId: town, available: false }]);
  assert.deepEqual(expectStatus(await as(t, owner).get(`/v1/menu-items/${item.id}`), 200).json().menuItem, item);

  const inQuay = expectStatus(await as(t, owner).get(`/v1/menu-items?branchId=${quay}`), 200).json();
  assert.deepEqual(inQuay.data.map((m: { id: string }) => m.id), [item.id]);
  const inTown = expectStatus(await as(t, owner).get(`/v1/menu-items?branchId=${town}`), 200).json();
  assert.deepEqual(inTown.data, []);
  const drinks = expectStatus(await as(t, owner).get('/v1/menu-items?category=Drinks'), 200).json();
  assert.deepEqual(drinks.data, []);
});

test('a price change is audited with the permission, the old and the new price', async () => {
  const owner = await aTenant(t.app);
  const soup = await aMenuItem(t, owner, { name: 'Soup', priceMinor: 600 });
  expectStatus(await as(t, owner).patch(`/v1/menu-items/${soup.id}`, { category: 'Starters' }), 200);
  const res = await as(t, owner).patch(`/v1/menu-items/${soup.id}`, { priceMinor: 650 });
  assert.equal(res.statusCode, 200);
  assert.equal(res.json().menuItem.priceMinor, 650);
  const audit = await sqlAsOwner<{ action: string; permission: string; changes: Record<string, unknown>; actor_id: string }>(
    t,
    `SELECT action, permission, changes, actor_id FROM audit_events WHERE tenant_id = $1 AND target_id = $2 ORDER BY seq`,
    [owner.tenant.id, soup.id],
  );
  assert.deepEqual(audit.map((a) => a.action), ['menu_item.created', 'menu_item.updated', 'menu_item.price_changed']);
  const price = audit[2]!;
  assert.equal(price.permission, 'menu.manage');
  assert.equal(price.actor_id, owner.user.id);
  assert.deepEqual(price.changes, { before: { priceMinor: 600 }, after: { priceMinor: 650 }, currency: 'EUR' });
});

test('a recipe must name inventory items of this business, each once, with at most three decimals', async () => {
  const owner = await aTenant(t.app);
  const stranger = await aTenant(t.app);
  const theirs = await anInventoryItem(t, stranger);
  const ours = await anInventoryItem(t, owner);
  const foreign = await as(t, owner).post('/v1/menu-items', { name: 'Stolen', priceMinor: 100, recipe: [{ inventoryItemId: theirs.id, quantity: 1 }] });
  assert.equal(foreign.statusCode, 404);
  assert.equal(problem(foreign).code, 'not_found');
  const twice = await as(t, owner).post('/v1/menu-items', {
    name: 'Twice',
    priceMinor: 100,
    recipe: [
      { inventoryItemId: ours.id, quantity: 1 },
      { inventoryItemId: ours.id, quantity: 2 },
    ],
  });
  assert.equal(twice.statusCode, 400);
  assert.deepEqual(problem(twice).errors, [{ path: 'recipe.1.inventoryItemId', message: 'appears twice in the recipe' }]);
  const fine = await as(t, owner).post('/v1/menu-items', { name: 'Fine', priceMinor: 100, recipe: [{ inventoryItemId: ours.id, quantity: 0.0001 }] });
  assert.equal(fine.statusCode, 400);
  const list = expectStatus(await as(t, owner).get('/v1/menu-items'), 200).json();
  assert.deepEqual(list.data, []);
});

test('a branch manager switches items on and off in their branch but cannot change what is shared', async () => {
  const owner = await aTenant(t.app);
  const mine = await aBranch(t, owner.tenant.id, 'Mine');
  const other = await aBranch(t, owner.tenant.id, 'Other');
  const manager = await aMember(t, owner, 'branch_manager', mine);
  const cake = await aMenuItem(t, owner, { name: 'Cake', priceMinor: 400 });
  const off = await as(t, manager).patch(`/v1/menu-items/${cake.id}`, { availability: [{ branchId: mine, available: false }] });
  assert.equal(off.statusCode, 200);
  assert.deepEqual(off.json().menuItem.availability, [{ branchId: mine, available: false }]);
  const price = await as(t, manager).patch(`/v1/menu-items/${cake.id}`, { priceMinor: 1 });
  assert.equal(price.statusCode, 403);
  assert.equal(problem(price).requiredPermission, 'menu.manage');
  assert.deepEqual(problem(price).scope, { tenant: true });
  const elsewhere = await as(t, manager).patch(`/v1/menu-items/${cake.id}`, { availability: [{ branchId: other, available: false }] });
  assert.equal(elsewhere.statusCode, 403);
  assert.deepEqual(problem(elsewhere).scope, { branchId: other });
  const create = await as(t, manager).post('/v1/menu-items', { name: 'Pie', priceMinor: 500 });
  assert.equal(create.statusCode, 403);
  assert.equal(expectStatus(await as(t, owner).get(`/v1/menu-items/${cake.id}`), 200).json().menuItem.priceMinor, 400);

  const cashier = await aMember(t, owner, 'cashier', mine);
  expectStatus(await as(t, cashier).get('/v1/menu-items'), 200);
  const byCashier = await as(t, cashier).patch(`/v1/menu-items/${cake.id}`, { availability: [{ branchId: mine, available: true }] });
  assert.equal(byCashier.statusCode, 403);
});

test('an archived item leaves the menu but stays readable', async () => {
  const owner = await aTenant(t.app);
  const item = await aMenuItem(t, owner, { name: 'Seasonal' });
  const res = expectStatus(await as(t, owner).delete(`/v1/menu-items/${item.id}`), 200).json().menuItem;
  assert.ok(res.archivedAt);
  assert.deepEqual(expectStatus(await as(t, owner).get('/v1/menu-items'), 200).json().data, []);
  const all = expectStatus(await as(t, owner).get('/v1/menu-items?includeArchived=true'), 200).json();
  assert.equal(all.data.length, 1);
  // The name is free again for a new item.
  await aMenuItem(t, owner, { name: 'Seasonal' });
});

test("another business's menu items are not found", async () => {
  const a = await aTenant(t.app);
  const b = await aTenant(t.app);
  const item = await aMenuItem(t, a, { priceMinor: 900 });
  for (const res of [
    await as(t, b).get(`/v1/menu-items/${item.id}`),
    await as(t, b).patch(`/v1/menu-items/${item.id}`, { priceMinor: 1 }),
    await as(t, b).delete(`/v1/menu-items/${item.id}`),
  ]) {
    assert.equal(res.statusCode, 404);
    assert.equal(problem(res).code, 'not_found');
  }
  const branchA = await aBranch(t, a.tenant.id);
  const own = await aMenuItem(t, b);
  const foreignBranch = await as(t, b).patch(`/v1/menu-items/${own.id}`, { availability: [{ branchId: branchA, available: false }] });
  assert.equal(foreignBranch.statusCode, 404);
  assert.equal(expectStatus(await as(t, a).get(`/v1/menu-items/${item.id}`), 200).json().menuItem.priceMinor, 900);
});
