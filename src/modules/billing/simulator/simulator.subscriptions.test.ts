import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type Stripe from 'stripe';
import { clockStart, dayInSeconds, startHarness, type SimulatorHarness } from './simulator.fixtures.ts';

/** The subscription lifecycle, driven through the real `stripe` SDK. */

let harness: SimulatorHarness;
let stripe: Stripe;

before(async () => {
  harness = await startHarness();
  stripe = harness.stripe;
});
after(() => harness.close());

async function customerOnClock(options: { card?: string; email?: string; tenantId?: string } = {}) {
  const clock = await stripe.testHelpers.testClocks.create({ frozen_time: clockStart, name: 'lifecycle' });
  const customer = await stripe.customers.create({
    email: options.email ?? 'owner@bistro.example',
    name: 'Bistro Nord',
    metadata: { tenantId: options.tenantId ?? 'a3f1c2de-0000-4000-8000-000000000001' },
    test_clock: clock.id,
  });
  let paymentMethod: Stripe.PaymentMethod | null = null;
  if (options.card) {
    paymentMethod = await stripe.paymentMethods.attach(options.card, { customer: customer.id });
    await stripe.customers.update(customer.id, { invoice_settings: { default_payment_method: paymentMethod.id } });
  }
  return { clock, customer, paymentMethod };
}

async function eventsOfType(type: string, created?: Stripe.RangeQueryParam): Promise<Stripe.Event[]> {
  const events: Stripe.Event[] = [];
  for await (const event of stripe.events.list({ type, limit: 100, ...(created ? { created } : {}) })) events.push(event);
  return events;
}

function objectOf<T>(event: Stripe.Event): T {
  return event.data.object as unknown as T;
}

describe('catalogue', () => {
  test('the plan prices are seeded with their lookup keys and products', async () => {
    const prices = await stripe.prices.list({ lookup_keys: ['starter', 'pro', 'enterprise'], expand: ['data.product'] });
    const byKey = new Map(prices.data.map((price) => [price.lookup_key, price]));
    assert.deepEqual([...byKey.keys()].sort(), ['enterprise', 'pro', 'starter']);
    const pro = byKey.get('pro') as Stripe.Price;
    assert.equal(pro.id, 'price_pro_monthly');
    assert.equal(pro.recurring?.interval, 'month');
    assert.equal(pro.currency, 'eur');
    assert.equal((pro.product as Stripe.Product).name, 'Brigade Pro');
    assert.equal((await stripe.prices.retrieve('price_starter_monthly')).lookup_key, 'starter');
  });
});

describe('customers', () => {
  test('a customer carries the tenant id in its metadata and can be found by it', async () => {
    const tenantId = 'b7e0d1aa-0000-4000-8000-00000000beef';
    const created = await stripe.customers.create({ email: 'find@me.example', metadata: { tenantId } });
    assert.match(created.id, /^cus_/);
    assert.equal(created.object, 'customer');
    assert.equal(created.livemode, false);
    assert.equal(typeof created.created, 'number');
    const found = await stripe.customers.search({ query: `metadata['tenantId']:'${tenantId}'` });
    assert.deepEqual(
      found.data.map((c) => c.id),
      [created.id],
    );
    const updated = await stripe.customers.update(created.id, { metadata: { plan: 'pro' } });
    assert.deepEqual(updated.metadata, { tenantId, plan: 'pro' });
    const cleared = await stripe.customers.update(created.id, { metadata: { plan: '' } });
    assert.deepEqual(cleared.metadata, { tenantId });
  });

  test('lists page newest first with starting_after', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await stripe.customers.create({ email: `page${i}@list.example` })).id);
    const first = await stripe.customers.list({ limit: 2 });
    assert.deepEqual(
      first.data.map((c) => c.id),
      [ids[2], ids[1]],
    );
    assert.equal(first.has_more, true);
    const next = await stripe.customers.list({ limit: 1, starting_after: ids[1] as string });
    assert.deepEqual(
      next.data.map((c) => c.id),
      [ids[0]],
    );
  });

  test('unknown parameters, unknown ids and a wrong key are refused as Stripe refuses them', async () => {
    await assert.rejects(stripe.customers.create({ tenantId: 'x' } as Stripe.CustomerCreateParams), (error: Stripe.errors.StripeError) => {
      assert.equal(error.type, 'StripeInvalidRequestError');
      assert.equal(error.code, 'parameter_unknown');
      assert.equal(error.param, 'tenantId');
      return true;
    });
    await assert.rejects(stripe.subscriptions.retrieve('sub_missing'), (error: Stripe.errors.StripeError) => {
      assert.equal(error.statusCode, 404);
      assert.equal(error.code, 'resource_missing');
      return true;
    });
    const { default: StripeClient } = await import('stripe');
    const wrongKey = new StripeClient('sk_test_wrong', { host: harness.simulator.host, port: harness.simulator.port, protocol: 'http', maxNetworkRetries: 0 });
    await assert.rejects(wrongKey.customers.list(), (error: Stripe.errors.StripeError) => error.type === 'StripeAuthenticationError');
  });

  test('an Idempotency-Key replays the first result and refuses different parameters', async () => {
    const key = `create-customer-${Date.now()}`;
    const first = await stripe.customers.create({ email: 'once@idem.example' }, { idempotencyKey: key });
    const again = await stripe.customers.create({ email: 'once@idem.example' }, { idempotencyKey: key });
    assert.equal(again.id, first.id);
    assert.equal((await stripe.customers.list({ email: 'once@idem.example' })).data.length, 1);
    await assert.rejects(stripe.customers.create({ email: 'other@idem.example' }, { idempotencyKey: key }), (error: Stripe.errors.StripeError) => {
      assert.equal(error.type, 'StripeIdempotencyError');
      return true;
    });
  });
});

