import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { aTenant, aMember, anOperator, bearer, problem } from '../../../test/harness.ts';
import { billingTestContext, DAY_SECONDS, type BillingTestContext } from './billing.fixtures.ts';

let t: BillingTestContext;

before(async () => {
  t = await billingTestContext();
});
after(() => t.close());

/** A card during the trial, then the trial's end: the business is on a paid plan, its clock returned. */
async function convertTrial(session: Awaited<ReturnType<BillingTestContext['signup']>>): Promise<string> {
  const clock = await t.onClock(session.tenant.id);
  await t.addCard(session);
  await t.advanceClock(clock, 15 * DAY_SECONDS);
  await t.settle();
  return clock;
}

describe('signup', () => {
  test('a new business starts a 14-day trial in the signup transaction and the provider is called later, by a job', async () => {
    const session = await aTenant(t.app, 'Trial Bistro');
    const customersBefore = await t.stripe.customers.search({ query: `metadata['tenantId']:'${session.tenant.id}'` });
    assert.equal(customersBefore.data.length, 0, 'the provider was called inside signup');
    const jobs = await t.platform.tenancy.withSystem('test', (trx) =>
      trx.selectFrom('outbox').select(['type']).where('tenant_id', '=', session.tenant.id).where('type', 'like', 'billing.%').execute(),
    );
    assert.deepEqual(jobs.map((j) => j.type), ['billing.provision']);

    const sub = await t.getSubscription(session);
    assert.equal(sub.status, 'trialing');
    assert.equal(sub.plan, 'trial');
    const days = (Date.parse(sub.trialEndsAt) - Date.now()) / 86_400_000;
    assert.ok(days > 13.9 && days <= 14, `trial of ${days} days`);

    await t.settle();
    const { customerId, subscriptionId } = await t.providerIds(session.tenant.id);
    const customer = await t.stripe.customers.retrieve(customerId);
    assert.equal((customer as { metadata: Record<string, string> }).metadata.tenantId, session.tenant.id);
    const remote = await t.stripe.subscriptions.retrieve(subscriptionId);
    assert.equal(remote.status, 'trialing');
    assert.equal(remote.metadata.tenantId, session.tenant.id);
    assert.equal(remote.trial_end, Math.floor(Date.parse(sub.trialEndsAt) / 1000));
  });

  test('running the provisioning job twice opens one customer and one subscription', async () => {
    const session = await aTenant(t.app, 'Twice Bistro');
    await t.billing.service.provision(session.tenant.id);
    await t.billing.service.provision(session.tenant.id);
    const customers = await t.stripe.customers.search({ query: `metadata['tenantId']:'${session.tenant.id}'` });
    assert.equal(customers.data.length, 1);
    const subs = await t.stripe.subscriptions.list({ customer: customers.data[0]!.id, status: 'all' });
    assert.equal(subs.data.length, 1);
  });
});

describe('GET /v1/billing/subscription', () => {
  test('answers the contract shape with entitlements, limits and usage', async () => {
    const session = await t.signup('Shape Bistro');
    const res = await t.app.inject({ method: 'GET', url: '/v1/billing/subscription', headers: bearer(session) });
    assert.equal(res.statusCode, 200);
    const body = res.json();
    for (const key of ['plan', 'status', 'trialEndsAt', 'currentPeriodEnd', 'cancelAtPeriodEnd', 'entitlements']) assert.ok(key in body, `missing ${key}`);
    assert.equal(body.cancelAtPeriodEnd, false);
    assert.ok(Array.isArray(body.entitlements.features));
    assert.ok(body.entitlements.features.includes('reports.export'));
    assert.deepEqual(Object.keys(body.entitlements.limits).sort(), ['apiRatePerSecond', 'branches', 'members', 'ordersPerMonth', 'scheduledReports']);
    assert.deepEqual(body.entitlements.usage, { branches: 0, members: 1, ordersPerMonth: 0, scheduledReports: 0 });
    assert.equal(body.currentPeriodEnd, body.trialEndsAt);
    assert.equal(body.readOnly, false);
  });

  test('needs billing.read: an accountant may read it, a cashier may not', async () => {
    const session = await t.signup('Roles Bistro');
    const accountant = await aMember(t, session, 'accountant');
    assert.equal((await t.app.inject({ method: 'GET', url: '/v1/billing/subscription', headers: bearer(accountant) })).statusCode, 200);
    const cashier = await aMember(t, session, 'cashier');
    const res = await t.app.inject({ method: 'GET', url: '/v1/billing/subscription', headers: bearer(cashier) });
    assert.equal(res.statusCode, 403);
    assert.equal(problem(res).requiredPermission, 'billing.read');
    const change = await t.app.inject({ method: 'POST', url: '/v1/billing/subscription/plan', headers: bearer(accountant), payload: { plan: 'pro' } });
    assert.equal(problem(change).requiredPermission, 'billing.manage');
  });
});

