import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { createTestContext, aTenant, bearer, type TestContext } from '../../../test/harness.ts';
import { createLogger } from '../../platform/log.ts';
import { operatorsService } from '../identity/index.ts';
import { allowedTransitions, canTransition, subscriptionStatuses, transitionPath, type SubscriptionStatus } from './billing.states.ts';
import { billingModule } from './billing.module.ts';
import { DisallowedTransitionError } from './billing.sync.ts';

/**
 * The state machine, exhaustively: each of the 42 status changes is tried on a real row, and
 * either happens (history, audit, notice) or is refused (row untouched, alert raised).
 */
let t: TestContext;
let tenantId: string;
let opToken: string;
const logLines: string[] = [];

const allowed: [SubscriptionStatus, SubscriptionStatus][] = [
  ['trialing', 'active'], ['trialing', 'past_due'], ['trialing', 'grace'], ['trialing', 'canceled'], ['trialing', 'expired'],
  ['active', 'past_due'], ['active', 'canceled'],
  ['past_due', 'active'], ['past_due', 'suspended'], ['past_due', 'canceled'],
  ['grace', 'active'], ['grace', 'suspended'], ['grace', 'canceled'], ['grace', 'expired'],
  ['suspended', 'active'], ['suspended', 'canceled'], ['suspended', 'expired'],
  ['canceled', 'active'],
  ['expired', 'active'],
];
const isAllowed = (from: SubscriptionStatus, to: SubscriptionStatus) => allowed.some(([f, x]) => f === from && x === to);

before(async () => {
  // No provider is reached here: these are Brigade's own decisions.
  t = await createTestContext({}, { log: createLogger('warn', new Writable({ write: (chunk, _enc, done) => (logLines.push(String(chunk)), done()) })) });
  tenantId = (await aTenant(t.app, 'Machine Bistro')).tenant.id;
  const ops = operatorsService(t.platform);
  await ops.createOperator({ email: 'ops@brigade.test', password: 'correct horse battery' });
  opToken = (await t.app.inject({ method: 'POST', url: '/ops/api/login', payload: { email: 'ops@brigade.test', password: 'correct horse battery' } })).json().token;
});
after(() => t.close());

async function setStatus(status: SubscriptionStatus): Promise<void> {
  await t.platform.tenancy.withSystem('test: put the row in a state', (trx) =>
    trx.updateTable('subscriptions').set({ status, grace_ends_at: null, retain_until: null }).where('tenant_id', '=', tenantId).execute(),
  );
  billingModule(t.platform).service.invalidate(tenantId);
}

const row = () => t.platform.tenancy.withSystem('test', (trx) => trx.selectFrom('subscriptions').selectAll().where('tenant_id', '=', tenantId).executeTakeFirstOrThrow());

describe('the transition table', () => {
  test('allows exactly the documented transitions', () => {
    for (const from of subscriptionStatuses) {
      for (const to of subscriptionStatuses) {
        if (from === to) continue;
        assert.equal(canTransition(from, to), isAllowed(from, to), `${from} → ${to}`);
      }
    }
    assert.equal(Object.values(allowedTransitions).flat().length, allowed.length);
  });

  test('a repair walks the shortest allowed path, and there is none back into a trial', () => {
    assert.deepEqual(transitionPath('trialing', 'suspended'), ['grace', 'suspended']);
    assert.deepEqual(transitionPath('active', 'suspended'), ['past_due', 'suspended']);
    assert.deepEqual(transitionPath('canceled', 'past_due'), ['active', 'past_due']);
    assert.deepEqual(transitionPath('grace', 'grace'), []);
    for (const from of subscriptionStatuses) if (from !== 'trialing') assert.equal(transitionPath(from, 'trialing'), null, `${from} → trialing`);
  });
});