describe('payment methods', () => {
  test('attaching a test card creates a payment method of its own, attached to the customer', async () => {
    const customer = await stripe.customers.create({ email: 'card@pm.example' });
    const method = await stripe.paymentMethods.attach('pm_card_visa', { customer: customer.id });
    assert.match(method.id, /^pm_/);
    assert.notEqual(method.id, 'pm_card_visa');
    assert.equal(method.customer, customer.id);
    assert.equal(method.card?.last4, '4242');
    assert.equal(method.card?.brand, 'visa');
    const listed = await stripe.customers.listPaymentMethods(customer.id);
    assert.deepEqual(
      listed.data.map((m) => m.id),
      [method.id],
    );
    const attached = await eventsOfType('payment_method.attached');
    assert.ok(attached.some((event) => objectOf<Stripe.PaymentMethod>(event).id === method.id));
  });

  test('pm_card_chargeDeclined is declined when it is attached', async () => {
    const customer = await stripe.customers.create({ email: 'declined@pm.example' });
    await assert.rejects(stripe.paymentMethods.attach('pm_card_chargeDeclined', { customer: customer.id }), (error: Stripe.errors.StripeError) => {
      assert.equal(error.type, 'StripeCardError');
      assert.equal(error.statusCode, 402);
      assert.equal(error.code, 'card_declined');
      assert.equal(error.decline_code, 'generic_decline');
      return true;
    });
    assert.equal((await stripe.customers.listPaymentMethods(customer.id)).data.length, 0);
  });
});