describe('plan changes and cancellation', () => {
  test('changing plan during the trial keeps the trial and is audited', async () => {
    const session = await t.signup('Plan Bistro');
    const res = await t.app.inject({ method: 'POST', url: '/v1/billing/subscription/plan', headers: bearer(session), payload: { plan: 'pro' } });
    assert.equal(res.statusCode, 200, res.body);
    assert.equal(res.json().plan, 'pro');
    assert.equal(res.json().status, 'trialing');
    const { subscriptionId } = await t.providerIds(session.tenant.id);
    const remote = await t.stripe.subscriptions.retrieve(subscriptionId);
    assert.equal(remote.items.data[0]!.price.lookup_key, 'pro');
    const audit = await t.platform.tenancy.withTenant({ tenantId: session.tenant.id }, (trx) =>
      trx.selectFrom('audit_events').select(['action', 'permission', 'actor_id', 'changes']).where('tenant_id', '=', session.tenant.id).where('action', '=', 'billing.plan_change').execute(),
    );
    assert.equal(audit.length, 1);
    assert.equal(audit[0]!.permission, 'billing.manage');
    assert.equal(audit[0]!.actor_id, session.user.id);
    assert.deepEqual(audit[0]!.changes, { before: { plan: 'trial' }, after: { plan: 'pro' } });
  });

  test('an unknown plan or an extra field is a 400', async () => {
    const session = await t.signup('Bad Plan Bistro');
    const unknown = await t.app.inject({ method: 'POST', url: '/v1/billing/subscription/plan', headers: bearer(session), payload: { plan: 'platinum' } });
    assert.equal(problem(unknown).code, 'validation_failed');
    const extra = await t.app.inject({ method: 'POST', url: '/v1/billing/subscription/plan', headers: bearer(session), payload: { plan: 'pro', tenantId: session.tenant.id } });
    assert.equal(problem(extra).code, 'validation_failed');
  });

  test('a downgrade below current usage is refused with the limits in the way', async () => {
    const session = await t.signup('Big Bistro');
    for (const name of ['North', 'South']) {
      await t.platform.tenancy.withTenant({ tenantId: session.tenant.id }, (trx) => trx.insertInto('branches').values({ tenant_id: session.tenant.id, name, timezone: 'UTC' }).execute());
    }
    const res = await t.app.inject({ method: 'POST', url: '/v1/billing/subscription/plan', headers: bearer(session), payload: { plan: 'starter' } });
    assert.equal(res.statusCode, 409);
    const body = problem(res);
    assert.equal(body.code, 'plan_limits_exceeded');
    assert.deepEqual(body.limits, [{ limit: 'branches', current: 2, allowed: 1 }]);
  });

  test('on a paying subscription an upgrade is charged at once and changes nothing until it is paid', async () => {
    const session = await t.signup('Upgrade Bistro');
    const clock = await convertTrial(session);
    const before = await t.getSubscription(session);
    assert.equal(before.status, 'active');
    assert.notEqual(before.plan, 'enterprise');
    const { subscriptionId } = await t.providerIds(session.tenant.id);
    const priceAtProvider = async () => (await t.stripe.subscriptions.retrieve(subscriptionId)).items.data[0]!.price.lookup_key;
    const priceBefore = await priceAtProvider();
    const planChanges = () =>
      t.platform.tenancy.withTenant({ tenantId: session.tenant.id }, (trx) => trx.selectFrom('audit_events').select('id').where('tenant_id', '=', session.tenant.id).where('action', '=', 'billing.plan_change').execute());

    // The card now declines: the upgrade is refused with the reason, and nothing changed anywhere.
    await t.addCard(session, 'pm_card_chargeCustomerFail');
    await t.settle();
    const declined = await t.app.inject({ method: 'POST', url: '/v1/billing/subscription/plan', headers: bearer(session), payload: { plan: 'enterprise' } });
    assert.equal(declined.statusCode, 402, declined.body);
    const body = problem(declined);
    assert.equal(body.code, 'payment_required');
    assert.equal(body.plan, 'enterprise');
    assert.equal(body.currentPlan, before.plan);
    assert.ok(body.declineCode);
    await t.settle();
    assert.equal(await priceAtProvider(), priceBefore, 'the provider kept the plan');
    const after = await t.getSubscription(session);
    assert.equal(after.plan, before.plan);
    assert.equal(after.status, 'active', 'a refused upgrade leaves the subscription as it was');
    assert.equal((await planChanges()).length, 0);

    // With a card that pays, the proration is invoiced and paid now, and the plan changes.
    await t.addCard(session);
    await t.settle();
    const paid = await t.app.inject({ method: 'POST', url: '/v1/billing/subscription/plan', headers: bearer(session), payload: { plan: 'enterprise' } });
    assert.equal(paid.statusCode, 200, paid.body);
    assert.equal(paid.json().plan, 'enterprise');
    assert.equal(await priceAtProvider(), 'enterprise');
    const invoices = await t.stripe.invoices.list({ subscription: subscriptionId });
    const proration = invoices.data.filter((i) => i.billing_reason === 'subscription_update');
    assert.equal(proration.length, 1, 'one invoice for the change: the declined attempt left none');
    assert.equal(proration[0]!.status, 'paid');
    assert.ok(proration[0]!.amount_paid > 0);
    assert.equal((await planChanges()).length, 1);
  });

  test('an upgrade of a paying subscription whose card was removed at the provider is a 402 naming it, not a 400 passing on the provider message', async () => {
    const session = await t.signup('Cardless Bistro');
    await convertTrial(session);
    const before = await t.getSubscription(session);
    assert.equal(before.status, 'active');
    const { customerId } = await t.providerIds(session.tenant.id);
    for (const pm of (await t.stripe.paymentMethods.list({ customer: customerId })).data) await t.stripe.paymentMethods.detach(pm.id);
    await t.settle();
    const res = await t.app.inject({ method: 'POST', url: '/v1/billing/subscription/plan', headers: bearer(session), payload: { plan: 'enterprise' } });
    assert.equal(res.statusCode, 402, res.body);
    assert.equal(problem(res).code, 'payment_required');
    assert.equal(problem(res).declineCode, 'no_payment_method');
    assert.equal((await t.getSubscription(session)).plan, before.plan);
  });

  test('a change the provider refuses (canceled there, its webhook not yet in) is 409 with its reason, and Brigade catches up before answering', async () => {
    const session = await t.signup('Stale Bistro');
    const { subscriptionId } = await t.providerIds(session.tenant.id);
    await t.stripe.subscriptions.cancel(subscriptionId);
    assert.equal((await t.getSubscription(session)).status, 'trialing', 'the webhook has not been delivered');
    const res = await t.app.inject({ method: 'POST', url: '/v1/billing/subscription/plan', headers: bearer(session), payload: { plan: 'pro' } });
    assert.equal(res.statusCode, 409, res.body);
    const body = problem(res);
    assert.equal(body.code, 'invalid_state');
    assert.match(String(body.providerMessage), /canceled/i);
    assert.equal((await t.getSubscription(session)).status, 'canceled', 'brought in step with the provider');
    const again = await t.app.inject({ method: 'POST', url: '/v1/billing/subscription/cancel', headers: bearer(session), payload: { atPeriodEnd: true } });
    assert.equal(again.statusCode, 409);
    assert.equal(problem(again).code, 'invalid_state');
  });

  test('cancel at period end, undo it, then cancel now: each reaches the provider and is audited', async () => {
    const session = await t.signup('Cancel Bistro');
    const { subscriptionId } = await t.providerIds(session.tenant.id);
    const scheduled = await t.app.inject({ method: 'POST', url: '/v1/billing/subscription/cancel', headers: bearer(session), payload: { atPeriodEnd: true } });
    assert.equal(scheduled.statusCode, 200, scheduled.body);
    assert.equal(scheduled.json().cancelAtPeriodEnd, true);
    assert.equal(scheduled.json().status, 'trialing');
    assert.equal((await t.stripe.subscriptions.retrieve(subscriptionId)).cancel_at_period_end, true);

    const undone = await t.app.inject({ method: 'POST', url: '/v1/billing/subscription/undo-cancel', headers: bearer(session) });
    assert.equal(undone.json().cancelAtPeriodEnd, false);
    assert.equal((await t.stripe.subscriptions.retrieve(subscriptionId)).cancel_at_period_end, false);

    const now = await t.app.inject({ method: 'POST', url: '/v1/billing/subscription/cancel', headers: bearer(session), payload: { atPeriodEnd: false } });
    assert.equal(now.json().status, 'canceled');
    assert.equal(now.json().readOnly, true);
    assert.ok(now.json().retainUntil);
    assert.equal((await t.stripe.subscriptions.retrieve(subscriptionId)).status, 'canceled');

    const actions = await t.platform.tenancy.withTenant({ tenantId: session.tenant.id }, (trx) =>
      trx.selectFrom('audit_events').select('action').where('tenant_id', '=', session.tenant.id).where('action', 'like', 'billing.%').orderBy('seq').execute(),
    );
    assert.deepEqual(
      actions.map((a) => a.action),
      ['billing.cancel', 'billing.cancel_undone', 'billing.status_changed', 'billing.cancel'],
    );
  });
});

