import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import type { FastifyInstance } from 'fastify';
import { sql } from 'kysely';
import { createTestContext, aTenant, aBranch, aMember, bearer, problem, type TestContext, type Session } from '../../../test/harness.ts';
import { buildApp } from '../../app.ts';
import { tenantRateLimiter } from '../../platform/http/tenant-rate-limit.ts';
import { aMenuItem } from '../../../test/hospitality.fixtures.ts';
import { billingModule } from './billing.module.ts';
import type { SubscriptionStatus } from './billing.states.ts';

/** Plans are enforced in the same step as permissions, on the routes that create what plans count. */
let t: TestContext;
let app: FastifyInstance;

before(async () => {
  t = await createTestContext();
  app = t.app;
});
after(() => t.close());

async function putOnPlan(session: Session, plan: string, status: SubscriptionStatus = 'active'): Promise<void> {
  await t.platform.tenancy.withSystem('test: set plan', (trx) =>
    trx.updateTable('subscriptions').set({ plan, status }).where('tenant_id', '=', session.tenant.id).execute(),
  );
  billingModule(t.platform).service.invalidate(session.tenant.id);
}

describe('limits', () => {
  test('opening a branch past the plan limit is a 402 plan_limit_reached naming the limit, usage, allowance and upgrade', async () => {
    const owner = await aTenant(t.app, 'Starter Bistro');
    await putOnPlan(owner, 'starter');
    const first = await app.inject({ method: 'POST', url: '/v1/branches', headers: bearer(owner), payload: { name: 'First' } });
    assert.equal(first.statusCode, 201, first.body);
    const second = await app.inject({ method: 'POST', url: '/v1/branches', headers: bearer(owner), payload: { name: 'Second' } });
    assert.equal(second.statusCode, 402);
    const p = problem(second);
    assert.equal(p.code, 'plan_limit_reached');
    assert.equal(p.limit, 'branches');
    assert.equal(p.current, 1);
    assert.equal(p.allowed, 1);
    assert.equal(p.upgradeTo, 'pro');
    assert.equal(p.status, 402);
    assert.match(String(p.detail), /Starter plan allows 1 branches/);
    // The refused request changed nothing.
    const count = await t.platform.tenancy.withTenant({ tenantId: owner.tenant.id }, (trx) => trx.selectFrom('branches').select((eb) => eb.fn.countAll<string>().as('n')).where('tenant_id', '=', owner.tenant.id).executeTakeFirstOrThrow());
    assert.equal(Number(count.n), 1);
  });

  test('concurrent creations cannot overshoot a limit: of eight racing branches the trial opens exactly its three', async () => {
    const owner = await aTenant(t.app, 'Racing Bistro');
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) => app.inject({ method: 'POST', url: '/v1/branches', headers: bearer(owner), payload: { name: `Racer ${i}` } })),
    );
    const codes = results.map((r) => r.statusCode).sort();
    assert.deepEqual(codes, [201, 201, 201, 402, 402, 402, 402, 402], results.map((r) => r.body).join('\n'));
    for (const refused of results.filter((r) => r.statusCode === 402)) {
      assert.equal(problem(refused).limit, 'branches');
      assert.equal(problem(refused).allowed, 3);
    }
    const count = await t.platform.tenancy.withTenant({ tenantId: owner.tenant.id }, (trx) =>
      trx.selectFrom('branches').select((eb) => eb.fn.countAll<string>().as('n')).where('tenant_id', '=', owner.tenant.id).where('archived_at', 'is', null).executeTakeFirstOrThrow(),
    );
    assert.equal(Number(count.n), 3);
  });

  test('concurrent invitations stop exactly at the plan\'s member limit', async () => {
    const owner = await aTenant(t.app, 'Hiring Bistro');
    await putOnPlan(owner, 'starter');
    const results = await Promise.all(
      Array.from({ length: 7 }, (_, i) =>
        app.inject({ method: 'POST', url: '/v1/members', headers: bearer(owner), payload: { name: `Racer ${i}`, email: `racer${i}@example.com`, roles: [{ role: 'accountant' }] } }),
      ),
    );
    // Starter allows 5 members; the owner is one of them.
    assert.deepEqual(results.map((r) => r.statusCode).sort(), [201, 201, 201, 201, 402, 402, 402], results.map((r) => r.body).join('\n'));
  });

  test('the plan is checked after the permission: a cashier gets 403, not 402', async () => {
    const owner = await aTenant(t.app, 'Order Bistro');
    await putOnPlan(owner, 'starter');
    const branch = await aBranch(t, owner.tenant.id);
    await aBranch(t, owner.tenant.id, 'Second');
    const cashier = await aMember(t, owner, 'cashier', branch);
    const res = await app.inject({ method: 'POST', url: '/v1/branches', headers: bearer(cashier), payload: { name: 'Third' } });
    assert.equal(res.statusCode, 403);
  });

  test('members count against the plan; the highest plan has no limit', async () => {
    const owner = await aTenant(t.app, 'Crowded Bistro');
    await putOnPlan(owner, 'starter');
    for (let i = 0; i < 4; i++) await aMember(t, owner, 'cashier');
    const newMember = () => ({ name: 'New Cashier', email: `new+${Math.random().toString(36).slice(2)}@example.com`, password: 'correct horse battery', roles: [{ role: 'accountant' }] });
    const full = await app.inject({ method: 'POST', url: '/v1/members', headers: bearer(owner), payload: newMember() });
    assert.equal(problem(full).code, 'plan_limit_reached');
    assert.deepEqual([problem(full).current, problem(full).allowed, problem(full).upgradeTo], [5, 5, 'pro']);
    await putOnPlan(owner, 'enterprise');
    assert.equal((await app.inject({ method: 'POST', url: '/v1/members', headers: bearer(owner), payload: newMember() })).statusCode, 201);
  });

  test('orders of the current period are metered against the plan: the one past the limit is a 402', async () => {
    const owner = await aTenant(t.app, 'Busy Bistro');
    const branchId = await aBranch(t, owner.tenant.id);
    const dish = await aMenuItem(t, owner);
    const order = () => app.inject({ method: 'POST', url: '/v1/orders', headers: bearer(owner), payload: { branchId, lines: [{ menuItemId: dish.id, quantity: 1 }] } });
    assert.equal((await order()).statusCode, 201);
    const view = await t.app.inject({ method: 'GET', url: '/v1/billing/subscription', headers: bearer(owner) });
    assert.equal(view.json().entitlements.usage.ordersPerMonth, 1);
    assert.equal(view.json().entitlements.limits.ordersPerMonth, 2000);
    // 1,999 more orders of this period, written set-based.
    await t.platform.tenancy.withTenant({ tenantId: owner.tenant.id }, (trx) =>
      sql`INSERT INTO orders (tenant_id, branch_id, currency, total_minor) SELECT ${owner.tenant.id}, ${branchId}, 'EUR', 0 FROM generate_series(1, 1999)`.execute(trx),
    );
    const refused = await order();
    assert.equal(refused.statusCode, 402);
    assert.deepEqual([problem(refused).limit, problem(refused).current, problem(refused).allowed, problem(refused).upgradeTo], ['ordersPerMonth', 2000, 2000, 'starter']);
    // Orders of an earlier period do not count.
    await t.platform.tenancy.withTenant({ tenantId: owner.tenant.id }, (trx) =>
      sql`UPDATE orders SET created_at = now() - interval '60 days' WHERE tenant_id = ${owner.tenant.id} AND total_minor = 0`.execute(trx),
    );
    assert.equal((await order()).statusCode, 201);
  });
});

