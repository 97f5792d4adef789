import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createTestContext, aTenant, aMember, aBranch, problem, type TestContext, type Session } from '../../../test/harness.ts';
import crypto from 'node:crypto';
import { buildApp } from '../../app.ts';
import { as, aCafe, anOrder, aMenuItem, anInventoryItem, deliver, expectStatus, sqlAsOwner } from '../../../test/hospitality.fixtures.ts';

let t: TestContext;
before(async () => {
  t = await createTestContext();
});
after(() => t.close());

async function onHand(owner: Session, itemId: string, branchId: string): Promise<number> {
  const res = expectStatus(await as(t, owner).get(`/v1/inventory-items/${itemId}/stock`), 200);
  return res.json().data.find((s: { branchId: string }) => s.branchId === branchId)?.onHand;
}

async function ledgerMatchesLevels(tenantId: string): Promise<void> {
  const rows = await sqlAsOwner<{ on_hand: string; moved: string }>(
    t,
    `SELECT s.on_hand::text, coalesce((SELECT sum(m.quantity_delta) FROM stock_movements m
        WHERE m.tenant_id = s.tenant_id AND m.inventory_item_id = s.inventory_item_id AND m.branch_id = s.branch_id), 0)::numeric(14,3)::text AS moved
       FROM stock_levels s WHERE s.tenant_id = $1`,
    [tenantId],
  );
  assert.ok(rows.length > 0);
  for (const r of rows) assert.equal(r.on_hand, r.moved);
}

test('an order is priced when placed and opens with its lines, total and the business currency', async () => {
  const owner = await aTenant(t.app);
  const cafe = await aCafe(t, owner);
  const res = await as(t, owner).post('/v1/orders', { branchId: cafe.branchId, lines: [{ menuItemId: cafe.latte.id, quantity: 3 }] });
  assert.equal(res.statusCode, 201);
  const { order } = res.json();
  assert.equal(order.status, 'open');
  assert.equal(order.branchId, cafe.branchId);
  assert.equal(order.totalMinor, 1050);
  assert.equal(order.currency, 'EUR');
  assert.equal(order.payment, null);
  assert.deepEqual(
    order.lines.map((l: { name: string; quantity: number; unitPriceMinor: number; totalMinor: number }) => [l.name, l.quantity, l.unitPriceMinor, l.totalMinor]),
    [[cafe.latte.name, 3, 350, 1050]],
  );
});

test('a later price change leaves past orders alone', async () => {
  const owner = await aTenant(t.app);
  const cafe = await aCafe(t, owner);
  const before = await anOrder(t, owner, cafe.branchId, [{ menuItemId: cafe.latte.id, quantity: 2 }]);
  expectStatus(await as(t, owner).patch(`/v1/menu-items/${cafe.latte.id}`, { priceMinor: 400 }), 200);
  const past = expectStatus(await as(t, owner).get(`/v1/orders/${before.id}`), 200).json().order;
  assert.equal(past.totalMinor, 700);
  assert.equal(past.lines[0].unitPriceMinor, 350);
  const now = await anOrder(t, owner, cafe.branchId, [{ menuItemId: cafe.latte.id, quantity: 2 }]);
  assert.equal(now.totalMinor, 800);
});

test('paying in cash records the payment with change and takes the recipe from stock', async () => {
  const owner = await aTenant(t.app);
  const cafe = await aCafe(t, owner, { beans: 5, milk: 10 });
  const order = await anOrder(t, owner, cafe.branchId, [{ menuItemId: cafe.latte.id, quantity: 3 }]);
  const res = await as(t, owner).post(`/v1/orders/${order.id}/pay`, { method: 'cash', amountMinor: 2000 });
  assert.equal(res.statusCode, 200);
  const paid = res.json().order;
  assert.equal(paid.status, 'paid');
  assert.ok(paid.paidAt);
  assert.deepEqual({ ...paid.payment, id: undefined, paidAt: undefined }, { id: undefined, paidAt: undefined, method: 'cash', amountMinor: 2000, changeMinor: 950 });
  assert.equal(await onHand(owner, cafe.beans.id, cafe.branchId), 4.94);
  assert.equal(await onHand(owner, cafe.milk.id, cafe.branchId), 9.4);
  const sales = await sqlAsOwner<{ kind: string; delta: string }>(
    t,
    `SELECT kind, quantity_delta::text AS delta FROM stock_movements WHERE tenant_id = $1 AND order_id = $2 ORDER BY quantity_delta`,
    [owner.tenant.id, order.id],
  );
  assert.deepEqual(sales, [
    { kind: 'sale', delta: '-0.600' },
    { kind: 'sale', delta: '-0.060' },
  ]);
  await ledgerMatchesLevels(owner.tenant.id);
});

