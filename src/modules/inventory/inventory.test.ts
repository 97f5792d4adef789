import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createTestContext, aTenant, aMember, aBranch, problem, type TestContext, type Session } from '../../../test/harness.ts';
import { as, anInventoryItem, deliver, expectStatus, sqlAsOwner } from '../../../test/hospitality.fixtures.ts';

let t: TestContext;
before(async () => {
  t = await createTestContext();
});
after(() => t.close());

const adjust = (who: Session, itemId: string, body: Record<string, unknown>) => as(t, who).post(`/v1/inventory-items/${itemId}/adjustments`, body);

async function ledgerMismatches(tenantId: string) {
  return sqlAsOwner(
    t,
    `SELECT s.inventory_item_id, s.branch_id, s.on_hand, coalesce(sum(m.quantity_delta), 0) AS moved
       FROM stock_levels s
       LEFT JOIN stock_movements m ON m.tenant_id = s.tenant_id AND m.inventory_item_id = s.inventory_item_id AND m.branch_id = s.branch_id
      WHERE s.tenant_id = $1
      GROUP BY s.inventory_item_id, s.branch_id, s.on_hand
     HAVING s.on_hand <> coalesce(sum(m.quantity_delta), 0)`,
    [tenantId],
  );
}

test('an inventory item is created with its unit and reorder level, and listed', async () => {
  const owner = await aTenant(t.app);
  const res = await as(t, owner).post('/v1/inventory-items', { name: 'Flour', unit: 'kg', reorderLevel: 12.5 });
  assert.equal(res.statusCode, 201);
  const item = res.json().inventoryItem;
  assert.deepEqual({ name: item.name, unit: item.unit, reorderLevel: item.reorderLevel, archivedAt: item.archivedAt }, { name: 'Flour', unit: 'kg', reorderLevel: 12.5, archivedAt: null });
  const list = expectStatus(await as(t, owner).get('/v1/inventory-items'), 200).json();
  assert.deepEqual(list.data.map((i: { id: string }) => i.id), [item.id]);
  assert.equal(list.nextCursor, null);
  const dup = await as(t, owner).post('/v1/inventory-items', { name: 'flour', unit: 'kg', reorderLevel: 1 });
  assert.equal(dup.statusCode, 409);
  assert.equal(problem(dup).code, 'already_exists');
  const patched = expectStatus(await as(t, owner).patch(`/v1/inventory-items/${item.id}`, { reorderLevel: 20 }), 200).json().inventoryItem;
  assert.equal(patched.reorderLevel, 20);
  const audit = await sqlAsOwner<{ action: string; changes: unknown }>(
    t,
    `SELECT action, changes FROM audit_events WHERE tenant_id = $1 AND target_id = $2 ORDER BY seq`,
    [owner.tenant.id, item.id],
  );
  assert.deepEqual(audit.map((a) => a.action), ['inventory_item.created', 'inventory_item.updated']);
  assert.deepEqual(audit[1]!.changes, { before: { reorderLevel: 12.5 }, after: { reorderLevel: 20 } });
});

test('an adjustment answers with the movement and the new on-hand, and is audited', async () => {
  const owner = await aTenant(t.app);
  const branchId = await aBranch(t, owner.tenant.id);
  const flour = await anInventoryItem(t, owner, { name: 'Flour', unit: 'kg' });
  const res = await adjust(owner, flour.id, { branchId, quantityDelta: 25.125, reason: 'Tuesday delivery', kind: 'delivery' });
  assert.equal(res.statusCode, 201);
  const body = res.json();
  assert.equal(body.onHand, 25.125);
  assert.equal(body.movement.kind, 'delivery');
  assert.equal(body.movement.quantityDelta, 25.125);
  assert.equal(body.movement.onHandAfter, 25.125);
  assert.equal(body.movement.branchId, branchId);
  assert.equal(body.movement.createdBy, owner.user.id);
  const plain = expectStatus(await adjust(owner, flour.id, { branchId, quantityDelta: -0.125, reason: 'recount' }), 201).json();
  assert.equal(plain.movement.kind, 'adjustment');
  assert.equal(plain.onHand, 25);
  const stock = expectStatus(await as(t, owner).get(`/v1/inventory-items/${flour.id}/stock`), 200).json();
  assert.deepEqual(stock, { data: [{ branchId, onHand: 25, belowReorderLevel: false }] });
  const audit = await sqlAsOwner<{ permission: string; changes: Record<string, unknown> }>(
    t,
    `SELECT permission, changes FROM audit_events WHERE tenant_id = $1 AND action = 'stock.adjusted' ORDER BY seq`,
    [owner.tenant.id],
  );
  assert.equal(audit.length, 2);
  assert.equal(audit[1]!.permission, 'inventory.adjust');
  assert.deepEqual(audit[1]!.changes, { branchId, kind: 'adjustment', reason: 'recount', before: { onHand: 25.125 }, after: { onHand: 25 } });
});