describe('subscriptions', () => {
  test('a trial with a card on file converts to paid when the test clock passes the trial end', async () => {
    const { clock, customer, paymentMethod } = await customerOnClock({ card: 'pm_card_visa' });
    const subscription = await stripe.subscriptions.create({
      customer: customer.id,
      items: [{ price: 'price_starter_monthly' }],
      trial_period_days: 14,
      metadata: { tenantId: customer.metadata.tenantId as string },
      expand: ['latest_invoice'],
    });
    assert.match(subscription.id, /^sub_/);
    assert.equal(subscription.status, 'trialing');
    assert.equal(subscription.trial_start, clockStart);
    assert.equal(subscription.trial_end, clockStart + 14 * dayInSeconds);
    assert.equal(subscription.test_clock, clock.id);
    assert.equal(subscription.items.data[0]?.current_period_end, clockStart + 14 * dayInSeconds);
    const trialInvoice = subscription.latest_invoice as Stripe.Invoice;
    assert.equal(trialInvoice.amount_due, 0);
    assert.equal(trialInvoice.status, 'paid');
    assert.equal(trialInvoice.billing_reason, 'subscription_create');

    const advanced = await stripe.testHelpers.testClocks.advance(clock.id, { frozen_time: clockStart + 15 * dayInSeconds });
    assert.equal(advanced.status, 'ready');
    assert.equal(advanced.frozen_time, clockStart + 15 * dayInSeconds);

    const converted = await stripe.subscriptions.retrieve(subscription.id);
    assert.equal(converted.status, 'active');
    const item = converted.items.data[0] as Stripe.SubscriptionItem;
    assert.equal(item.current_period_start, clockStart + 14 * dayInSeconds);
    assert.equal(item.current_period_end, Date.UTC(2030, 1, 28, 9) / 1000, 'a month after the trial end, from the billing-cycle anchor');
    const invoice = await stripe.invoices.retrieve(converted.latest_invoice as string);
    assert.equal(invoice.status, 'paid');
    assert.equal(invoice.billing_reason, 'subscription_cycle');
    assert.equal(invoice.amount_paid, 2900);
    assert.equal(invoice.currency, 'eur');
    assert.equal(invoice.attempt_count, 1);
    assert.equal(invoice.parent?.subscription_details?.subscription, subscription.id);
    assert.equal(invoice.lines.data[0]?.pricing?.price_details?.price, 'price_starter_monthly');
    assert.equal(invoice.status_transitions.paid_at, clockStart + 14 * dayInSeconds);
    assert.match(invoice.number ?? '', /^[A-Z0-9]{8}-\d{4}$/);
    assert.ok(paymentMethod);

    const page = await fetch(invoice.hosted_invoice_url as string);
    assert.equal(page.status, 200);
    assert.match(await page.text(), new RegExp(`Invoice ${invoice.number}[\\s\\S]*€29\\.00`));
    const pdf = await fetch(invoice.invoice_pdf as string);
    assert.equal(pdf.headers.get('content-type'), 'application/pdf');
    assert.match(await pdf.text(), /^%PDF-1\.4[\s\S]*29\.00 EUR[\s\S]*%%EOF\n$/);

    const since = { gte: clockStart };
    const willEnd = (await eventsOfType('customer.subscription.trial_will_end', since)).filter((e) => objectOf<Stripe.Subscription>(e).id === subscription.id);
    assert.equal(willEnd.length, 1);
    assert.equal(willEnd[0]?.created, clockStart + 11 * dayInSeconds, 'three days before the trial ends, on the clock');
    assert.equal(willEnd[0]?.request?.id, null, 'time passing is not an API request');
    const paid = (await eventsOfType('invoice.paid', since)).filter((e) => objectOf<Stripe.Invoice>(e).id === invoice.id);
    assert.equal(paid.length, 1);
    const updates = (await eventsOfType('customer.subscription.updated', since)).filter((e) => objectOf<Stripe.Subscription>(e).id === subscription.id);
    const conversion = updates.find((e) => objectOf<Stripe.Subscription>(e).status === 'active');
    assert.ok(conversion);
    assert.equal((conversion.data.previous_attributes as { status?: string }).status, 'trialing');
    assert.equal(conversion.created, clockStart + 14 * dayInSeconds);
  });

  test('a declined renewal fails the invoice, makes the subscription past_due, and dunning cancels it after the last retry', async () => {
    const { clock, customer } = await customerOnClock({ card: 'pm_card_chargeCustomerFail' });
    const subscription = await stripe.subscriptions.create({ customer: customer.id, items: [{ price: 'price_pro_monthly' }], trial_period_days: 7 });

    await stripe.testHelpers.testClocks.advance(clock.id, { frozen_time: clockStart + 8 * dayInSeconds });
    const pastDue = await stripe.subscriptions.retrieve(subscription.id, { expand: ['latest_invoice'] });
    assert.equal(pastDue.status, 'past_due');
    const invoice = pastDue.latest_invoice as Stripe.Invoice;
    assert.equal(invoice.status, 'open');
    assert.equal(invoice.attempt_count, 1);
    assert.equal(invoice.amount_remaining, 7900);
    assert.equal(invoice.next_payment_attempt, clockStart + 7 * dayInSeconds + 3 * dayInSeconds);
    const failed = (await eventsOfType('invoice.payment_failed')).filter((e) => objectOf<Stripe.Invoice>(e).id === invoice.id);
    assert.equal(failed.length, 1);
    assert.equal(((await stripe.customers.retrieve(customer.id)) as Stripe.Customer).delinquent, true);

    // Retries 3, 5 and 7 days apart, then Stripe's default: cancel.
    await stripe.testHelpers.testClocks.advance(clock.id, { frozen_time: clockStart + 23 * dayInSeconds });
    const canceled = await stripe.subscriptions.retrieve(subscription.id);
    assert.equal(canceled.status, 'canceled');
    assert.equal(canceled.cancellation_details?.reason, 'payment_failed');
    assert.equal(canceled.ended_at, clockStart + 22 * dayInSeconds);
    assert.equal((await stripe.invoices.retrieve(invoice.id)).attempt_count, 4);
    const deleted = (await eventsOfType('customer.subscription.deleted')).filter((e) => objectOf<Stripe.Subscription>(e).id === subscription.id);
    assert.equal(deleted.length, 1);
  });

  test('paying the open invoice with a new card brings a past_due subscription back to active', async () => {
    const { clock, customer } = await customerOnClock({ card: 'pm_card_chargeCustomerFail' });
    const subscription = await stripe.subscriptions.create({ customer: customer.id, items: [{ price: 'price_starter_monthly' }], trial_period_days: 3 });
    await stripe.testHelpers.testClocks.advance(clock.id, { frozen_time: clockStart + 4 * dayInSeconds });
    const pastDue = await stripe.subscriptions.retrieve(subscription.id);
    assert.equal(pastDue.status, 'past_due');

    await assert.rejects(stripe.invoices.pay(pastDue.latest_invoice as string), (error: Stripe.errors.StripeError) => error.type === 'StripeCardError');
    const visa = await stripe.paymentMethods.attach('pm_card_visa', { customer: customer.id });
    await stripe.subscriptions.update(subscription.id, { default_payment_method: visa.id });
    const paid = await stripe.invoices.pay(pastDue.latest_invoice as string, { payment_method: visa.id });
    assert.equal(paid.status, 'paid');
    assert.equal(paid.attempt_count, 3);
    assert.equal((await stripe.subscriptions.retrieve(subscription.id)).status, 'active');
    assert.equal(((await stripe.customers.retrieve(customer.id)) as Stripe.Customer).delinquent, false);
  });

  test('a trial ending without a payment method goes past_due, or is canceled when trial_settings say so', async () => {
    const { clock, customer } = await customerOnClock();
    const invoiced = await stripe.subscriptions.create({ customer: customer.id, items: [{ price: 'price_starter_monthly' }], trial_period_days: 14 });
    const canceledAtEnd = await stripe.subscriptions.create({
      customer: customer.id,
      items: [{ price: 'price_pro_monthly' }],
      trial_period_days: 14,
      trial_settings: { end_behavior: { missing_payment_method: 'cancel' } },
    });
    await stripe.testHelpers.testClocks.advance(clock.id, { frozen_time: clockStart + 14 * dayInSeconds + 60 });
    assert.equal((await stripe.subscriptions.retrieve(invoiced.id)).status, 'past_due');
    const canceled = await stripe.subscriptions.retrieve(canceledAtEnd.id);
    assert.equal(canceled.status, 'canceled');
    assert.equal(canceled.ended_at, clockStart + 14 * dayInSeconds);
  });

  test('without a trial the first invoice is charged at once; error_if_incomplete refuses a failing card', async () => {
    const { customer } = await customerOnClock({ card: 'pm_card_visa' });
    const active = await stripe.subscriptions.create({ customer: customer.id, items: [{ price: 'price_enterprise_monthly' }], expand: ['latest_invoice'] });
    assert.equal(active.status, 'active');
    assert.equal((active.latest_invoice as Stripe.Invoice).amount_paid, 24900);

    const { customer: failing } = await customerOnClock({ card: 'pm_card_chargeCustomerFail' });
    await assert.rejects(
      stripe.subscriptions.create({ customer: failing.id, items: [{ price: 'price_pro_monthly' }], payment_behavior: 'error_if_incomplete' }),
      (error: Stripe.errors.StripeError) => error.type === 'StripeCardError' && error.code === 'card_declined',
    );
    assert.equal((await stripe.subscriptions.list({ customer: failing.id, status: 'all' })).data.length, 0);
    const incomplete = await stripe.subscriptions.create({ customer: failing.id, items: [{ price: 'price_pro_monthly' }] });
    assert.equal(incomplete.status, 'incomplete');
  });

  test('plan changes and cancellation at period end, undone and redone', async () => {
    const { clock, customer } = await customerOnClock({ card: 'pm_card_visa' });
    const subscription = await stripe.subscriptions.create({ customer: customer.id, items: [{ price: 'price_starter_monthly' }] });
    const itemId = subscription.items.data[0]?.id as string;
    const upgraded = await stripe.subscriptions.update(subscription.id, { items: [{ id: itemId, price: 'price_pro_monthly' }], proration_behavior: 'none' });
    assert.equal(upgraded.items.data[0]?.price.id, 'price_pro_monthly');
    assert.equal(upgraded.items.data[0]?.price.lookup_key, 'pro');
    const updated = (await eventsOfType('customer.subscription.updated')).find((e) => objectOf<Stripe.Subscription>(e).id === subscription.id);
    assert.ok(updated?.data.previous_attributes && 'items' in updated.data.previous_attributes);

    const periodEnd = upgraded.items.data[0]?.current_period_end as number;
    const cancelling = await stripe.subscriptions.update(subscription.id, { cancel_at_period_end: true });
    assert.equal(cancelling.cancel_at_period_end, true);
    assert.equal(cancelling.cancel_at, periodEnd);
    const kept = await stripe.subscriptions.update(subscription.id, { cancel_at_period_end: false });
    assert.equal(kept.cancel_at, null);
    assert.equal(kept.canceled_at, null);
    await stripe.subscriptions.update(subscription.id, { cancel_at_period_end: true });

    await stripe.testHelpers.testClocks.advance(clock.id, { frozen_time: periodEnd + 60 });
    const ended = await stripe.subscriptions.retrieve(subscription.id);
    assert.equal(ended.status, 'canceled');
    assert.equal(ended.ended_at, periodEnd);
    assert.equal((await stripe.subscriptions.list({ customer: customer.id })).data.length, 0, 'canceled subscriptions are left out by default');
  });

  test('an upgrade with create_prorations bills the difference on the next invoice', async () => {
    const { clock, customer } = await customerOnClock({ card: 'pm_card_visa' });
    const subscription = await stripe.subscriptions.create({ customer: customer.id, items: [{ price: 'price_starter_monthly' }] });
    const start = subscription.items.data[0]?.current_period_start as number;
    const end = subscription.items.data[0]?.current_period_end as number;
    const half = start + Math.floor((end - start) / 2);
    await stripe.testHelpers.testClocks.advance(clock.id, { frozen_time: half });
    await stripe.subscriptions.update(subscription.id, { items: [{ id: subscription.items.data[0]?.id as string, price: 'price_pro_monthly' }] });
    await stripe.testHelpers.testClocks.advance(clock.id, { frozen_time: end + 60 });
    const renewed = await stripe.invoices.retrieve((await stripe.subscriptions.retrieve(subscription.id)).latest_invoice as string);
    const prorated = renewed.lines.data.filter((line) => line.parent?.subscription_item_details?.proration);
    assert.equal(prorated.length, 2);
    assert.equal(renewed.amount_paid, 7900 + Math.round(7900 / 2) - Math.round(2900 / 2));
  });

  test('ending a trial now bills at once; a canceled subscription cannot be changed', async () => {
    const { customer } = await customerOnClock({ card: 'pm_card_visa' });
    const subscription = await stripe.subscriptions.create({ customer: customer.id, items: [{ price: 'price_pro_monthly' }], trial_period_days: 30 });
    const converted = await stripe.subscriptions.update(subscription.id, { trial_end: 'now' });
    assert.equal(converted.status, 'active');
    assert.equal(converted.trial_end, clockStart);
    const canceled = await stripe.subscriptions.cancel(subscription.id, { cancellation_details: { comment: 'closing the restaurant' } });
    assert.equal(canceled.status, 'canceled');
    assert.equal(canceled.cancellation_details?.comment, 'closing the restaurant');
    await assert.rejects(stripe.subscriptions.update(subscription.id, { cancel_at_period_end: true }), (error: Stripe.errors.StripeError) => error.statusCode === 400);
    const relabelled = await stripe.subscriptions.update(subscription.id, { metadata: { note: 'kept' } });
    assert.equal(relabelled.metadata.note, 'kept');
  });

  test('a test clock refuses to move back or more than two intervals ahead', async () => {
    const { clock, customer } = await customerOnClock({ card: 'pm_card_visa' });
    await stripe.subscriptions.create({ customer: customer.id, items: [{ price: 'price_starter_monthly' }] });
    await assert.rejects(stripe.testHelpers.testClocks.advance(clock.id, { frozen_time: clockStart - 1 }), (error: Stripe.errors.StripeError) => error.statusCode === 400);
    await assert.rejects(
      stripe.testHelpers.testClocks.advance(clock.id, { frozen_time: clockStart + 70 * dayInSeconds }),
      (error: Stripe.errors.StripeError) => error.statusCode === 400 && /two intervals/.test(error.message),
    );
  });
});