test('a card payment must be exactly the total and cash must cover it; a refused payment changes nothing', async () => {
  const owner = await aTenant(t.app);
  const cafe = await aCafe(t, owner);
  const order = await anOrder(t, owner, cafe.branchId, [{ menuItemId: cafe.latte.id, quantity: 1 }]);
  for (const body of [
    { method: 'card', amountMinor: 400 },
    { method: 'card', amountMinor: 300 },
    { method: 'cash', amountMinor: 349 },
  ]) {
    const res = await as(t, owner).post(`/v1/orders/${order.id}/pay`, body);
    assert.equal(res.statusCode, 400, JSON.stringify(body));
    assert.equal(problem(res).code, 'payment_amount_invalid');
    assert.equal(problem(res).totalMinor, 350);
  }
  const still = expectStatus(await as(t, owner).get(`/v1/orders/${order.id}`), 200).json().order;
  assert.equal(still.status, 'open');
  assert.equal(still.payment, null);
  assert.equal(await onHand(owner, cafe.beans.id, cafe.branchId), 5);
  const card = await as(t, owner).post(`/v1/orders/${order.id}/pay`, { method: 'card', amountMinor: 350 });
  assert.equal(card.statusCode, 200);
  assert.equal(card.json().order.payment.changeMinor, 0);
});

test('two tills paying one order at once: one is paid, the other gets 409, and stock moves once', async () => {
  const owner = await aTenant(t.app);
  const cafe = await aCafe(t, owner, { beans: 5, milk: 10 });
  const tillA = await aMember(t, owner, 'cashier', cafe.branchId);
  const tillB = await aMember(t, owner, 'cashier', cafe.branchId);
  for (let round = 0; round < 5; round++) {
    const order = await anOrder(t, tillA, cafe.branchId, [{ menuItemId: cafe.latte.id, quantity: 1 }]);
    const results = await Promise.all([
      as(t, tillA).post(`/v1/orders/${order.id}/pay`, { method: 'card', amountMinor: 350 }),
      as(t, tillB).post(`/v1/orders/${order.id}/pay`, { method: 'cash', amountMinor: 500 }),
    ]);
    assert.deepEqual(results.map((r) => r.statusCode).sort(), [200, 409]);
    const loser = results.find((r) => r.statusCode === 409)!;
    assert.equal(problem(loser).code, 'order_not_open');
    const moves = await sqlAsOwner(t, `SELECT 1 FROM stock_movements WHERE tenant_id = $1 AND order_id = $2`, [owner.tenant.id, order.id]);
    assert.equal(moves.length, 2);
    const payments = await sqlAsOwner(t, `SELECT 1 FROM payments WHERE tenant_id = $1 AND order_id = $2`, [owner.tenant.id, order.id]);
    assert.equal(payments.length, 1);
  }
  assert.equal(await onHand(owner, cafe.beans.id, cafe.branchId), 4.9);
  assert.equal(await onHand(owner, cafe.milk.id, cafe.branchId), 9);
  await ledgerMatchesLevels(owner.tenant.id);
});

test('many tills selling the same stock at once keep on-hand equal to the ledger', async () => {
  const owner = await aTenant(t.app);
  const cafe = await aCafe(t, owner, { beans: 5, milk: 10 });
  const orders = await Promise.all(Array.from({ length: 12 }, () => anOrder(t, owner, cafe.branchId, [{ menuItemId: cafe.latte.id, quantity: 1 }])));
  const paid = await Promise.all(orders.map((o) => as(t, owner).post(`/v1/orders/${o.id}/pay`, { method: 'card', amountMinor: 350 })));
  assert.ok(paid.every((r) => r.statusCode === 200));
  assert.equal(await onHand(owner, cafe.milk.id, cafe.branchId), 7.6);
  await ledgerMatchesLevels(owner.tenant.id);
});

