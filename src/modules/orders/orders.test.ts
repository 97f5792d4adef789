import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createTestContext, aTenant, aMember, aBranch, problem, type TestContext } from '../../../test/harness.ts';
import { as, aCafe, anOrder, aMenuItem, anInventoryItem, deliver, expectStatus, sqlAsOwner } from '../../../test/hospitality.fixtures.ts';

let t: TestContext;
before(async () => {
  t = await createTestContext();
});
after(() => t.close());

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
  assert.deepEqual(order.lines.map((l: { name: string; quantity: number; unitPriceMinor: number; totalMinor: number }) => [l.name, l.quantity, l.unitPriceMinor, l.totalMinor]), [
    [cafe.latte.name, 3, 350, 1050],
  ]);
});
