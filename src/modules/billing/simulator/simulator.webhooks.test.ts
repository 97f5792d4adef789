import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import Stripe from 'stripe';
import { controlRequest, startHarness, startWebhookReceiver, stripeFor, testSecretKey, testWebhookSecret } from './simulator.fixtures.ts';
import { startPaymentSimulator } from './simulator.server.ts';

/** Webhook delivery, signatures, fault injection and persistence. */

const verifier = new Stripe('sk_test_unused');

/** Creates `count` customers, one event each, and returns their ids in creation order. */
async function createCustomers(stripe: Stripe, count: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < count; i++) ids.push((await stripe.customers.create({ email: `c${i}@chaos.example`, metadata: { index: String(i) } })).id);
  return ids;
}

describe('webhook delivery', () => {
  test('every delivery is signed so that stripe.webhooks.constructEvent accepts it, and a tampered body is refused', async () => {
    const harness = await startHarness();
    try {
      const customer = await harness.stripe.customers.create({ email: 'signed@hooks.example', metadata: { tenantId: 't-1' } });
      await harness.stripe.paymentMethods.attach('pm_card_visa', { customer: customer.id });
      await harness.simulator.flush();
      assert.deepEqual(
        harness.receiver.received.map((r) => r.event.type),
        ['customer.created', 'payment_method.attached'],
      );
      for (const { rawBody, signature } of harness.receiver.received) {
        assert.match(signature, /^t=\d+,v1=[0-9a-f]{64}$/);
        const event = verifier.webhooks.constructEvent(rawBody, signature, testWebhookSecret);
        assert.match(event.id, /^evt_/);
        assert.equal(event.object, 'event');
        assert.equal(event.livemode, false);
        assert.equal(event.api_version, Stripe.API_VERSION);
        assert.equal(typeof event.created, 'number');
      }
      const first = harness.receiver.received[0] as { rawBody: string; signature: string };
      const created = verifier.webhooks.constructEvent(first.rawBody, first.signature, testWebhookSecret);
      assert.equal((created.data.object as Stripe.Customer).metadata.tenantId, 't-1');
      assert.equal(created.request?.idempotency_key?.startsWith('stripe-node-retry-'), true);
      assert.throws(
        () => verifier.webhooks.constructEvent(first.rawBody.replace('t-1', 't-2'), first.signature, testWebhookSecret),
        (error: Error) => error instanceof Stripe.errors.StripeSignatureVerificationError,
      );
      assert.throws(() => verifier.webhooks.constructEvent(first.rawBody, first.signature, 'whsec_another_secret'));
    } finally {
      await harness.close();
    }
  });

  test("each event's data.object is the object as it was when the event happened", async () => {
    const harness = await startHarness();
    try {
      const customer = await harness.stripe.customers.create({ email: 'before@hooks.example', metadata: { stage: 'one' } });
      await harness.stripe.customers.update(customer.id, { email: 'after@hooks.example', metadata: { stage: 'two' } });
      await harness.simulator.flush();
      const [created, updated] = harness.receiver.received.map((r) => r.event);
      assert.equal((created?.data.object as Stripe.Customer).email, 'before@hooks.example');
      assert.equal((updated?.data.object as Stripe.Customer).email, 'after@hooks.example');
      assert.deepEqual(updated?.data.previous_attributes, { email: 'before@hooks.example', metadata: { stage: 'one' } });
      const listed = await harness.stripe.events.list({ type: 'customer.created' });
      assert.equal((listed.data[0]?.data.object as Stripe.Customer).email, 'before@hooks.example');
    } finally {
      await harness.close();
    }
  });

  test('a delivery the endpoint refuses is retried until it is accepted', async () => {
    const harness = await startHarness();
    try {
      harness.receiver.answerWith(500, 400);
      const customer = await harness.stripe.customers.create({ email: 'retry@hooks.example' });
      await harness.simulator.flush();
      assert.equal(harness.simulator.webhookStats().pending, 1);
      const [undelivered] = (await harness.stripe.events.list({ delivery_success: false })).data;
      assert.equal((undelivered?.data.object as Stripe.Customer).id, customer.id);
      await harness.simulator.flush();
      await harness.simulator.flush();
      assert.deepEqual(
        harness.simulator.deliveries().map((d) => [d.attempt, d.status, d.ok]),
        [
          [1, 500, false],
          [2, 400, false],
          [3, 200, true],
        ],
      );
      assert.equal(harness.simulator.webhookStats().pending, 0);
      assert.equal((await harness.stripe.events.list({ delivery_success: false })).data.length, 0);
    } finally {
      await harness.close();
    }
  });

  test('with automatic delivery, events reach the endpoint without a flush', async () => {
    const receiver = await startWebhookReceiver();
    const simulator = await startPaymentSimulator({ secretKey: testSecretKey, webhookSecret: testWebhookSecret, webhookUrl: receiver.url, clockTickMs: 0 });
    try {
      await stripeFor(simulator).customers.create({ email: 'auto@hooks.example' });
      await receiver.receivedCount(1);
      assert.equal(receiver.received[0]?.event.type, 'customer.created');
      assert.equal(simulator.webhookStats().pending, 0);
    } finally {
      await simulator.close();
      await receiver.close();
    }
  });
});