test('a sale that would take stock below zero is refused with the item named, and nothing changes', async () => {
  const owner = await aTenant(t.app);
  const cafe = await aCafe(t, owner, { beans: 5, milk: 0.3 });
  const order = await anOrder(t, owner, cafe.branchId, [{ menuItemId: cafe.latte.id, quantity: 2 }]);
  const res = await as(t, owner).post(`/v1/orders/${order.id}/pay`, { method: 'card', amountMinor: 700 });
  assert.equal(res.statusCode, 409);
  const p = problem(res);
  assert.equal(p.code, 'insufficient_stock');
  assert.match(String(p.detail), new RegExp(cafe.milk.name));
  assert.deepEqual(p.items, [{ inventoryItemId: cafe.milk.id, name: cafe.milk.name, onHand: 0.3, needed: 0.4 }]);
  assert.equal(expectStatus(await as(t, owner).get(`/v1/orders/${order.id}`), 200).json().order.status, 'open');
  assert.equal(await onHand(owner, cafe.beans.id, cafe.branchId), 5);
  assert.equal(await onHand(owner, cafe.milk.id, cafe.branchId), 0.3);
});

test('where the business allows negative stock, a sale may take it below zero', async () => {
  const owner = await aTenant(t.app);
  const cafe = await aCafe(t, owner, { beans: 5, milk: 0.3 });
  await sqlAsOwner(t, `UPDATE tenants SET settings = settings || '{"allowNegativeStock": true}' WHERE id = $1`, [owner.tenant.id]);
  const order = await anOrder(t, owner, cafe.branchId, [{ menuItemId: cafe.latte.id, quantity: 2 }]);
  expectStatus(await as(t, owner).post(`/v1/orders/${order.id}/pay`, { method: 'card', amountMinor: 700 }), 200);
  assert.equal(await onHand(owner, cafe.milk.id, cafe.branchId), -0.1);
  await ledgerMatchesLevels(owner.tenant.id);
  // Adjustments never may, whatever the setting.
  const res = await as(t, owner).post(`/v1/inventory-items/${cafe.beans.id}/adjustments`, { branchId: cafe.branchId, quantityDelta: -6, reason: 'spilt', kind: 'waste' });
  assert.equal(res.statusCode, 409);
  assert.equal(problem(res).code, 'insufficient_stock');
});

test('a paid order can be refunded once, audited with the permission used; stock stays used unless restocked', async () => {
  const owner = await aTenant(t.app);
  const cafe = await aCafe(t, owner, { beans: 5, milk: 10 });
  const open = await anOrder(t, owner, cafe.branchId, [{ menuItemId: cafe.latte.id, quantity: 1 }]);
  const early = await as(t, owner).post(`/v1/orders/${open.id}/refund`, { reason: 'changed mind' });
  assert.equal(early.statusCode, 409);
  assert.equal(problem(early).code, 'order_not_paid');

  expectStatus(await as(t, owner).post(`/v1/orders/${open.id}/pay`, { method: 'card', amountMinor: 350 }), 200);
  const res = await as(t, owner).post(`/v1/orders/${open.id}/refund`, { reason: 'cold coffee' });
  assert.equal(res.statusCode, 200);
  const refunded = res.json().order;
  assert.equal(refunded.status, 'refunded');
  assert.equal(refunded.refundReason, 'cold coffee');
  assert.ok(refunded.refundedAt);
  assert.equal(await onHand(owner, cafe.milk.id, cafe.branchId), 9.8);
  const again = await as(t, owner).post(`/v1/orders/${open.id}/refund`, { reason: 'again' });
  assert.equal(again.statusCode, 409);

  const audit = await sqlAsOwner<{ action: string; permission: string; target_id: string; actor_id: string; changes: { reason: string } }>(
    t,
    `SELECT action, permission, target_id, actor_id, changes FROM audit_events WHERE tenant_id = $1 AND action = 'order.refunded'`,
    [owner.tenant.id],
  );
  assert.equal(audit.length, 1);
  assert.equal(audit[0]!.permission, 'orders.refund');
  assert.equal(audit[0]!.target_id, open.id);
  assert.equal(audit[0]!.actor_id, owner.user.id);
  assert.equal(audit[0]!.changes.reason, 'cold coffee');

  const copies = await sqlAsOwner(
    t,
    `SELECT 1 FROM order_lines l JOIN orders o ON o.tenant_id = l.tenant_id AND o.id = l.order_id
      WHERE l.tenant_id = $1 AND (l.paid_at IS DISTINCT FROM o.paid_at OR l.refunded_at IS DISTINCT FROM o.refunded_at OR l.branch_id <> o.branch_id)`,
    [owner.tenant.id],
  );
  assert.deepEqual(copies, [], "lines carry their order's branch and paid/refunded times");

  const bottled = await anOrder(t, owner, cafe.branchId, [{ menuItemId: cafe.latte.id, quantity: 2 }]);
  expectStatus(await as(t, owner).post(`/v1/orders/${bottled.id}/pay`, { method: 'card', amountMinor: 700 }), 200);
  assert.equal(await onHand(owner, cafe.milk.id, cafe.branchId), 9.4);
  expectStatus(await as(t, owner).post(`/v1/orders/${bottled.id}/refund`, { reason: 'unopened', restock: true }), 200);
  assert.equal(await onHand(owner, cafe.milk.id, cafe.branchId), 9.8);
  await ledgerMatchesLevels(owner.tenant.id);
});