describe('features', () => {
  test('exporting a report on a plan without the feature is a 402 feature_not_in_plan with the plan that has it', async () => {
    const owner = await aTenant(t.app, 'Export Bistro');
    await putOnPlan(owner, 'starter');
    const csv = { authorization: `Bearer ${owner.token}`, accept: 'text/csv' };
    const res = await app.inject({ method: 'GET', url: '/v1/reports/sales', headers: csv });
    assert.equal(res.statusCode, 402);
    const p = problem(res);
    assert.equal(p.code, 'feature_not_in_plan');
    assert.equal(p.feature, 'reports.export');
    assert.equal(p.current, 'starter');
    assert.deepEqual(p.allowed, ['pro', 'enterprise']);
    assert.equal(p.upgradeTo, 'pro');
    // The JSON report is a plain read, in every plan.
    assert.equal((await app.inject({ method: 'GET', url: '/v1/reports/sales', headers: bearer(owner) })).statusCode, 200);
    await putOnPlan(owner, 'pro');
    const exported = await app.inject({ method: 'GET', url: '/v1/reports/sales', headers: csv });
    assert.equal(exported.statusCode, 200);
    assert.match(String(exported.headers['content-type']), /text\/csv/);
  });

  test('without reports.export the answer is 403, whatever the plan', async () => {
    const owner = await aTenant(t.app, 'Cashier Export Bistro');
    await putOnPlan(owner, 'starter');
    const cashier = await aMember(t, owner, 'cashier', await aBranch(t, owner.tenant.id));
    const res = await app.inject({ method: 'GET', url: '/v1/reports/sales', headers: { authorization: `Bearer ${cashier.token}`, accept: 'text/csv' } });
    assert.equal(res.statusCode, 403);
  });

  test('a trial has the features of the plans it lets a business try', async () => {
    const owner = await aTenant(t.app, 'Trying Bistro');
    assert.equal((await app.inject({ method: 'GET', url: '/v1/reports/sales', headers: { authorization: `Bearer ${owner.token}`, accept: 'text/csv' } })).statusCode, 200);
  });

  test('a route declaring a feature or limit billing does not know stops the app at start-up', async () => {
    const other = await buildApp(t.platform);
    other.get('/v1/test/typo', { config: { access: { permission: 'reports.view', branch: 'tenant', entitlement: { feature: 'report.exports' } } }, handler: async () => ({}) });
    assert.throws(() => billingModule(t.platform).checkDeclaredEntitlements(other.accessTable), /unknown feature "report.exports"/);
    await other.close();
  });
});