describe('on a real subscription', () => {
  for (const from of subscriptionStatuses) {
    for (const to of subscriptionStatuses) {
      if (from === to) continue;
      const verdict = isAllowed(from, to) ? 'happens' : 'is refused and raises an alert';
      test(`${from} → ${to} ${verdict}`, async () => {
        await setStatus(from);
        const sync = billingModule(t.platform).sync;
        const meta = { source: 'operator' as const, reason: `test ${from} → ${to}` };
        if (isAllowed(from, to)) {
          const outcome = await sync.changeStatus(tenantId, to, meta);
          assert.deepEqual(outcome.entered, [to]);
          const after = await row();
          assert.equal(after.status, to);
          if (to === 'grace' || to === 'past_due') assert.ok(after.grace_ends_at && after.grace_ends_at > new Date());
          if (to === 'canceled' || to === 'expired') assert.ok(after.retain_until && after.retain_until > new Date());
          if (to === 'active') assert.ok(after.converted_at);
          const history = await t.platform.tenancy.withTenant({ tenantId }, (trx) =>
            trx.selectFrom('subscription_transitions').selectAll().where('tenant_id', '=', tenantId).where('reason', '=', meta.reason).execute(),
          );
          assert.equal(history.length, 1);
          assert.equal(history[0]!.from_status, from);
          assert.equal(history[0]!.to_status, to);
          assert.equal(history[0]!.source, 'operator');
        } else {
          await assert.rejects(sync.changeStatus(tenantId, to, meta), (err: unknown) => err instanceof DisallowedTransitionError && err.refusal.from === from && err.refusal.to === to);
          assert.equal((await row()).status, from);
          // One open alert per rule and tenant: each refusal counts on it and says what it was.
          const alert = await t.platform.tenancy.withSystem('test', (trx) =>
            trx.selectFrom('alerts').selectAll().where('rule', '=', 'billing.disallowed_transition').where('subject', '=', tenantId).where('state', '<>', 'resolved').executeTakeFirst(),
          );
          assert.ok(alert, 'no alert');
          assert.equal(alert.tenant_id, tenantId);
          assert.equal(alert.severity, 'critical');
          assert.deepEqual([alert.details.from, alert.details.to], [from, to]);
          const logged = logLines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.msg === 'billing: disallowed subscription transition refused');
          assert.ok(logged.some((l) => l.tenantId === tenantId && l.from === from && l.to === to), 'the refusal was not logged');
        }
      });
    }
  }

  test('refused transitions are visible to operators in the ops API, and only to them', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/ops/api/billing/alerts?open=true&limit=200', headers: bearer(opToken) });
    assert.equal(res.statusCode, 200);
    const data = res.json().data as { rule: string; tenantId: string; occurrences: number; tenantName: string }[];
    assert.deepEqual(data.map((a) => [a.rule, a.tenantId, a.tenantName]), [['billing.disallowed_transition', tenantId, 'Machine Bistro']]);
    assert.equal(data[0]!.occurrences, 42 - allowed.length);
    const owner = await aTenant(t.app, 'Curious Bistro');
    assert.equal((await t.app.inject({ method: 'GET', url: '/ops/api/billing/alerts', headers: bearer(owner) })).statusCode, 401);
    const first = res.json().data[0];
    const resolved = await t.app.inject({ method: 'POST', url: `/ops/api/billing/alerts/${first.id}/resolve`, headers: bearer(opToken) });
    assert.equal(resolved.statusCode, 200);
    assert.equal(resolved.json().resolvedBy, 'operator:ops@brigade.test');
  });

  test('a refused transition raised again counts on the same open alert', async () => {
    await setStatus('active');
    const sync = billingModule(t.platform).sync;
    await assert.rejects(sync.changeStatus(tenantId, 'trialing', { source: 'operator', reason: 'again' }));
    await assert.rejects(sync.changeStatus(tenantId, 'trialing', { source: 'operator', reason: 'and again' }));
    const alerts = await t.platform.tenancy.withSystem('test', (trx) =>
      trx.selectFrom('alerts').selectAll().where('rule', '=', 'billing.disallowed_transition').where('tenant_id', '=', tenantId).where('state', '<>', 'resolved').execute(),
    );
    assert.equal(alerts.length, 1);
    assert.ok(alerts[0]!.occurrences >= 2);
  });
});