test('only open orders can be voided; voiding is audited and a voided order cannot be paid', async () => {
  const owner = await aTenant(t.app);
  const cafe = await aCafe(t, owner);
  const order = await anOrder(t, owner, cafe.branchId, [{ menuItemId: cafe.latte.id, quantity: 1 }]);
  const res = await as(t, owner).post(`/v1/orders/${order.id}/void`, { reason: 'wrong table' });
  assert.equal(res.statusCode, 200);
  assert.equal(res.json().order.status, 'voided');
  assert.equal(res.json().order.voidReason, 'wrong table');
  const pay = await as(t, owner).post(`/v1/orders/${order.id}/pay`, { method: 'card', amountMinor: 350 });
  assert.equal(pay.statusCode, 409);
  assert.equal(problem(pay).code, 'order_not_open');
  const paid = await anOrder(t, owner, cafe.branchId, [{ menuItemId: cafe.latte.id, quantity: 1 }]);
  expectStatus(await as(t, owner).post(`/v1/orders/${paid.id}/pay`, { method: 'card', amountMinor: 350 }), 200);
  const voidPaid = await as(t, owner).post(`/v1/orders/${paid.id}/void`, { reason: 'too late' });
  assert.equal(voidPaid.statusCode, 409);
  assert.equal(problem(voidPaid).code, 'order_not_open');
  const audit = await sqlAsOwner<{ permission: string; target_id: string }>(
    t,
    `SELECT permission, target_id FROM audit_events WHERE tenant_id = $1 AND action = 'order.voided'`,
    [owner.tenant.id],
  );
  assert.deepEqual(audit, [{ permission: 'orders.void', target_id: order.id }]);
});