describe('read-only businesses', () => {
  for (const status of ['suspended', 'canceled', 'expired'] as const) {
    test(`a ${status} business can read but not write (402), and can still pay`, async () => {
      const owner = await aTenant(t.app, `${status} Bistro`);
      await putOnPlan(owner, 'pro', status);
      const write = await app.inject({ method: 'POST', url: '/v1/branches', headers: bearer(owner), payload: { name: 'Not now' } });
      assert.equal(write.statusCode, 402);
      assert.equal(problem(write).code, status === 'suspended' ? 'subscription_suspended' : 'subscription_ended');
      assert.equal(problem(write).status, 402);
      assert.equal((await app.inject({ method: 'GET', url: '/v1/reports/sales', headers: bearer(owner) })).statusCode, 200);
      assert.equal((await app.inject({ method: 'GET', url: '/v1/branches', headers: bearer(owner) })).statusCode, 200);
      const sub = await app.inject({ method: 'GET', url: '/v1/billing/subscription', headers: bearer(owner) });
      assert.equal(sub.statusCode, 200);
      assert.equal(sub.json().readOnly, true);
      // Billing stays writable: the way back. (No provider here, so the call fails further on, not at the door.)
      const pay = await app.inject({ method: 'POST', url: '/v1/billing/checkout', headers: bearer(owner), payload: { plan: 'pro' } });
      assert.notEqual(problem(pay).code, 'subscription_suspended');
      assert.notEqual(problem(pay).code, 'subscription_ended');
      assert.equal((await app.inject({ method: 'POST', url: '/v1/auth/logout', headers: bearer(owner) })).statusCode, 204);
    });
  }

  test('grace and past_due keep full access', async () => {
    for (const status of ['grace', 'past_due'] as const) {
      const owner = await aTenant(t.app, `${status} Bistro`);
      await putOnPlan(owner, 'pro', status);
      assert.equal((await app.inject({ method: 'POST', url: '/v1/branches', headers: bearer(owner), payload: { name: 'Still open' } })).statusCode, 201);
    }
  });
});

describe('API rate by plan', () => {
  test('the plan sets the rate, under the configured ceiling', async () => {
    const owner = await aTenant(t.app, 'Rate Bistro');
    const rate = t.platform.hooks.tenantRateLimit!;
    assert.equal(await rate(owner.tenant.id), 20);
    await putOnPlan(owner, 'pro');
    assert.equal(await rate(owner.tenant.id), 50);
    // Enterprise has no rate of its own: the configured ceiling applies.
    await putOnPlan(owner, 'enterprise');
    assert.equal(await rate(owner.tenant.id), t.platform.config.BRIGADE_TENANT_RATE_LIMIT);
    const limited = await createTestContext({ BRIGADE_TENANT_RATE_LIMIT: '1000' });
    // The limiter counts in 10-second windows: its clock stands at the start of one.
    const limiter = tenantRateLimiter(limited.platform.redis, limited.platform.config.BRIGADE_QUEUE_PREFIX, limited.platform.log, { now: () => 1_000_000_000_000, flushMs: 3_600_000 });
    const app = await buildApp(limited.platform, { tenantRateLimiter: limiter });
    try {
      const session = await aTenant(limited.app, 'Trial Flood');
      const statuses: number[] = [];
      for (let i = 0; i < 230; i++) statuses.push((await app.inject({ method: 'GET', url: '/v1/me', headers: bearer(session) })).statusCode);
      // The trial allows 20 per second, that is 200 per window; the ceiling alone would allow 10,000.
      assert.equal(statuses.indexOf(429), 200, 'the trial rate was not applied');
      assert.ok(statuses.slice(200).every((s) => s === 429));
    } finally {
      await app.close();
      limiter.close();
      await limited.close();
    }
  });
});
