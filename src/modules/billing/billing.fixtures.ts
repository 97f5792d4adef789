import Stripe from 'stripe';
import { createTestContext, aTenant, bearer, type TestContext, type Session } from '../../../test/harness.ts';
import { billingModule, type Billing } from './billing.module.ts';
import { runBillingOutbox } from './billing.jobs.ts';
import { simulatorSecretKey, simulatorWebhookSecret } from './billing.simulator-host.ts';
import { startPaymentSimulator, type PaymentSimulator, type PaymentSimulatorOptions } from './simulator/simulator.server.ts';

/**
 * Test fixtures for billing: the real app (real PostgreSQL and Redis) listening on a loopback
 * port, the bundled simulator whose webhooks go to it, and the real `stripe` SDK pointed at the
 * simulator for arranging what a customer does on the provider's side. Webhooks are delivered
 * and jobs run only when a test says so (`settle`), so every step is deterministic.
 */
export interface BillingTestContext extends TestContext {
  sim: PaymentSimulator;
  stripe: Stripe;
  billing: Billing;
  webhookUrl: string;
  /** Delivers pending webhooks and runs billing's jobs until nothing is left to do. */
  settle(): Promise<void>;
  /** Signs up a business and provisions it at the provider. */
  signup(name?: string): Promise<Session>;
  /** The business's provider subscription and customer ids. */
  providerIds(tenantId: string): Promise<{ customerId: string; subscriptionId: string }>;
  /** Puts the business's provider customer on a test clock at `frozenTime` (default: now). */
  onClock(tenantId: string, frozenTime?: number): Promise<string>;
  advanceClock(clockId: string, seconds: number): Promise<void>;
  /** Completes a setup-mode Checkout on the simulator's hosted page with a test card. */
  addCard(session: Session, card?: string): Promise<void>;
  getSubscription(session: Session): Promise<Record<string, any>>;
}

export async function billingTestContext(opts: { simulator?: Partial<PaymentSimulatorOptions>; env?: Record<string, string> } = {}): Promise<BillingTestContext> {
  const sim = await startPaymentSimulator({
    secretKey: simulatorSecretKey,
    webhookSecret: simulatorWebhookSecret,
    seed: 7,
    clockTickMs: 0,
    ...opts.simulator,
    webhookDelivery: { automatic: false, retryBaseMs: 5, ...opts.simulator?.webhookDelivery },
  });
  let t: TestContext;
  try {
    t = await createTestContext({ BRIGADE_SIMULATOR_PORT: String(sim.port), STRIPE_MAX_NETWORK_RETRIES: '0', ...opts.env });
  } catch (err) {
    await sim.close();
    throw err;
  }
  const address = await t.app.listen({ port: 0, host: '127.0.0.1' });
  const webhookUrl = `${address}/v1/billing/webhooks/stripe`;
  sim.setWebhookUrl(webhookUrl);
  const stripe = new Stripe(simulatorSecretKey, { host: '127.0.0.1', port: sim.port, protocol: 'http', maxNetworkRetries: 0 });
  const billing = billingModule(t.platform);

  async function settle(): Promise<void> {
    for (let round = 0; round < 50; round++) {
      await sim.flush();
      const { ran } = await runBillingOutbox(t.platform);
      const stats = sim.webhookStats();
      if (ran === 0 && stats.pending === 0 && stats.held === 0) return;
    }
    throw new Error('billing did not settle in 50 rounds');
  }

  async function providerIds(tenantId: string) {
    const row = await t.platform.tenancy.readAsTenant({ tenantId }, (db) =>
      db.selectFrom('subscriptions').select(['provider_customer_id', 'provider_subscription_id']).where('tenant_id', '=', tenantId).executeTakeFirstOrThrow(),
    );
    if (!row.provider_customer_id || !row.provider_subscription_id) throw new Error(`tenant ${tenantId} is not provisioned`);
    return { customerId: row.provider_customer_id, subscriptionId: row.provider_subscription_id };
  }

  return {
    ...t,
    sim,
    stripe,
    billing,
    webhookUrl,
    settle,
    providerIds,
    async signup(name) {
      const session = await aTenant(t.app, name);
      await settle();
      return session;
    },
    async onClock(tenantId, frozenTime = Math.floor(Date.now() / 1000)) {
      const { customerId } = await providerIds(tenantId);
      // The simulator lets an existing customer join a clock (Stripe only at creation).
      const clock = await stripe.testHelpers.testClocks.create({ frozen_time: frozenTime, customer: customerId } as Stripe.TestHelpers.TestClockCreateParams);
      return clock.id;
    },
    async advanceClock(clockId, seconds) {
      const clock = await stripe.testHelpers.testClocks.retrieve(clockId);
      await stripe.testHelpers.testClocks.advance(clockId, { frozen_time: clock.frozen_time + seconds });
    },
    async addCard(session, card = 'pm_card_visa') {
      const res = await t.app.inject({ method: 'POST', url: '/v1/billing/payment-method', headers: bearer(session), payload: {} });
      if (res.statusCode !== 201) throw new Error(`payment-method setup failed: ${res.statusCode} ${res.body}`);
      const { id } = res.json() as { id: string };
      const done = await fetch(`${sim.url}/_sim/checkout/${id}/complete`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ payment_method: card }) });
      if (done.status !== 200) throw new Error(`checkout completion failed: ${done.status} ${await done.text()}`);
    },
    async getSubscription(session) {
      const res = await t.app.inject({ method: 'GET', url: '/v1/billing/subscription', headers: bearer(session) });
      if (res.statusCode !== 200) throw new Error(`GET subscription: ${res.statusCode} ${res.body}`);
      return res.json() as Record<string, any>;
    },
    async close() {
      await sim.close();
      await t.close();
    },
  };
}

export const DAY_SECONDS = 86_400;