describe('checkout', () => {
  test('a checkout session completed on the simulator creates the customer and the subscription', async () => {
    const session = await stripe.checkout.sessions.create({
      mode: 'subscription',
      line_items: [{ price: 'price_pro_monthly', quantity: 1 }],
      customer_email: 'new-owner@cafe.example',
      client_reference_id: 'tenant-42',
      success_url: 'https://brigade.example/billing/done?session={CHECKOUT_SESSION_ID}',
      cancel_url: 'https://brigade.example/billing',
      subscription_data: { trial_period_days: 14, metadata: { tenantId: 'tenant-42' } },
      metadata: { tenantId: 'tenant-42' },
    });
    assert.match(session.id, /^cs_test_/);
    assert.equal(session.status, 'open');
    assert.equal(session.url, `${harness.simulator.url}/_sim/checkout/${session.id}`);
    const page = await fetch(session.url as string);
    assert.equal(page.status, 200);
    assert.match(await page.text(), /Brigade Pro/);

    const viaBrowser = await fetch(`${harness.simulator.url}/_sim/checkout/${session.id}/complete`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'payment_method=pm_card_chargeDeclined',
      redirect: 'manual',
    });
    assert.equal(viaBrowser.status, 402, 'a declined card leaves the session open');
    assert.equal((await stripe.checkout.sessions.retrieve(session.id)).status, 'open');

    const done = await fetch(`${harness.simulator.url}/_sim/checkout/${session.id}/complete`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'payment_method=pm_card_visa',
      redirect: 'manual',
    });
    assert.equal(done.status, 303);
    assert.equal(done.headers.get('location'), `https://brigade.example/billing/done?session=${session.id}`);

    const completed = await stripe.checkout.sessions.retrieve(session.id, { expand: ['subscription'] });
    assert.equal(completed.status, 'complete');
    assert.equal(completed.payment_status, 'no_payment_required');
    const subscription = completed.subscription as Stripe.Subscription;
    assert.equal(subscription.status, 'trialing');
    assert.equal(subscription.metadata.tenantId, 'tenant-42');
    assert.match(subscription.default_payment_method as string, /^pm_/);
    const customer = await stripe.customers.retrieve(completed.customer as string);
    assert.equal((customer as Stripe.Customer).email, 'new-owner@cafe.example');
    const completedEvents = (await eventsOfType('checkout.session.completed')).filter((e) => objectOf<Stripe.Checkout.Session>(e).id === session.id);
    assert.equal(completedEvents.length, 1);
    assert.equal(objectOf<Stripe.Checkout.Session>(completedEvents[0] as Stripe.Event).client_reference_id, 'tenant-42');
  });

  test('setup mode saves a card through a SetupIntent', async () => {
    const customer = await stripe.customers.create({ email: 'setup@cafe.example' });
    const session = await stripe.checkout.sessions.create({ mode: 'setup', customer: customer.id, currency: 'eur', success_url: 'https://brigade.example/ok' });
    const response = await fetch(`${harness.simulator.url}/_sim/checkout/${session.id}/complete`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ payment_method: 'pm_card_mastercard' }),
    });
    assert.equal(response.status, 200);
    const completed = await stripe.checkout.sessions.retrieve(session.id, { expand: ['setup_intent'] });
    const intent = completed.setup_intent as Stripe.SetupIntent;
    assert.equal(intent.status, 'succeeded');
    const method = await stripe.paymentMethods.retrieve(intent.payment_method as string);
    assert.equal(method.customer, customer.id);
    assert.equal(method.card?.brand, 'mastercard');
  });
});
