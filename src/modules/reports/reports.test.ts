import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createTestContext, aMember, aBranch, aTenant, problem, type TestContext, type Session } from '../../../test/harness.ts';
import { as, anInventoryItem, aMenuItem, anOrder, deliver, expectStatus, sqlAsOwner } from '../../../test/hospitality.fixtures.ts';

let t: TestContext;
let owner: Session;
let quay: string;
let town: string;
let latte: { id: string; name: string };
let cake: { id: string; name: string };
before(async () => {
  t = await createTestContext();
  // A business in New York: its days start at 05:00 UTC in winter and 04:00 UTC in summer.
  const res = await t.app.inject({
    method: 'POST',
    url: '/v1/signup',
    payload: { businessName: 'Empire Diner', name: 'Nina', email: 'nina@example.com', password: 'correct horse battery', currency: 'USD', timezone: 'America/New_York' },
  });
  owner = expectStatus(res, 201).json();
  quay = await aBranch(t, owner.tenant.id, 'Quay');
  town = await aBranch(t, owner.tenant.id, 'Town');
  const beans = await anInventoryItem(t, owner, { name: 'Beans' });
  for (const b of [quay, town]) await deliver(t, owner, beans.id, b, 100);
  latte = await aMenuItem(t, owner, { name: 'Latte', priceMinor: 350, recipe: [{ inventoryItemId: beans.id, quantity: 0.02 }] });
  cake = await aMenuItem(t, owner, { name: 'Cake', priceMinor: 400 });

  const sell = async (branchId: string, lines: { menuItemId: string; quantity: number }[], paidAt: string) => {
    const order = await anOrder(t, owner, branchId, lines);
    expectStatus(await as(t, owner).post(`/v1/orders/${order.id}/pay`, { method: 'card', amountMinor: order.totalMinor }), 200);
    // Back-dated as the till would have written it: the order and its lines together.
    await sqlAsOwner(t, `UPDATE orders SET created_at = $3::timestamptz - interval '5 minutes', paid_at = $3 WHERE tenant_id = $1 AND id = $2`, [owner.tenant.id, order.id, paidAt]);
    await sqlAsOwner(t, `UPDATE order_lines SET paid_at = $3 WHERE tenant_id = $1 AND order_id = $2`, [owner.tenant.id, order.id, paidAt]);
    return order;
  };
  await sell(quay, [{ menuItemId: latte.id, quantity: 2 }], '2024-03-09T04:30:00Z'); // 8 March, 23:30 in New York
  await sell(quay, [{ menuItemId: latte.id, quantity: 1 }], '2024-03-09T05:30:00Z'); // 9 March, 00:30
  const refunded = await sell(town, [{ menuItemId: cake.id, quantity: 1 }, { menuItemId: latte.id, quantity: 1 }], '2024-03-09T20:00:00Z');
  expectStatus(await as(t, owner).post(`/v1/orders/${refunded.id}/refund`, { reason: 'wrong order' }), 200);
  // 10 March, 23:00 daylight-saving time (UTC-4) in New York.
  await sqlAsOwner(t, `UPDATE orders SET refunded_at = '2024-03-11T03:00:00Z' WHERE tenant_id = $1 AND id = $2`, [owner.tenant.id, refunded.id]);
  await sqlAsOwner(t, `UPDATE order_lines SET refunded_at = '2024-03-11T03:00:00Z' WHERE tenant_id = $1 AND order_id = $2`, [owner.tenant.id, refunded.id]);
  const voided = await anOrder(t, owner, quay, [{ menuItemId: cake.id, quantity: 5 }]);
  expectStatus(await as(t, owner).post(`/v1/orders/${voided.id}/void`, { reason: 'test' }), 200);
  await anOrder(t, owner, quay, [{ menuItemId: cake.id, quantity: 9 }]); // still open
});
after(() => t.close());

const report = (who: Session, query: string, headers: Record<string, string> = {}) => as(t, who).get(`/v1/reports/sales?${query}`, headers);

test('sales by day follow the business time zone; refunds count on the day they were made', async () => {
  const res = expectStatus(await report(owner, 'from=2024-03-08&to=2024-03-10&groupBy=day'), 200).json();
  assert.equal(res.currency, 'USD');
  assert.equal(res.timezone, 'America/New_York');
  assert.equal(res.from, '2024-03-08T05:00:00.000Z');
  assert.equal(res.to, '2024-03-11T04:00:00.000Z');
  assert.deepEqual(res.rows, [
    { date: '2024-03-08', orders: 1, grossMinor: 700, refundsMinor: 0, netMinor: 700 },
    { date: '2024-03-09', orders: 2, grossMinor: 1100, refundsMinor: 0, netMinor: 1100 },
    { date: '2024-03-10', orders: 0, grossMinor: 0, refundsMinor: 750, netMinor: -750 },
  ]);
  assert.deepEqual(res.totals, { orders: 3, grossMinor: 1800, refundsMinor: 750, netMinor: 1050 });
  const oneDay = expectStatus(await report(owner, 'from=2024-03-09&to=2024-03-09'), 200).json();
  assert.deepEqual(oneDay.totals, { orders: 2, grossMinor: 1100, refundsMinor: 0, netMinor: 1100 });
  const instants = expectStatus(await report(owner, `from=${encodeURIComponent('2024-03-09T05:00:00Z')}&to=${encodeURIComponent('2024-03-09T06:00:00Z')}`), 200).json();
  assert.deepEqual(instants.rows, [{ date: '2024-03-09', orders: 1, grossMinor: 350, refundsMinor: 0, netMinor: 350 }]);
});