describe('checkout', () => {
  test('the same Idempotency-Key gives the same hosted page, and the provider opens one session', async () => {
    const session = await t.signup('Idempotent Bistro');
    const headers = { ...bearer(session), 'idempotency-key': 'checkout-once-1' };
    const first = await t.app.inject({ method: 'POST', url: '/v1/billing/payment-method', headers, payload: {} });
    const again = await t.app.inject({ method: 'POST', url: '/v1/billing/payment-method', headers, payload: {} });
    assert.equal(first.statusCode, 201, first.body);
    assert.equal(again.headers['idempotent-replayed'], 'true');
    assert.equal(again.json().id, first.json().id);
    const { customerId } = await t.providerIds(session.tenant.id);
    assert.equal((await t.stripe.checkout.sessions.list({ customer: customerId })).data.length, 1);
    const other = await t.app.inject({ method: 'POST', url: '/v1/billing/payment-method', headers, payload: { successUrl: 'https://example.com/done' } });
    assert.equal(problem(other).code, 'idempotency_key_reused');
  });

  test('opening a Checkout for Pro during the trial changes no plan until the owner completes it', async () => {
    const session = await t.signup('Undecided Bistro');
    const { subscriptionId } = await t.providerIds(session.tenant.id);
    const remotePlan = async () => (await t.stripe.subscriptions.retrieve(subscriptionId)).items.data[0]!.price.lookup_key;
    const before = await remotePlan();
    const res = await t.app.inject({ method: 'POST', url: '/v1/billing/checkout', headers: bearer(session), payload: { plan: 'pro' } });
    assert.equal(res.statusCode, 201, res.body);
    assert.equal(res.json().mode, 'setup');
    assert.equal(res.json().plan, 'pro');
    assert.equal(res.json().currentPlan, 'trial');
    await t.settle();
    // Opened, not completed: nothing moved, here or at the provider.
    assert.equal(await remotePlan(), before);
    const open = await t.getSubscription(session);
    assert.equal(open.plan, 'trial');
    assert.equal(open.status, 'trialing');

    const done = await fetch(`${t.sim.url}/_sim/checkout/${res.json().id}/complete`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ payment_method: 'pm_card_visa' }) });
    assert.equal(done.status, 200);
    await t.settle();
    assert.equal(await remotePlan(), 'pro');
    const confirmed = await t.getSubscription(session);
    assert.equal(confirmed.plan, 'pro');
    assert.equal(confirmed.status, 'trialing', 'completing the page during the trial keeps the trial');
    assert.equal(confirmed.paymentMethod.last4, '4242');
  });

  test('a Checkout for a plan the business does not fit in is refused before any page is opened', async () => {
    const session = await t.signup('Crowded Bistro');
    for (const name of ['North', 'South']) {
      assert.equal((await t.app.inject({ method: 'POST', url: '/v1/branches', headers: bearer(session), payload: { name } })).statusCode, 201);
    }
    const { customerId } = await t.providerIds(session.tenant.id);
    const res = await t.app.inject({ method: 'POST', url: '/v1/billing/checkout', headers: bearer(session), payload: { plan: 'starter' } });
    assert.equal(res.statusCode, 409);
    assert.equal(problem(res).code, 'plan_limits_exceeded');
    assert.equal((await t.stripe.checkout.sessions.list({ customer: customerId })).data.length, 0);
  });

  test('a business whose subscription ended subscribes again through a hosted page and is active at once', async () => {
    const session = await t.signup('Returning Bistro');
    await t.app.inject({ method: 'POST', url: '/v1/billing/subscription/cancel', headers: bearer(session), payload: { atPeriodEnd: false } });
    assert.equal((await t.getSubscription(session)).status, 'canceled');
    const res = await t.app.inject({ method: 'POST', url: '/v1/billing/checkout', headers: bearer(session), payload: { plan: 'pro' } });
    assert.equal(res.statusCode, 201, res.body);
    assert.equal(res.json().mode, 'subscription');
    const page = await fetch(res.json().url);
    assert.equal(page.status, 200);
    const done = await fetch(`${t.sim.url}/_sim/checkout/${res.json().id}/complete`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ payment_method: 'pm_card_visa' }) });
    assert.equal(done.status, 200);
    await t.settle();
    const sub = await t.getSubscription(session);
    assert.equal(sub.status, 'active');
    assert.equal(sub.plan, 'pro');
    assert.equal(sub.readOnly, false);
  });
});

