import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createTestContext, bearer, type TestContext } from '../../../test/harness.ts';
import { sqlAsOwner } from '../../../test/hospitality.fixtures.ts';
import { identityService } from '../identity/index.ts';
import { seedDemo, DEMO_PASSWORD } from './demo.seed.ts';

let t: TestContext;
before(async () => {
  t = await createTestContext();
});
after(() => t.close());

test('the demo businesses trade: menus with recipes, stock, three weeks of orders and a ledger that adds up', async () => {
  const started = Date.now();
  const logins = await seedDemo(t.platform, identityService(t.platform));
  assert.ok(logins);
  t.platform.log.info({ ms: Date.now() - started }, 'demo seeded');

  const counts = await sqlAsOwner<{ tenant: string; menu: number; recipes: number; orders: number; paid: number; refunded: number; voided: number; open: number; days: number; movements: number; lines: number }>(
    t,
    `SELECT t.slug AS tenant,
            (SELECT count(*)::int FROM menu_items m WHERE m.tenant_id = t.id) AS menu,
            (SELECT count(*)::int FROM recipe_lines r WHERE r.tenant_id = t.id) AS recipes,
            (SELECT count(*)::int FROM orders o WHERE o.tenant_id = t.id) AS orders,
            (SELECT count(*)::int FROM orders o WHERE o.tenant_id = t.id AND status = 'paid') AS paid,
            (SELECT count(*)::int FROM orders o WHERE o.tenant_id = t.id AND status = 'refunded') AS refunded,
            (SELECT count(*)::int FROM orders o WHERE o.tenant_id = t.id AND status = 'voided') AS voided,
            (SELECT count(*)::int FROM orders o WHERE o.tenant_id = t.id AND status = 'open') AS open,
            (SELECT count(DISTINCT (paid_at AT TIME ZONE t.timezone)::date)::int FROM orders o WHERE o.tenant_id = t.id) AS days,
            (SELECT count(*)::int FROM stock_movements s WHERE s.tenant_id = t.id) AS movements,
            (SELECT count(*)::int FROM order_lines l WHERE l.tenant_id = t.id) AS lines
       FROM tenants t ORDER BY t.slug`,
  );
  assert.equal(counts.length, 2);
  for (const c of counts) {
    assert.ok(c.menu >= 10 && c.recipes >= 15, JSON.stringify(c));
    assert.ok(c.orders > 1000 && c.paid > 900 && c.refunded > 0 && c.voided > 0 && c.open > 0, JSON.stringify(c));
    assert.ok(c.days >= 20, JSON.stringify(c));
    assert.ok(c.movements > c.paid, JSON.stringify(c));
  }
  const drift = await sqlAsOwner(
    t,
    `SELECT 1 FROM stock_levels s
      WHERE s.on_hand <> (SELECT sum(quantity_delta) FROM stock_movements m
                           WHERE m.tenant_id = s.tenant_id AND m.inventory_item_id = s.inventory_item_id AND m.branch_id = s.branch_id)
         OR s.on_hand < 0`,
  );
  assert.deepEqual(drift, []);
  const ledgerGap = await sqlAsOwner(
    t,
    `SELECT 1 FROM (SELECT on_hand_after, sum(quantity_delta) OVER (PARTITION BY tenant_id, inventory_item_id, branch_id ORDER BY created_at, kind) AS running
                      FROM stock_movements) x WHERE on_hand_after <> running OR on_hand_after < 0`,
  );
  assert.deepEqual(ledgerGap, []);
  const totals = await sqlAsOwner(t, `SELECT 1 FROM orders o WHERE total_minor <> (SELECT sum(line_total_minor) FROM order_lines l WHERE l.tenant_id = o.tenant_id AND l.order_id = o.id)`);
  assert.deepEqual(totals, []);
  const copies = await sqlAsOwner(
    t,
    `SELECT 1 FROM order_lines l JOIN orders o ON o.tenant_id = l.tenant_id AND o.id = l.order_id
      WHERE l.paid_at IS DISTINCT FROM o.paid_at OR l.refunded_at IS DISTINCT FROM o.refunded_at OR l.branch_id <> o.branch_id`,
  );
  assert.deepEqual(copies, []);
  const alerts = await sqlAsOwner(t, `SELECT 1 FROM low_stock_alerts`);
  assert.ok(alerts.length > 0);

  // A newcomer logs in as the demo accountant and reads a sales report with numbers in it.
  const accountant = logins.find((l) => l.role === 'accountant')!;
  const login = await t.app.inject({ method: 'POST', url: '/v1/auth/login', payload: { email: accountant.email, password: DEMO_PASSWORD } });
  assert.equal(login.statusCode, 200);
  const report = await t.app.inject({ method: 'GET', url: '/v1/reports/sales?groupBy=branch', headers: bearer(login.json().token) });
  assert.equal(report.statusCode, 200);
  assert.equal(report.json().rows.length, 2);
  assert.ok(report.json().totals.grossMinor > 0);
});