describe('fault injection', () => {
  const chaos = { duplicateRate: 0.3, reorderRate: 0.3, reorderBatchSize: 4, dropRate: 0.15 };

  /** Runs the same calls on a fresh simulator and reports what arrived, by creation index. */
  async function chaosRun(seed: number) {
    const harness = await startHarness({ seed, faults: chaos });
    try {
      const ids = await createCustomers(harness.stripe, 40);
      await harness.simulator.flush();
      const arrivals = harness.receiver.received.map((r) => ids.indexOf((r.event.data.object as Stripe.Customer).id));
      const listed = (await harness.stripe.events.list({ type: 'customer.created', limit: 100 })).data.length;
      const undelivered = (await harness.stripe.events.list({ delivery_success: false, limit: 100 })).data.map((e) => ids.indexOf((e.data.object as Stripe.Customer).id));
      return { arrivals, listed, undelivered, stats: harness.simulator.webhookStats() };
    } finally {
      await harness.close();
    }
  }

  test('duplicates, reordering and drops follow the seed: the same seed gives the same deliveries', async () => {
    const first = await chaosRun(7);
    const again = await chaosRun(7);
    const other = await chaosRun(8);
    assert.deepEqual(again.arrivals, first.arrivals);
    assert.notDeepEqual(other.arrivals, first.arrivals);

    const { arrivals, stats, undelivered } = first;
    assert.equal(first.listed, 40, 'dropped events are still in GET /v1/events');
    const received = new Set(arrivals);
    const dropped = [...Array(40).keys()].filter((i) => !received.has(i));
    assert.ok(dropped.length > 0, 'some events were dropped');
    assert.equal(dropped.length, stats.dropped);
    assert.deepEqual([...undelivered].sort((a, b) => a - b), dropped, 'delivery_success=false names the dropped events');
    const duplicates = arrivals.filter((index, position) => arrivals.indexOf(index) !== position);
    assert.ok(duplicates.length > 0, 'some events arrived twice');
    assert.equal(arrivals.length, 40 - stats.dropped + stats.duplicated);
    const outOfOrder = arrivals.some((index, position) => position > 0 && index < (arrivals[position - 1] as number));
    assert.ok(outOfOrder, 'some events arrived out of order');
    assert.ok(stats.reordered > 0);
  });

  test('a duplicate is the same event, byte for byte apart from the signature time', async () => {
    const harness = await startHarness({ faults: { duplicateRate: 1 } });
    try {
      await harness.stripe.customers.create({ email: 'twice@chaos.example' });
      await harness.simulator.flush();
      const [one, two] = harness.receiver.received;
      assert.equal(harness.receiver.received.length, 2);
      assert.equal(one?.rawBody, two?.rawBody);
      assert.equal(harness.simulator.webhookStats().duplicated, 1);
    } finally {
      await harness.close();
    }
  });

  test('delayed deliveries wait for their time, and a flush sends them at once', async () => {
    const receiver = await startWebhookReceiver();
    const simulator = await startPaymentSimulator({
      secretKey: testSecretKey,
      webhookSecret: testWebhookSecret,
      webhookUrl: receiver.url,
      clockTickMs: 0,
      faults: { delayMs: 60_000 },
    });
    try {
      await stripeFor(simulator).customers.create({ email: 'late@chaos.example' });
      // Held for its time (a minute away): nothing was attempted.
      assert.equal(simulator.webhookStats().delayed, 1);
      assert.deepEqual(simulator.deliveries(), []);
      assert.equal(receiver.received.length, 0);
      await simulator.flush();
      assert.equal(receiver.received.length, 1);
    } finally {
      await simulator.close();
      await receiver.close();
    }
  });

  test('an API outage answers 503 (or resets the connection) and the SDK reports it; then the API recovers', async () => {
    const harness = await startHarness();
    try {
      harness.simulator.setFaults({ outage: { mode: 'unavailable', requests: 2 } });
      await assert.rejects(harness.stripe.customers.list(), (error: Stripe.errors.StripeError) => {
        assert.equal(error.type, 'StripeAPIError');
        assert.equal(error.statusCode, 503);
        return true;
      });
      // An SDK that retries rides out the rest of the outage.
      const patient = stripeFor(harness.simulator, 1);
      const afterRetry = await patient.customers.create({ email: 'patient@outage.example' });
      assert.match(afterRetry.id, /^cus_/);

      // The SDK retries a reset connection once even with retries off, so two resets surface.
      harness.simulator.setFaults({ outage: { mode: 'reset', requests: 2 } });
      await assert.rejects(harness.stripe.customers.list(), (error: Stripe.errors.StripeError) => error.type === 'StripeConnectionError');
      assert.ok((await harness.stripe.customers.list()).data.length >= 1);
      assert.equal(harness.simulator.faults().outage, null);
    } finally {
      await harness.close();
    }
  });

  test('an outage can last for a time instead of a number of requests', async () => {
    const harness = await startHarness();
    try {
      harness.simulator.setFaults({ outage: { durationMs: 60_000 } });
      await assert.rejects(harness.stripe.customers.list(), (error: Stripe.errors.StripeError) => error.statusCode === 503);
      harness.simulator.setFaults({});
      await harness.stripe.customers.list();
    } finally {
      await harness.close();
    }
  });

  test('injected declines fail charges on any card', async () => {
    const harness = await startHarness({ faults: { declineRate: 1 } });
    try {
      const customer = await harness.stripe.customers.create({ email: 'unlucky@chaos.example' });
      const card = await harness.stripe.paymentMethods.attach('pm_card_visa', { customer: customer.id });
      const subscription = await harness.stripe.subscriptions.create({
        customer: customer.id,
        items: [{ price: 'price_starter_monthly' }],
        default_payment_method: card.id,
        expand: ['latest_invoice'],
      });
      assert.equal(subscription.status, 'incomplete');
      assert.equal((subscription.latest_invoice as Stripe.Invoice).status, 'open');
      harness.simulator.setFaults({});
      const paid = await harness.stripe.invoices.pay((subscription.latest_invoice as Stripe.Invoice).id);
      assert.equal(paid.status, 'paid');
      assert.equal((await harness.stripe.subscriptions.retrieve(subscription.id)).status, 'active');
    } finally {
      await harness.close();
    }
  });

  test('faults are set over the control API with the secret key, and invalid ones are refused', async () => {
    const harness = await startHarness();
    try {
      const set = await controlRequest(harness.simulator, 'POST', '/_sim/faults', { dropRate: 1, seed: 99 });
      assert.equal(set.status, 200);
      assert.equal(set.body.faults.dropRate, 1);
      assert.equal(set.body.seed, 99);
      await harness.stripe.customers.create({ email: 'never@chaos.example' });
      const flushed = await controlRequest(harness.simulator, 'POST', '/_sim/webhooks/flush');
      assert.equal(flushed.status, 200);
      assert.equal(flushed.body.dropped, 1);
      assert.equal(harness.receiver.received.length, 0);
      assert.equal((await controlRequest(harness.simulator, 'POST', '/_sim/faults', { dropRate: 2 })).status, 400);
      assert.equal((await controlRequest(harness.simulator, 'POST', '/_sim/faults', { sometimes: true })).status, 400);
      assert.equal((await controlRequest(harness.simulator, 'GET', '/_sim/faults', undefined, 'sk_test_wrong')).status, 401);
      const deliveries = await controlRequest(harness.simulator, 'GET', '/_sim/webhooks/deliveries');
      assert.deepEqual(deliveries.body.data, []);
    } finally {
      await harness.close();
    }
  });
});