test('an adjustment never takes stock below zero: 409 with the reason, and nothing changes', async () => {
  const owner = await aTenant(t.app);
  const branchId = await aBranch(t, owner.tenant.id);
  const milk = await anInventoryItem(t, owner, { name: 'Milk', unit: 'l' });
  await deliver(t, owner, milk.id, branchId, 2);
  const res = await adjust(owner, milk.id, { branchId, quantityDelta: -2.5, reason: 'spilt', kind: 'waste' });
  assert.equal(res.statusCode, 409);
  const p = problem(res);
  assert.equal(p.code, 'insufficient_stock');
  assert.equal(p.detail, 'This would take stock below zero: Milk (2 l on hand, 2.5 l needed).');
  const movements = expectStatus(await as(t, owner).get(`/v1/inventory-items/${milk.id}/movements`), 200).json();
  assert.equal(movements.data.length, 1);
  assert.equal(expectStatus(await as(t, owner).get(`/v1/inventory-items/${milk.id}/stock`), 200).json().data[0].onHand, 2);
  expectStatus(await adjust(owner, milk.id, { branchId, quantityDelta: -2, reason: 'spilt', kind: 'waste' }), 201);
});

test('deliveries add, waste removes, a stocktake sets the count; contradictions are 400', async () => {
  const owner = await aTenant(t.app);
  const branchId = await aBranch(t, owner.tenant.id);
  const eggs = await anInventoryItem(t, owner, { name: 'Eggs', unit: 'piece' });
  for (const body of [
    { quantityDelta: -3, kind: 'delivery' },
    { quantityDelta: 3, kind: 'waste' },
    { quantityDelta: 0 },
    { kind: 'adjustment' },
    { countedOnHand: 4, kind: 'adjustment' },
    { countedOnHand: 4, quantityDelta: 1, kind: 'count' },
    { quantityDelta: 1.0005 },
  ]) {
    const res = await adjust(owner, eggs.id, { branchId, reason: 'test', ...body });
    assert.equal(res.statusCode, 400, JSON.stringify(body));
    assert.equal(problem(res).code, 'validation_failed');
  }
  await deliver(t, owner, eggs.id, branchId, 30);
  const counted = expectStatus(await adjust(owner, eggs.id, { branchId, reason: 'weekly count', kind: 'count', countedOnHand: 27 }), 201).json();
  assert.equal(counted.onHand, 27);
  assert.equal(counted.movement.quantityDelta, -3);
  assert.equal(counted.movement.kind, 'count');
  const ledger = expectStatus(await as(t, owner).get(`/v1/inventory-items/${eggs.id}/movements`), 200).json();
  assert.deepEqual(ledger.data.map((m: { kind: string; quantityDelta: number }) => [m.kind, m.quantityDelta]), [
    ['count', -3],
    ['delivery', 30],
  ]);
});

test('on-hand always equals the sum of the ledger, also under concurrent adjustments', async () => {
  const owner = await aTenant(t.app);
  const branches = [await aBranch(t, owner.tenant.id, 'A'), await aBranch(t, owner.tenant.id, 'B')];
  const items = [await anInventoryItem(t, owner, { reorderLevel: 3 }), await anInventoryItem(t, owner, { reorderLevel: 1.5 })];
  for (const b of branches) for (const i of items) await deliver(t, owner, i.id, b, 10);
  let seed = 7;
  const next = () => (seed = (seed * 48271) % 2147483647);
  const requests = Array.from({ length: 40 }, () => {
    const item = items[next() % 2]!;
    const branchId = branches[next() % 2]!;
    const delta = ((next() % 4001) - 2000) / 1000 || 0.5;
    return adjust(owner, item.id, { branchId, quantityDelta: delta, reason: 'shuffle' });
  });
  const results = await Promise.all(requests);
  assert.ok(results.every((r) => r.statusCode === 201 || (r.statusCode === 409 && problem(r).code === 'insufficient_stock')));
  assert.deepEqual(await ledgerMismatches(owner.tenant.id), []);
  const negative = await sqlAsOwner(t, `SELECT 1 FROM stock_levels WHERE tenant_id = $1 AND on_hand < 0`, [owner.tenant.id]);
  assert.equal(negative.length, 0);
});

test('an adjustment below the reorder level alerts once per crossing', async () => {
  const owner = await aTenant(t.app);
  const branchId = await aBranch(t, owner.tenant.id);
  const oil = await anInventoryItem(t, owner, { name: 'Oil', unit: 'l', reorderLevel: 5 });
  await deliver(t, owner, oil.id, branchId, 6);
  expectStatus(await adjust(owner, oil.id, { branchId, quantityDelta: -2, reason: 'used' }), 201);
  expectStatus(await adjust(owner, oil.id, { branchId, quantityDelta: -1, reason: 'used' }), 201);
  const stock = expectStatus(await as(t, owner).get(`/v1/inventory-items/${oil.id}/stock`), 200).json();
  assert.equal(stock.data[0].belowReorderLevel, true);
  const jobs = await sqlAsOwner<{ payload: Record<string, unknown> }>(t, `SELECT payload FROM outbox WHERE tenant_id = $1 AND type = 'mail.low_stock'`, [owner.tenant.id]);
  assert.deepEqual(jobs.map((j) => j.payload), [{ branchId, inventoryItemId: oil.id, onHand: 4, reorderLevel: 5, tenantId: owner.tenant.id }]);
});