test('a cashier sells in their branch only, and cannot refund or void', async () => {
  const owner = await aTenant(t.app);
  const cafe = await aCafe(t, owner);
  const otherBranch = await aBranch(t, owner.tenant.id, 'Elsewhere');
  const cashier = await aMember(t, owner, 'cashier', cafe.branchId);
  const order = await anOrder(t, cashier, cafe.branchId, [{ menuItemId: cafe.latte.id, quantity: 1 }]);
  expectStatus(await as(t, cashier).post(`/v1/orders/${order.id}/pay`, { method: 'cash', amountMinor: 500 }), 200);

  const elsewhere = await as(t, cashier).post('/v1/orders', { branchId: otherBranch, lines: [{ menuItemId: cafe.latte.id, quantity: 1 }] });
  assert.equal(elsewhere.statusCode, 403);
  assert.equal(problem(elsewhere).requiredPermission, 'orders.create');
  assert.deepEqual(problem(elsewhere).scope, { branchId: otherBranch });

  const refund = await as(t, cashier).post(`/v1/orders/${order.id}/refund`, { reason: 'please' });
  assert.equal(refund.statusCode, 403);
  assert.equal(problem(refund).code, 'forbidden');
  assert.equal(problem(refund).requiredPermission, 'orders.refund');
  assert.equal(problem(refund).detail, 'Refunding an order requires the orders.refund permission, which cashiers do not have.');
  const open = await anOrder(t, cashier, cafe.branchId, [{ menuItemId: cafe.latte.id, quantity: 1 }]);
  const voided = await as(t, cashier).post(`/v1/orders/${open.id}/void`, { reason: 'oops' });
  assert.equal(voided.statusCode, 403);
  assert.equal(problem(voided).requiredPermission, 'orders.void');
  assert.equal(expectStatus(await as(t, owner).get(`/v1/orders/${order.id}`), 200).json().order.status, 'paid');

  // A branch manager of this branch may refund; one of another branch may not.
  const manager = await aMember(t, owner, 'branch_manager', cafe.branchId);
  const otherManager = await aMember(t, owner, 'branch_manager', otherBranch);
  const denied = await as(t, otherManager).post(`/v1/orders/${order.id}/refund`, { reason: 'nope' });
  assert.equal(denied.statusCode, 403);
  assert.deepEqual(problem(denied).scope, { branchId: cafe.branchId });
  expectStatus(await as(t, manager).post(`/v1/orders/${order.id}/refund`, { reason: 'burnt' }), 200);

  const accountant = await aMember(t, owner, 'accountant');
  const create = await as(t, accountant).post('/v1/orders', { branchId: cafe.branchId, lines: [{ menuItemId: cafe.latte.id, quantity: 1 }] });
  assert.equal(create.statusCode, 403);
  expectStatus(await as(t, accountant).get(`/v1/orders/${order.id}`), 200);
});

test("a cashier reads only their branch's orders", async () => {
  const owner = await aTenant(t.app);
  const cafe = await aCafe(t, owner);
  const other = await aBranch(t, owner.tenant.id, 'Other');
  const mine = await anOrder(t, owner, cafe.branchId, [{ menuItemId: cafe.latte.id, quantity: 1 }]);
  const theirs = await anOrder(t, owner, other, [{ menuItemId: cafe.latte.id, quantity: 1 }]);
  const cashier = await aMember(t, owner, 'cashier', cafe.branchId);
  const list = expectStatus(await as(t, cashier).get('/v1/orders'), 200).json();
  assert.deepEqual(list.data.map((o: { id: string }) => o.id), [mine.id]);
  assert.equal(list.nextCursor, null);
  const one = await as(t, cashier).get(`/v1/orders/${theirs.id}`);
  assert.equal(one.statusCode, 403);
  const filtered = await as(t, cashier).get(`/v1/orders?branchId=${other}`);
  assert.equal(filtered.statusCode, 403);
  const all = expectStatus(await as(t, owner).get('/v1/orders'), 200).json();
  assert.deepEqual(new Set(all.data.map((o: { id: string }) => o.id)), new Set([mine.id, theirs.id]));
});

test("a cashier reads their branch's open orders only: paid, refunded and voided ones are history they do not see", async () => {
  const owner = await aTenant(t.app);
  const cafe = await aCafe(t, owner);
  const cashier = await aMember(t, owner, 'cashier', cafe.branchId);
  const open = await anOrder(t, cashier, cafe.branchId, [{ menuItemId: cafe.latte.id, quantity: 1 }]);
  const paid = await anOrder(t, cashier, cafe.branchId, [{ menuItemId: cafe.latte.id, quantity: 1 }]);
  expectStatus(await as(t, cashier).post(`/v1/orders/${paid.id}/pay`, { method: 'cash', amountMinor: 500 }), 200);
  const voided = await anOrder(t, owner, cafe.branchId, [{ menuItemId: cafe.latte.id, quantity: 1 }]);
  expectStatus(await as(t, owner).post(`/v1/orders/${voided.id}/void`, { reason: 'wrong table' }), 200);

  const list = expectStatus(await as(t, cashier).get('/v1/orders'), 200).json();
  assert.deepEqual(list.data.map((o: { id: string }) => o.id), [open.id]);
  const byBranch = expectStatus(await as(t, cashier).get(`/v1/orders?branchId=${cafe.branchId}`), 200).json();
  assert.deepEqual(byBranch.data.map((o: { id: string }) => o.id), [open.id]);
  const paidOnes = expectStatus(await as(t, cashier).get(`/v1/orders?status=paid`), 200).json();
  assert.deepEqual(paidOnes.data, []);
  expectStatus(await as(t, cashier).get(`/v1/orders/${open.id}`), 200);
  const history = await as(t, cashier).get(`/v1/orders/${paid.id}`);
  assert.equal(history.statusCode, 403);
  assert.equal(problem(history).requiredPermission, 'orders.read');
  // The branch manager reads the branch's whole history.
  const manager = await aMember(t, owner, 'branch_manager', cafe.branchId);
  const all = expectStatus(await as(t, manager).get('/v1/orders'), 200).json();
  assert.deepEqual(new Set(all.data.map((o: { id: string }) => o.id)), new Set([open.id, paid.id, voided.id]));
});