describe('persistence', () => {
  test('with a state path, objects and pending deliveries survive a restart', async () => {
    const directory = mkdtempSync(join(tmpdir(), 'brigade-simulator-'));
    const statePath = join(directory, 'simulator.json');
    const receiver = await startWebhookReceiver();
    try {
      const options = { secretKey: testSecretKey, webhookSecret: testWebhookSecret, webhookUrl: receiver.url, statePath, clockTickMs: 0, webhookDelivery: { automatic: false } };
      const first = await startPaymentSimulator(options);
      const customer = await stripeFor(first).customers.create({ email: 'kept@restart.example', metadata: { tenantId: 't-9' } });
      await first.close();

      const second = await startPaymentSimulator(options);
      try {
        const stripe = stripeFor(second);
        const found = await stripe.customers.retrieve(customer.id);
        assert.equal((found as Stripe.Customer).email, 'kept@restart.example');
        assert.equal((await stripe.prices.list({ lookup_keys: ['pro'] })).data.length, 1, 'the catalogue is not seeded twice');
        await second.flush();
        assert.deepEqual(
          receiver.received.map((r) => r.event.type),
          ['customer.created'],
        );
      } finally {
        await second.close();
      }
    } finally {
      await receiver.close();
      rmSync(directory, { recursive: true, force: true });
    }
  });
});
