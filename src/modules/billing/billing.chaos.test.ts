import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type Stripe from 'stripe';
import { bearer, type Session } from '../../../test/harness.ts';
import { billingTestContext, DAY_SECONDS, type BillingTestContext } from './billing.fixtures.ts';
import { runBillingOutbox } from './billing.jobs.ts';

/**
 * The chaos run of the issue: at least 1,000 provider events for 20 businesses, of which 20%
 * are delivered twice, 20% out of order and 10% never, with an outage of the provider's API in
 * the middle. Afterwards, one reconciliation: no subscription differs from the provider, and no
 * event took effect twice.
 */
let t: BillingTestContext;
const TENANTS = 20;
const EVENTS = 1_000;
const chaos = { duplicateRate: 0.2, reorderRate: 0.2, reorderBatchSize: 6, dropRate: 0.1 };

before(async () => {
  t = await billingTestContext({ simulator: { seed: 20260601 } });
});
after(() => t.close());

/** A small seeded generator, so the run is the same every time. */
function seeded(seed: number) {
  let s = seed >>> 0;
  const next = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let x = Math.imul(s ^ (s >>> 15), 1 | s);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
  return { next, pick: <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)]! };
}

interface Business {
  session: Session;
  clock: string;
}

test('1,000 events, 20% duplicated, 20% reordered, 10% dropped, an outage: after reconciliation Brigade matches the provider and nothing happened twice', { timeout: 600_000 }, async (ctx) => {
  const businesses: Business[] = [];
  for (let i = 0; i < TENANTS; i++) {
    const session = await t.signup(`Chaos Bistro ${i}`);
    businesses.push({ session, clock: await t.onClock(session.tenant.id) });
  }
  await t.settle();

  const rnd = seeded(42);
  const api = (b: Business, method: 'POST', url: string, payload: object = {}) => t.app.inject({ method, url, headers: bearer(b.session), payload });
  const completeCheckout = async (sessionId: string, card: string) =>
    fetch(`${t.sim.url}/_sim/checkout/${sessionId}/complete`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ payment_method: card }) });

  // What businesses and the provider do; through Brigade's API where a business would.
  const actions: ((b: Business) => Promise<unknown>)[] = [
    async (b) => {
      const res = await api(b, 'POST', '/v1/billing/payment-method');
      if (res.statusCode === 201) await completeCheckout(res.json().id, rnd.next() < 0.75 ? 'pm_card_visa' : 'pm_card_chargeCustomerFail');
    },
    (b) => api(b, 'POST', '/v1/billing/subscription/plan', { plan: rnd.pick(['starter', 'pro', 'enterprise']) }),
    async (b) => {
      // A change made on the provider's side (its dashboard), which Brigade learns by webhook.
      const { subscriptionId } = await t.providerIds(b.session.tenant.id);
      await t.stripe.subscriptions.update(subscriptionId, { cancel_at_period_end: rnd.next() < 0.5 }).catch(() => undefined);
    },
    (b) => api(b, 'POST', '/v1/billing/subscription/undo-cancel'),
    (b) => t.advanceClock(b.clock, Math.floor(5 + rnd.next() * 25) * DAY_SECONDS),
    (b) => t.advanceClock(b.clock, Math.floor(5 + rnd.next() * 25) * DAY_SECONDS),
    async (b) => {
      if (rnd.next() < 0.3) await api(b, 'POST', '/v1/billing/subscription/cancel', { atPeriodEnd: false });
    },
    async (b) => {
      const res = await api(b, 'POST', '/v1/billing/checkout', { plan: rnd.pick(['starter', 'pro']) });
      if (res.statusCode === 201 && res.json().mode === 'subscription') await completeCheckout(res.json().id, 'pm_card_visa');
    },
  ];

  const startEvents = t.sim.webhookStats().events;
  const produced = () => t.sim.webhookStats().events - startEvents;
  let outageDone = false;
  let failedDuringOutage = 0;
  t.sim.setFaults(chaos);
  for (let step = 0; produced() < EVENTS; step++) {
    assert.ok(step < 5_000, `only ${produced()} events after 5,000 steps`);
    await rnd.pick(actions)(rnd.pick(businesses));
    if (step % 7 === 6) {
      await t.sim.flush();
      // Two runners take the same jobs at once, as a retried job may run beside its first attempt.
      await Promise.all([runBillingOutbox(t.platform), runBillingOutbox(t.platform)]);
    }
    if (step % 40 === 39) await t.billing.lifecycle.sweep(new Date(Date.now() + 30 * 86_400_000));
    if (!outageDone && produced() >= EVENTS / 2) {
      // Time passes for everyone at once, then the provider's API goes down while the events
      // of it are arriving: the inbox stores them, processing them fails.
      outageDone = true;
      await runBillingOutbox(t.platform);
      for (const b of businesses) {
        await t.advanceClock(b.clock, 31 * DAY_SECONDS);
        const { subscriptionId } = await t.providerIds(b.session.tenant.id);
        await t.stripe.subscriptions.update(subscriptionId, { metadata: { touchedInOutage: 'yes' }, cancel_at_period_end: false }).catch(() => undefined);
      }
      await t.sim.flush();
      t.sim.setFaults({ ...chaos, outage: { mode: 'unavailable', requests: 500 } });
      const during = await runBillingOutbox(t.platform);
      failedDuringOutage = during.failed.length;
      const refused = await api(businesses[0]!, 'POST', '/v1/billing/subscription/plan', { plan: 'enterprise' });
      assert.ok([503, 409].includes(refused.statusCode), refused.body);
      t.sim.setFaults(chaos);
    }
  }
  const stats = t.sim.webhookStats();
  assert.ok(produced() >= EVENTS);
  assert.ok(stats.duplicated >= 0.15 * produced() && stats.dropped >= 0.07 * produced() && stats.reordered >= 0.15 * produced(), JSON.stringify(stats));
  assert.ok(failedDuringOutage >= 20, `the outage failed ${failedDuringOutage} jobs`);

  // The storm is over and what still arrives arrives, into a backlog of jobs not yet run:
  // reconciliation finds Brigade behind and repairs it; the backlog then changes nothing.
  t.sim.setFaults({});
  await t.sim.flush();
  const summary = await t.billing.reconciler.reconcile({ trigger: 'test' });
  assert.equal(summary.errors, 0);
  ctx.diagnostic(`events ${produced()}: ${stats.duplicated} duplicated, ${stats.reordered} reordered, ${stats.dropped} dropped; ${failedDuringOutage} jobs failed in the outage`);
  ctx.diagnostic(`reconciliation: ${summary.eventsCaughtUp} undelivered events taken in, ${summary.divergences} divergences, ${summary.repaired} repaired`);
  await t.settle();

  // No subscription differs from the provider.
  const acceptable: Record<string, string[]> = {
    trialing: ['trialing'],
    active: ['active'],
    past_due: ['past_due', 'grace', 'suspended'],
    incomplete: ['past_due', 'grace', 'suspended'],
    unpaid: ['suspended'],
    paused: ['suspended'],
    canceled: ['canceled', 'expired'],
    incomplete_expired: ['canceled', 'expired'],
  };
  for (const b of businesses) {
    const tenantId = b.session.tenant.id;
    const local = await t.platform.tenancy.withSystem('test', (trx) => trx.selectFrom('subscriptions').selectAll().where('tenant_id', '=', tenantId).executeTakeFirstOrThrow());
    const remote = (await t.stripe.subscriptions.list({ customer: local.provider_customer_id!, status: 'all', limit: 100 })).data;
    const live = remote.filter((s) => s.status !== 'canceled' && s.status !== 'incomplete_expired').sort((x, y) => y.created - x.created);
    const truth: Stripe.Subscription = live[0] ?? remote.find((s) => s.id === local.provider_subscription_id)!;
    const item = truth.items.data[0]!;
    const where = `${b.session.tenant.name}: Brigade ${local.status}/${local.plan}, provider ${truth.status}/${item.price.lookup_key}`;
    assert.equal(local.provider_subscription_id, truth.id, where);
    assert.ok(acceptable[truth.status]!.includes(local.status), where);
    assert.equal(local.cancel_at_period_end, truth.cancel_at_period_end, where);
    assert.equal(local.current_period_end?.getTime(), item.current_period_end * 1000, where);
    const expectedPlan = truth.metadata.planChosen !== 'true' && !local.converted_at && local.status !== 'active' ? 'trial' : item.price.lookup_key;
    assert.equal(local.plan, expectedPlan, where);
  }
  assert.equal((await t.billing.reconciler.reconcile({ trigger: 'test' })).divergences, 0);

  // No event took effect twice.
  const tenantIds = businesses.map((b) => b.session.tenant.id);
  const delivered = new Set(t.sim.deliveries().filter((d) => d.ok).map((d) => d.eventId));
  await t.platform.tenancy.withSystem('test', async (trx) => {
    const inbox = await trx.selectFrom('billing_events').select(['provider_event_id', 'via', 'outcome']).execute();
    const webhookIds = inbox.filter((e) => e.via === 'webhook').map((e) => e.provider_event_id);
    for (const id of delivered) assert.ok(webhookIds.includes(id), `delivered ${id} is not in the inbox`);
    const left = await trx.selectFrom('billing_events').select(['provider_event_id', 'type', 'outcome', 'last_error', 'attempts', 'via']).where('outcome', 'in', ['pending', 'failed']).execute();
    assert.deepEqual(left, [], 'events left unprocessed');
    const jobs = await trx.selectFrom('outbox').select(['payload']).where('type', '=', 'billing.webhook_event').execute();
    const perEvent = new Map<string, number>();
    for (const j of jobs) {
      const id = (j.payload as { eventId: string }).eventId;
      perEvent.set(id, (perEvent.get(id) ?? 0) + 1);
    }
    assert.deepEqual([...perEvent.values()].filter((n) => n > 1), [], 'an event was queued twice');

    const transitions = await trx.selectFrom('subscription_transitions').selectAll().where('tenant_id', 'in', tenantIds).orderBy('at').orderBy('id').execute();
    for (const tenantId of tenantIds) {
      const mine = transitions.filter((x) => x.tenant_id === tenantId);
      // One unbroken history: every change starts where the previous one ended.
      for (let i = 1; i < mine.length; i++) assert.equal(mine[i]!.from_status, mine[i - 1]!.to_status, `${tenantId} history breaks at ${i}`);
      const byEvent = mine.filter((x) => x.provider_event_id).map((x) => `${x.provider_event_id}:${x.from_status}:${x.to_status}`);
      assert.equal(new Set(byEvent).size, byEvent.length, `${tenantId}: an event changed the status twice`);
    }

    const notices = await trx.selectFrom('billing_notices').select(['tenant_id', 'id', 'kind', 'data']).where('tenant_id', 'in', tenantIds).execute();
    const mails = await trx.selectFrom('outbox').select(['payload']).where('type', '=', 'mail.billing_notice').where('tenant_id', 'in', tenantIds).execute();
    assert.equal(mails.length, notices.length, 'a notice was mailed twice, or not at all');
    const receipts = notices.filter((n) => n.kind === 'receipt').map((n) => (n.data as { invoiceId: string }).invoiceId);
    assert.equal(new Set(receipts).size, receipts.length);

    // Every invoice the provider issued is mirrored, each once, and each paid one got its receipt.
    for (const tenantId of tenantIds) {
      const local = await trx.selectFrom('subscriptions').select('provider_customer_id').where('tenant_id', '=', tenantId).executeTakeFirstOrThrow();
      const remote = await t.stripe.invoices.list({ customer: local.provider_customer_id!, limit: 100 });
      const mirrored = await trx.selectFrom('billing_invoices').select(['provider_invoice_id', 'status', 'amount_paid_minor']).where('tenant_id', '=', tenantId).execute();
      assert.equal(mirrored.length, remote.data.length, `${tenantId}: invoices`);
      for (const invoice of remote.data) {
        const mine = mirrored.find((m) => m.provider_invoice_id === invoice.id);
        assert.equal(mine?.status, invoice.status, `${invoice.id}`);
        if (invoice.status === 'paid' && invoice.amount_paid > 0) assert.ok(receipts.includes(invoice.id!), `no receipt for ${invoice.id}`);
      }
    }
  });
});