describe('the trial at its end', () => {
  test('a card added during the trial converts it to a paid plan with a confirmation and an invoice', async () => {
    const session = await t.signup('Convert Bistro');
    const clock = await t.onClock(session.tenant.id);
    await t.addCard(session);
    await t.settle();
    assert.equal((await t.getSubscription(session)).paymentMethod.last4, '4242');
    await t.advanceClock(clock, 15 * DAY_SECONDS);
    await t.settle();
    const sub = await t.getSubscription(session);
    assert.equal(sub.status, 'active');
    assert.equal(sub.plan, 'starter');
    const history = (await t.app.inject({ method: 'GET', url: '/v1/billing/history', headers: bearer(session) })).json();
    assert.ok(history.notices.some((n: { kind: string }) => n.kind === 'converted'));
    const invoices = (await t.app.inject({ method: 'GET', url: '/v1/billing/invoices', headers: bearer(session) })).json();
    const paid = invoices.data.find((i: { status: string; amountPaidMinor: number }) => i.status === 'paid' && i.amountPaidMinor > 0);
    assert.ok(paid, JSON.stringify(invoices));
    assert.equal(paid.amountPaidMinor, 2900);
    assert.match(paid.hostedInvoiceUrl, /\/_sim\/invoices\//);
    assert.equal((await fetch(paid.hostedInvoiceUrl)).status, 200);

    // Operators see the same invoices on the business's page (billing facts: no grant needed),
    // and only that business's.
    const op = await anOperator(t);
    const seen = (await t.app.inject({ method: 'GET', url: `/ops/api/billing/invoices?tenantId=${session.tenant.id}`, headers: bearer(op.token) })).json();
    assert.deepEqual(seen.data, invoices.data);
    const other = await t.signup('Other Bistro');
    const theirs = (await t.app.inject({ method: 'GET', url: `/ops/api/billing/invoices?tenantId=${other.tenant.id}`, headers: bearer(op.token) })).json();
    const mine = new Set(invoices.data.map((i: { id: string }) => i.id));
    assert.ok(theirs.data.every((i: { id: string }) => !mine.has(i.id)), 'no invoice of the first business in the other\'s list');
    assert.equal((await t.app.inject({ method: 'GET', url: `/ops/api/billing/invoices?tenantId=${session.tenant.id}`, headers: bearer(session) })).statusCode, 401, 'a tenant token is refused');
  });

  test('a trial that ends on a plan the business outgrew leaves it over_limit: nothing removed, no more added, the owner mailed, operators see it', async () => {
    const session = await t.signup('Outgrown Bistro');
    for (const name of ['North', 'South']) {
      assert.equal((await t.app.inject({ method: 'POST', url: '/v1/branches', headers: bearer(session), payload: { name } })).statusCode, 201);
    }
    const clock = await convertTrial(session);
    const sub = await t.getSubscription(session);
    assert.equal(sub.status, 'active');
    assert.equal(sub.plan, 'starter');
    assert.deepEqual(sub.overLimit, [{ limit: 'branches', current: 2, allowed: 1 }]);
    assert.ok(sub.warnings.some((w: { code: string }) => w.code === 'over_limit'));
    // Both branches keep working; a third is refused with the limit named.
    const third = await t.app.inject({ method: 'POST', url: '/v1/branches', headers: bearer(session), payload: { name: 'East' } });
    assert.equal(third.statusCode, 402);
    assert.equal(problem(third).limit, 'branches');
    assert.equal((await t.app.inject({ method: 'GET', url: '/v1/branches', headers: bearer(session) })).json().data.length, 2);
    const mails = await t.platform.tenancy.withSystem('test', (trx) =>
      trx.selectFrom('outbox').select('payload').where('tenant_id', '=', session.tenant.id).where('type', '=', 'mail.billing_notice').execute(),
    );
    assert.equal(mails.filter((m) => (m.payload as { kind: string }).kind === 'over_limit').length, 1);
    const operator = await anOperator(t);
    const ops = await t.app.inject({ method: 'GET', url: `/ops/api/tenants?q=${encodeURIComponent('Outgrown Bistro')}`, headers: { authorization: `Bearer ${operator.token}` } });
    assert.equal(ops.statusCode, 200, ops.body);
    assert.deepEqual(ops.json().data[0].overLimit, [{ limit: 'branches', current: 2, allowed: 1 }]);
    // Settling again (a duplicated webhook, a reconciliation) mails nothing more.
    await t.billing.reconciler.reconcile({ trigger: 'test', tenantId: session.tenant.id });
    await t.settle();
    const again = await t.platform.tenancy.withSystem('test', (trx) =>
      trx.selectFrom('outbox').select('payload').where('tenant_id', '=', session.tenant.id).where('type', '=', 'mail.billing_notice').execute(),
    );
    assert.equal(again.filter((m) => (m.payload as { kind: string }).kind === 'over_limit').length, 1);
    // Back within the plan, the state is gone by itself.
    const branches = (await t.app.inject({ method: 'GET', url: '/v1/branches', headers: bearer(session) })).json().data;
    assert.equal((await t.app.inject({ method: 'DELETE', url: `/v1/branches/${branches[0].id}`, headers: bearer(session) })).statusCode, 204);
    const within = await t.getSubscription(session);
    assert.deepEqual(within.overLimit, []);
    assert.ok(!within.warnings.some((w: { code: string }) => w.code === 'over_limit'));
  });

  test('a plan changed at the provider (its dashboard, a webhook) to one the business outgrew leaves it over_limit with a notice', async () => {
    const session = await t.signup('Dashboard Bistro');
    for (const name of ['North', 'South']) {
      assert.equal((await t.app.inject({ method: 'POST', url: '/v1/branches', headers: bearer(session), payload: { name } })).statusCode, 201);
    }
    const { subscriptionId } = await t.providerIds(session.tenant.id);
    const remote = await t.stripe.subscriptions.retrieve(subscriptionId);
    const [starter] = (await t.stripe.prices.list({ lookup_keys: ['starter'] })).data;
    await t.stripe.subscriptions.update(subscriptionId, { items: [{ id: remote.items.data[0]!.id, price: starter!.id }], metadata: { planChosen: 'true' } });
    await t.settle();
    const sub = await t.getSubscription(session);
    assert.equal(sub.plan, 'starter');
    assert.deepEqual(sub.overLimit, [{ limit: 'branches', current: 2, allowed: 1 }]);
    const audit = await t.platform.tenancy.withTenant({ tenantId: session.tenant.id }, (trx) =>
      trx.selectFrom('audit_events').select(['changes']).where('tenant_id', '=', session.tenant.id).where('action', '=', 'billing.over_limit').execute(),
    );
    assert.equal(audit.length, 1);
    assert.equal((audit[0]!.changes as { source: string }).source, 'webhook');
    const history = (await t.app.inject({ method: 'GET', url: '/v1/billing/history', headers: bearer(session) })).json();
    assert.ok(history.notices.some((n: { kind: string }) => n.kind === 'over_limit'));
  });

  test('a trial that ends without a card goes to grace with a notice, never a silent cut-off', async () => {
    const session = await t.signup('Grace Bistro');
    const clock = await t.onClock(session.tenant.id);
    await t.advanceClock(clock, 15 * DAY_SECONDS);
    await t.settle();
    const sub = await t.getSubscription(session);
    assert.equal(sub.status, 'grace');
    assert.equal(sub.readOnly, false);
    assert.ok(sub.graceEndsAt);
    assert.ok(sub.warnings.some((w: { code: string }) => w.code === 'grace_period'));
    const notices = await t.platform.tenancy.withTenant({ tenantId: session.tenant.id }, (trx) =>
      trx.selectFrom('billing_notices').select(['kind']).where('tenant_id', '=', session.tenant.id).execute(),
    );
    assert.ok(notices.some((n) => n.kind === 'trial_ended'));
    const mails = await t.platform.tenancy.withSystem('test', (trx) =>
      trx.selectFrom('outbox').select('payload').where('tenant_id', '=', session.tenant.id).where('type', '=', 'mail.billing_notice').execute(),
    );
    assert.ok(mails.some((m) => (m.payload as { kind: string }).kind === 'trial_ended'));
    // Writes still work in grace.
    const write = await t.app.inject({ method: 'POST', url: '/v1/billing/subscription/plan', headers: bearer(session), payload: { plan: 'pro' } });
    assert.equal(write.statusCode, 200, write.body);
  });

  test('a card added in grace pays the open invoice at once and the business is active again', async () => {
    const session = await t.signup('Rescue Bistro');
    const clock = await t.onClock(session.tenant.id);
    await t.advanceClock(clock, 15 * DAY_SECONDS);
    await t.settle();
    assert.equal((await t.getSubscription(session)).status, 'grace');
    await t.addCard(session);
    await t.settle();
    const sub = await t.getSubscription(session);
    assert.equal(sub.status, 'active');
    assert.equal(sub.graceEndsAt, null);
  });

  test('a failing card after conversion moves to past_due with dunning mails per attempt, then to read-only', async () => {
    const session = await t.signup('Dunning Bistro');
    const clock = await convertTrial(session);
    assert.equal((await t.getSubscription(session)).status, 'active');
    // The card now fails every charge.
    await t.addCard(session, 'pm_card_chargeCustomerFail');
    await t.settle();
    await t.advanceClock(clock, 31 * DAY_SECONDS);
    await t.settle();
    const sub = await t.getSubscription(session);
    assert.equal(sub.status, 'past_due');
    assert.ok(sub.warnings.some((w: { code: string }) => w.code === 'payment_failed'));
    await t.advanceClock(clock, 4 * DAY_SECONDS);
    await t.settle();
    const dunning = await t.platform.tenancy.withTenant({ tenantId: session.tenant.id }, (trx) =>
      trx.selectFrom('billing_notices').select(['kind', 'key']).where('tenant_id', '=', session.tenant.id).where('kind', 'in', ['dunning', 'payment_failed']).orderBy('created_at').execute(),
    );
    assert.deepEqual(dunning.map((d) => d.kind).sort(), ['dunning', 'dunning', 'payment_failed']);

    // Brigade's own clock: past_due longer than BRIGADE_PAST_DUE_DAYS becomes read-only.
    const later = new Date(Date.now() + 11 * 86_400_000);
    const summary = await t.billing.lifecycle.sweep(later);
    assert.ok(summary.suspended >= 1);
    const suspended = await t.getSubscription(session);
    assert.equal(suspended.status, 'suspended');
    assert.equal(suspended.readOnly, true);
  });
});