test('sales by branch and by item', async () => {
  const byBranch = expectStatus(await report(owner, 'from=2024-03-01&to=2024-03-31&groupBy=branch'), 200).json();
  assert.deepEqual(byBranch.rows, [
    { branchId: quay, branchName: 'Quay', orders: 2, grossMinor: 1050, refundsMinor: 0, netMinor: 1050 },
    { branchId: town, branchName: 'Town', orders: 1, grossMinor: 750, refundsMinor: 750, netMinor: 0 },
  ]);
  const byItem = expectStatus(await report(owner, 'from=2024-03-01&to=2024-03-31&groupBy=item'), 200).json();
  assert.deepEqual(byItem.rows, [
    { menuItemId: latte.id, name: 'Latte', orders: 3, quantity: 4, refundedQuantity: 1, grossMinor: 1400, refundsMinor: 350, netMinor: 1050 },
    { menuItemId: cake.id, name: 'Cake', orders: 1, quantity: 1, refundedQuantity: 1, grossMinor: 400, refundsMinor: 400, netMinor: 0 },
  ]);
  // An order of two items is one order.
  assert.deepEqual(byItem.totals, { orders: 3, grossMinor: 1800, refundsMinor: 750, netMinor: 1050 });
});

test('a branch manager sees their branch only; a cashier sees no reports', async () => {
  const manager = await aMember(t, owner, 'branch_manager', quay);
  const res = expectStatus(await report(manager, 'from=2024-03-01&to=2024-03-31&groupBy=branch'), 200).json();
  assert.deepEqual(res.rows.map((r: { branchId: string }) => r.branchId), [quay]);
  assert.deepEqual(res.totals, { orders: 2, grossMinor: 1050, refundsMinor: 0, netMinor: 1050 });
  const other = await report(manager, `branchId=${town}`);
  assert.equal(other.statusCode, 403);
  assert.deepEqual(problem(other).scope, { branchId: town });
  const cashier = await aMember(t, owner, 'cashier', quay);
  const denied = await report(cashier, '');
  assert.equal(denied.statusCode, 403);
  assert.equal(problem(denied).requiredPermission, 'reports.view');
  const filtered = expectStatus(await report(owner, `from=2024-03-01&to=2024-03-31&branchId=${town}`), 200).json();
  assert.deepEqual(filtered.totals, { orders: 1, grossMinor: 750, refundsMinor: 750, netMinor: 0 });
});

test('the CSV export needs reports.export and is audited', async () => {
  const accountant = await aMember(t, owner, 'accountant');
  const res = await report(accountant, 'from=2024-03-08&to=2024-03-10', { accept: 'text/csv' });
  assert.equal(res.statusCode, 200);
  assert.match(String(res.headers['content-type']), /^text\/csv/);
  assert.match(String(res.headers['content-disposition']), /^attachment; filename="sales-day-2024-03-08-2024-03-11\.csv"$/);
  assert.equal(
    res.body,
    'date,orders,grossMinor,refundsMinor,netMinor,currency\r\n' +
      '2024-03-08,1,700,0,700,USD\r\n2024-03-09,2,1100,0,1100,USD\r\n2024-03-10,0,0,750,-750,USD\r\n',
  );
  const audit = await sqlAsOwner<{ actor_id: string; permission: string; changes: { after: Record<string, unknown> } }>(
    t,
    `SELECT actor_id, permission, changes FROM audit_events WHERE tenant_id = $1 AND action = 'report.exported'`,
    [owner.tenant.id],
  );
  assert.equal(audit.length, 1);
  assert.equal(audit[0]!.actor_id, accountant.user.id);
  assert.equal(audit[0]!.permission, 'reports.export');
  assert.equal(audit[0]!.changes.after.groupBy, 'day');

  const manager = await aMember(t, owner, 'branch_manager', quay);
  const denied = await report(manager, '', { accept: 'text/csv' });
  assert.equal(denied.statusCode, 403);
  assert.equal(problem(denied).requiredPermission, 'reports.export');
  // JSON stays the default for clients that accept anything.
  assert.match(String((await report(accountant, '', { accept: '*/*' })).headers['content-type']), /^application\/json/);
});

test('report parameters are checked', async () => {
  for (const bad of [
    'from=2024-02-30',
    'from=yesterday',
    'to=2024-13-01',
    'groupBy=week',
    'from=2024-03-10&to=2024-03-01',
    'from=2020-01-01&to=2024-01-01',
    'branchId=quay',
    'limit=5',
  ]) {
    const res = await report(owner, bad);
    assert.equal(res.statusCode, 400, bad);
    assert.equal(problem(res).code, 'validation_failed');
  }
  const stranger = await aTenant(t.app);
  const foreign = await report(stranger, `branchId=${quay}`);
  assert.equal(foreign.statusCode, 404);
  const theirs = expectStatus(await report(stranger, 'from=2024-03-01&to=2024-03-31'), 200).json();
  assert.deepEqual(theirs.totals, { orders: 0, grossMinor: 0, refundsMinor: 0, netMinor: 0 });
});