test('orders list filters by branch, status and time and pages with a cursor', async () => {
  const owner = await aTenant(t.app);
  const cafe = await aCafe(t, owner, { beans: 100, milk: 100 });
  const other = await aBranch(t, owner.tenant.id, 'Other');
  const start = new Date().toISOString();
  const created: string[] = [];
  for (let i = 0; i < 7; i++) created.push((await anOrder(t, owner, cafe.branchId, [{ menuItemId: cafe.latte.id, quantity: 1 }])).id);
  await anOrder(t, owner, other, [{ menuItemId: cafe.latte.id, quantity: 1 }]);
  for (const id of created.slice(0, 3)) expectStatus(await as(t, owner).post(`/v1/orders/${id}/pay`, { method: 'card', amountMinor: 350 }), 200);

  const seen: string[] = [];
  let cursor: string | null = null;
  let pages = 0;
  do {
    const q: string = `/v1/orders?branchId=${cafe.branchId}&limit=3${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
    const page = expectStatus(await as(t, owner).get(q), 200).json();
    assert.ok(page.data.length <= 3);
    seen.push(...page.data.map((o: { id: string }) => o.id));
    cursor = page.nextCursor;
    pages++;
  } while (cursor);
  assert.equal(pages, 3);
  assert.deepEqual(seen, [...created].reverse());

  const paid = expectStatus(await as(t, owner).get(`/v1/orders?status=paid`), 200).json();
  assert.deepEqual(new Set(paid.data.map((o: { id: string }) => o.id)), new Set(created.slice(0, 3)));
  const inWindow = expectStatus(await as(t, owner).get(`/v1/orders?from=${encodeURIComponent(start)}&to=${encodeURIComponent(new Date(Date.now() + 60_000).toISOString())}`), 200).json();
  assert.equal(inWindow.data.length, 8);
  const future = expectStatus(await as(t, owner).get(`/v1/orders?from=${encodeURIComponent(new Date(Date.now() + 60_000).toISOString())}`), 200).json();
  assert.deepEqual(future, { data: [], nextCursor: null });

  for (const bad of ['limit=0', 'limit=201', 'limit=abc', 'status=lost', 'from=yesterday', 'branchId=42', 'cursor=not-a-cursor', 'colour=red']) {
    const res = await as(t, owner).get(`/v1/orders?${bad}`);
    assert.equal(res.statusCode, 400, bad);
    assert.equal(problem(res).code, 'validation_failed');
  }
});

test('an item switched off in a branch, an archived item or a closed branch cannot be ordered', async () => {
  const owner = await aTenant(t.app);
  const cafe = await aCafe(t, owner);
  const other = await aBranch(t, owner.tenant.id, 'Other');
  expectStatus(await as(t, owner).patch(`/v1/menu-items/${cafe.latte.id}`, { availability: [{ branchId: other, available: false }] }), 200);
  const off = await as(t, owner).post('/v1/orders', { branchId: other, lines: [{ menuItemId: cafe.latte.id, quantity: 1 }] });
  assert.equal(off.statusCode, 409);
  assert.equal(problem(off).code, 'menu_item_unavailable');
  await anOrder(t, owner, cafe.branchId, [{ menuItemId: cafe.latte.id, quantity: 1 }]);

  const tea = await aMenuItem(t, owner, { name: 'Tea', priceMinor: 200 });
  expectStatus(await as(t, owner).delete(`/v1/menu-items/${tea.id}`), 200);
  const archived = await as(t, owner).post('/v1/orders', { branchId: cafe.branchId, lines: [{ menuItemId: tea.id, quantity: 1 }] });
  assert.equal(archived.statusCode, 409);
  assert.equal(problem(archived).code, 'menu_item_unavailable');

  // The branch has orders, so closing archives it; it then takes no more.
  expectStatus(await as(t, owner).delete(`/v1/branches/${cafe.branchId}`), 200);
  const closed = await as(t, owner).post('/v1/orders', { branchId: cafe.branchId, lines: [{ menuItemId: cafe.latte.id, quantity: 1 }] });
  assert.equal(closed.statusCode, 409);
  assert.equal(problem(closed).code, 'branch_archived');
});

test("another business's orders, branches and menu items are not found", async () => {
  const a = await aTenant(t.app);
  const b = await aTenant(t.app);
  const cafeA = await aCafe(t, a);
  const cafeB = await aCafe(t, b);
  const order = await anOrder(t, a, cafeA.branchId, [{ menuItemId: cafeA.latte.id, quantity: 1 }]);
  const cashierB = await aMember(t, b, 'cashier', cafeB.branchId);
  for (const who of [b, cashierB]) {
    for (const [method, url, body] of [
      ['GET', `/v1/orders/${order.id}`, undefined],
      ['POST', `/v1/orders/${order.id}/pay`, { method: 'card', amountMinor: 350 }],
      ['POST', `/v1/orders/${order.id}/refund`, { reason: 'x' }],
      ['POST', `/v1/orders/${order.id}/void`, { reason: 'x' }],
    ] as const) {
      const res = method === 'GET' ? await as(t, who).get(url) : await as(t, who).post(url, body);
      if (who === cashierB && (url.endsWith('/refund') || url.endsWith('/void'))) {
        assert.equal(res.statusCode, 403, url); // cashiers hold no refund/void anywhere: refused before any lookup
      } else {
        assert.equal(res.statusCode, 404, `${method} ${url}`);
        assert.equal(problem(res).code, 'not_found');
      }
    }
  }
  const foreignBranch = await as(t, b).post('/v1/orders', { branchId: cafeA.branchId, lines: [{ menuItemId: cafeB.latte.id, quantity: 1 }] });
  assert.equal(foreignBranch.statusCode, 404);
  const foreignItem = await as(t, b).post('/v1/orders', { branchId: cafeB.branchId, lines: [{ menuItemId: cafeA.latte.id, quantity: 1 }] });
  assert.equal(foreignItem.statusCode, 404);
  assert.equal(expectStatus(await as(t, a).get(`/v1/orders/${order.id}`), 200).json().order.status, 'open');
});

test('a sale that takes stock below the reorder level raises one alert per crossing, with a low-stock mail job', async () => {
  const owner = await aTenant(t.app);
  const branchId = await aBranch(t, owner.tenant.id, 'Bar');
  const lemons = await anInventoryItem(t, owner, { name: 'Lemons', unit: 'piece', reorderLevel: 5 });
  await deliver(t, owner, lemons.id, branchId, 8);
  const lemonade = await aMenuItem(t, owner, { name: 'Lemonade', priceMinor: 300, recipe: [{ inventoryItemId: lemons.id, quantity: 1 }] });
  const sell = async () => {
    const o = await anOrder(t, owner, branchId, [{ menuItemId: lemonade.id, quantity: 1 }]);
    expectStatus(await as(t, owner).post(`/v1/orders/${o.id}/pay`, { method: 'card', amountMinor: 300 }), 200);
  };
  const alerts = () => sqlAsOwner<{ on_hand: string }>(t, `SELECT on_hand::text FROM low_stock_alerts WHERE tenant_id = $1 ORDER BY created_at`, [owner.tenant.id]);
  const jobs = () =>
    sqlAsOwner<{ payload: Record<string, unknown> }>(t, `SELECT payload FROM outbox WHERE tenant_id = $1 AND type = 'mail.low_stock' ORDER BY created_at`, [owner.tenant.id]);

  await sell(); // 7
  await sell(); // 6
  await sell(); // 5: at the level, not below
  assert.equal((await alerts()).length, 0);
  await sell(); // 4: crossed
  await sell(); // 3: still below, no new alert
  assert.deepEqual((await alerts()).map((a) => a.on_hand), ['4.000']);
  assert.deepEqual((await jobs()).map((j) => j.payload), [
    { branchId, inventoryItemId: lemons.id, onHand: 4, reorderLevel: 5, tenantId: owner.tenant.id },
  ]);
  const listed = expectStatus(await as(t, owner).get('/v1/low-stock-alerts'), 200).json();
  assert.equal(listed.data.length, 1);
  assert.equal(listed.data[0].inventoryItemId, lemons.id);

  await deliver(t, owner, lemons.id, branchId, 10); // 13: re-armed
  for (let i = 0; i < 8; i++) await sell(); // 5
  assert.equal((await alerts()).length, 1);
  await sell(); // 4: crossed again
  assert.deepEqual((await alerts()).map((a) => a.on_hand), ['4.000', '4.000']);
  assert.equal((await jobs()).length, 2);
});

test("a till pays the order it just placed without a second look-up of the order's branch; an order this process has not seen is looked up, and its branch still decides", async () => {
  const owner = await aTenant(t.app);
  const cafe = await aCafe(t, owner);
  const otherBranch = await aBranch(t, owner.tenant.id, 'Across town');
  const cashier = await aMember(t, owner, 'cashier', cafe.branchId);
  // Reads made through the tenancy while a request runs (the branch look-up is one).
  const tenancy = t.platform.tenancy;
  const readAsTenant = tenancy.readAsTenant;
  let reads = 0;
  tenancy.readAsTenant = ((ctx, fn) => {
    reads++;
    return readAsTenant.call(tenancy, ctx, fn);
  }) as typeof readAsTenant;
  // A second API process of the same deployment: it knows nothing of the first one's orders.
  const elsewhere = await buildApp(t.platform);
  try {
    const placedHere = await anOrder(t, cashier, cafe.branchId, [{ menuItemId: cafe.latte.id, quantity: 1 }]);
    reads = 0;
    expectStatus(await as(t, cashier).post(`/v1/orders/${placedHere.id}/pay`, { method: 'cash', amountMinor: 500 }), 200);
    assert.equal(reads, 0);

    const placeElsewhere = async (branchId: string) => {
      const res = await elsewhere.inject({ method: 'POST', url: '/v1/orders', headers: { authorization: `Bearer ${owner.token}` }, payload: { branchId, lines: [{ menuItemId: cafe.latte.id, quantity: 1 }] } });
      return expectStatus(res, 201).json().order as { id: string };
    };
    const theirs = await placeElsewhere(otherBranch);
    reads = 0;
    const refused = await as(t, cashier).post(`/v1/orders/${theirs.id}/pay`, { method: 'cash', amountMinor: 500 });
    assert.equal(refused.statusCode, 403);
    assert.deepEqual(problem(refused).scope, { branchId: otherBranch });
    assert.equal(reads, 1);
    // Known now: refused the same way without another look-up.
    const again = await as(t, cashier).post(`/v1/orders/${theirs.id}/pay`, { method: 'cash', amountMinor: 500 });
    assert.equal(again.statusCode, 403);
    assert.deepEqual(problem(again).scope, { branchId: otherBranch });
    assert.equal(reads, 1);

    const ours = await placeElsewhere(cafe.branchId);
    expectStatus(await as(t, cashier).post(`/v1/orders/${ours.id}/pay`, { method: 'cash', amountMinor: 500 }), 200);
    assert.equal(reads, 2);
    // An id of no order of this business is still not found.
    assert.equal((await as(t, cashier).post(`/v1/orders/${crypto.randomUUID()}/pay`, { method: 'cash', amountMinor: 500 })).statusCode, 404);
  } finally {
    tenancy.readAsTenant = readAsTenant;
    await elsewhere.close();
  }
});
