import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { aTenant, bearer, type Session } from '../../../test/harness.ts';
import { billingTestContext, type BillingTestContext } from './billing.fixtures.ts';
import { sendBillingNotice } from './billing.jobs.ts';
import { createMailer } from '../../platform/mail.ts';

let t: BillingTestContext;
const DAY = 86_400_000;

before(async () => {
  t = await billingTestContext();
});
after(() => t.close());

const noticesOf = (session: Session) =>
  t.platform.tenancy.withTenant({ tenantId: session.tenant.id }, (trx) =>
    trx.selectFrom('billing_notices').select(['kind', 'key', 'subject']).where('tenant_id', '=', session.tenant.id).orderBy('created_at').execute(),
  );

const trialEnd = async (session: Session) => new Date((await t.getSubscription(session)).trialEndsAt as string);

describe('trial reminders', () => {
  test('go out 7, 3 and 1 days before the end, each once however often the sweep runs', async () => {
    const session = await t.signup('Reminded Bistro');
    const end = await trialEnd(session);
    const at = (daysLeft: number) => new Date(end.getTime() - daysLeft * DAY + 60_000);
    await t.billing.lifecycle.sweep(at(10));
    assert.deepEqual(await noticesOf(session), []);
    for (const days of [7, 7, 6, 3, 2.5, 1, 1]) await t.billing.lifecycle.sweep(at(days));
    const reminders = (await noticesOf(session)).filter((n) => n.key.startsWith('trial_reminder:'));
    assert.deepEqual(reminders.map((n) => n.subject), ['Your Brigade trial ends in 7 days', 'Your Brigade trial ends in 3 days', 'Your Brigade trial ends in 1 day']);
    const mails = await t.platform.tenancy.withSystem('test', (trx) =>
      trx.selectFrom('outbox').select('payload').where('tenant_id', '=', session.tenant.id).where('type', '=', 'mail.billing_notice').orderBy('created_at').execute(),
    );
    assert.equal(mails.length, 3);

    // The mail job sends each notice to the owners once, however often it runs (the built-in catcher keeps them).
    const mailer = createMailer(t.platform.config, t.platform.tenancy, t.platform.log);
    const payload = mails[0]!.payload as { tenantId: string; noticeId: string };
    const job = { tenantId: payload.tenantId, jobId: 'billing-notice-test-1' };
    assert.equal(await sendBillingNotice(t.platform, mailer, job, payload.noticeId), 1);
    assert.equal(await sendBillingNotice(t.platform, mailer, job, payload.noticeId), 0);
    const caught = await t.platform.tenancy.withSystem('test', (trx) =>
      trx.selectFrom('caught_mails').select(['recipient', 'subject', 'text_body']).where('tenant_id', '=', session.tenant.id).execute(),
    );
    assert.equal(caught.length, 1);
    assert.equal(caught[0]!.recipient, session.user.email);
    assert.equal(caught[0]!.subject, 'Your Brigade trial ends in 7 days');
    assert.match(caught[0]!.text_body, /Reminded Bistro ends on/);
  });

  test('a business with a card on file is not nagged', async () => {
    const session = await t.signup('Carded Bistro');
    await t.addCard(session);
    await t.settle();
    const end = await trialEnd(session);
    await t.billing.lifecycle.sweep(new Date(end.getTime() - 2 * DAY));
    assert.deepEqual((await noticesOf(session)).filter((n) => n.key.startsWith('trial_reminder:')), []);
  });
});

describe('time running out', () => {
  test('a trial that ends while the provider never had a subscription for it still ends in grace, with a notice', async () => {
    const session = await aTenant(t.app, 'Unprovisioned Bistro');
    // Its provisioning job never ran.
    await t.platform.tenancy.withSystem('test', (trx) => trx.updateTable('outbox').set({ relayed_at: new Date() }).where('tenant_id', '=', session.tenant.id).execute());
    const end = await trialEnd(session);
    await t.billing.lifecycle.sweep(new Date(end.getTime() + 60_000));
    const sub = await t.getSubscription(session);
    assert.equal(sub.status, 'grace');
    assert.ok((await noticesOf(session)).some((n) => n.kind === 'trial_ended'));
  });

  test('grace that runs out makes the business read-only, but not before the provider is asked', async () => {
    const session = await t.signup('Lapsed Bistro');
    const clock = await t.onClock(session.tenant.id);
    await t.advanceClock(clock, 15 * 86_400);
    await t.settle();
    const sub = await t.getSubscription(session);
    assert.equal(sub.status, 'grace');
    const graceEnds = new Date(sub.graceEndsAt as string);
    await t.billing.lifecycle.sweep(new Date(graceEnds.getTime() - 60_000));
    assert.equal((await t.getSubscription(session)).status, 'grace');

    // The provider is down when grace ends: nobody loses access over it.
    t.sim.setFaults({ outage: { mode: 'unavailable', requests: 1000 } });
    const deferred = await t.billing.lifecycle.sweep(new Date(graceEnds.getTime() + 60_000));
    t.sim.setFaults({});
    assert.ok(deferred.deferred >= 1);
    assert.equal((await t.getSubscription(session)).status, 'grace');

    await t.billing.lifecycle.sweep(new Date(graceEnds.getTime() + 60_000));
    const after = await t.getSubscription(session);
    assert.equal(after.status, 'suspended');
    assert.equal(after.readOnly, true);
    assert.ok((await noticesOf(session)).some((n) => n.kind === 'suspended'));
    const write = await t.app.inject({ method: 'POST', url: '/v1/billing/subscription/plan', headers: bearer(session), payload: { plan: 'pro' } });
    assert.equal(write.statusCode, 409, 'a suspended business pays, it does not change plan');
  });

  test('a business that paid while its webhooks were lost is not suspended at the end of grace', async () => {
    const session = await t.signup('Paid Quietly Bistro');
    const clock = await t.onClock(session.tenant.id);
    await t.advanceClock(clock, 15 * 86_400);
    await t.settle();
    const graceEnds = new Date((await t.getSubscription(session)).graceEndsAt as string);
    // The business pays the open invoice on the provider's hosted page; every webhook about it is lost.
    t.sim.setFaults({ dropRate: 1 });
    const { customerId, subscriptionId } = await t.providerIds(session.tenant.id);
    const card = await t.stripe.paymentMethods.attach('pm_card_visa', { customer: customerId });
    const [open] = (await t.stripe.invoices.list({ subscription: subscriptionId, status: 'open' })).data;
    await t.stripe.invoices.pay(open!.id!, { payment_method: card.id });
    await t.settle();
    t.sim.setFaults({});
    assert.equal((await t.getSubscription(session)).status, 'grace');
    await t.billing.lifecycle.sweep(new Date(graceEnds.getTime() + 60_000));
    assert.equal((await t.getSubscription(session)).status, 'active');
  });

  test('the end of the retention period of an ended business is raised for operators', async () => {
    const session = await t.signup('Closed Bistro');
    await t.app.inject({ method: 'POST', url: '/v1/billing/subscription/cancel', headers: bearer(session), payload: { atPeriodEnd: false } });
    const retainUntil = new Date((await t.getSubscription(session)).retainUntil as string);
    assert.ok(retainUntil.getTime() - Date.now() > 89 * DAY);
    await t.billing.lifecycle.sweep(new Date(retainUntil.getTime() + 60_000));
    const alerts = await t.platform.tenancy.withSystem('test', (trx) => trx.selectFrom('alerts').select(['rule']).where('tenant_id', '=', session.tenant.id).execute());
    assert.deepEqual(alerts.map((a) => a.rule), ['billing.retention_elapsed']);
  });
});