test('a branch manager adjusts stock in their branch only; a cashier not at all; items are created business-wide', async () => {
  const owner = await aTenant(t.app);
  const mine = await aBranch(t, owner.tenant.id, 'Mine');
  const other = await aBranch(t, owner.tenant.id, 'Other');
  const sugar = await anInventoryItem(t, owner, { name: 'Sugar' });
  const manager = await aMember(t, owner, 'branch_manager', mine);
  const cashier = await aMember(t, owner, 'cashier', mine);
  expectStatus(await adjust(manager, sugar.id, { branchId: mine, quantityDelta: 3, reason: 'delivery', kind: 'delivery' }), 201);
  const elsewhere = await adjust(manager, sugar.id, { branchId: other, quantityDelta: 3, reason: 'delivery' });
  assert.equal(elsewhere.statusCode, 403);
  assert.deepEqual(problem(elsewhere).scope, { branchId: other });
  assert.equal(problem(elsewhere).requiredPermission, 'inventory.adjust');
  const byCashier = await adjust(cashier, sugar.id, { branchId: mine, quantityDelta: 3, reason: 'delivery' });
  assert.equal(byCashier.statusCode, 403);
  const create = await as(t, manager).post('/v1/inventory-items', { name: 'Salt', unit: 'kg', reorderLevel: 1 });
  assert.equal(create.statusCode, 403);
  assert.deepEqual(problem(create).scope, { tenant: true });
  // The manager sees stock of their branch only.
  const stock = expectStatus(await as(t, manager).get(`/v1/inventory-items/${sugar.id}/stock`), 200).json();
  assert.deepEqual(stock.data, [{ branchId: mine, onHand: 3, belowReorderLevel: false }]);
  const owners = expectStatus(await as(t, owner).get(`/v1/inventory-items/${sugar.id}/stock`), 200).json();
  assert.equal(owners.data.length, 2);
});

test("another business's inventory items are not found, and its branches cannot be stocked", async () => {
  const a = await aTenant(t.app);
  const b = await aTenant(t.app);
  const branchA = await aBranch(t, a.tenant.id);
  const branchB = await aBranch(t, b.tenant.id);
  const item = await anInventoryItem(t, a);
  for (const res of [
    await as(t, b).get(`/v1/inventory-items/${item.id}`),
    await as(t, b).get(`/v1/inventory-items/${item.id}/stock`),
    await as(t, b).get(`/v1/inventory-items/${item.id}/movements`),
    await as(t, b).patch(`/v1/inventory-items/${item.id}`, { name: 'Mine now' }),
    await adjust(b, item.id, { branchId: branchB, quantityDelta: 1, reason: 'x' }),
  ]) {
    assert.equal(res.statusCode, 404, res.body);
    assert.equal(problem(res).code, 'not_found');
  }
  const own = await anInventoryItem(t, b);
  const intoForeignBranch = await adjust(b, own.id, { branchId: branchA, quantityDelta: 1, reason: 'x' });
  assert.equal(intoForeignBranch.statusCode, 404);
  assert.equal(expectStatus(await as(t, a).get(`/v1/inventory-items/${item.id}`), 200).json().inventoryItem.name, item.name);
});

test('the ledger and the item list page with a cursor', async () => {
  const owner = await aTenant(t.app);
  const branchId = await aBranch(t, owner.tenant.id);
  const ids: string[] = [];
  for (let i = 0; i < 5; i++) ids.push((await anInventoryItem(t, owner, { name: `Item ${i}` })).id);
  const first = expectStatus(await as(t, owner).get('/v1/inventory-items?limit=2'), 200).json();
  const second = expectStatus(await as(t, owner).get(`/v1/inventory-items?limit=2&cursor=${first.nextCursor}`), 200).json();
  const third = expectStatus(await as(t, owner).get(`/v1/inventory-items?limit=2&cursor=${second.nextCursor}`), 200).json();
  assert.deepEqual([...first.data, ...second.data, ...third.data].map((i: { id: string }) => i.id), ids);
  assert.equal(third.nextCursor, null);
  for (let i = 1; i <= 4; i++) await deliver(t, owner, ids[0]!, branchId, i);
  const page = expectStatus(await as(t, owner).get(`/v1/inventory-items/${ids[0]}/movements?limit=3`), 200).json();
  assert.deepEqual(page.data.map((m: { quantityDelta: number }) => m.quantityDelta), [4, 3, 2]);
  const rest = expectStatus(await as(t, owner).get(`/v1/inventory-items/${ids[0]}/movements?limit=3&cursor=${page.nextCursor}`), 200).json();
  assert.deepEqual(rest.data.map((m: { quantityDelta: number }) => m.quantityDelta), [1]);
});
