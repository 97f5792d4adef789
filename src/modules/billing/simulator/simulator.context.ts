import type { EventRecorder } from './simulator.events.ts';
import { invalidRequest, resourceMissing } from './simulator.errors.ts';
import type { SeededRandom } from './simulator.random.ts';
import type { CustomerObject, InvoiceObject, PriceObject, SimulatorState, SubscriptionBookkeeping, SubscriptionObject } from './simulator.state.ts';

/**
 * What the simulator's behaviour runs with. The behaviour itself is split by subject:
 * customers and cards (simulator.customers.ts), subscriptions (simulator.subscriptions.ts),
 * invoices and charges (simulator.invoices.ts), Checkout (simulator.checkout.ts) and time
 * passing (simulator.clock.ts). Functions validate everything first and change state only once
 * nothing can fail, so a refused request leaves no trace (the API has no transactions to roll
 * back).
 */

export interface DunningPolicy {
  /** Days between a failed renewal charge and each retry (Stripe's custom schedule; default 3, 5, 7). */
  retryDays: number[];
  /** What happens to the subscription when the last retry fails (Stripe's default is to cancel). */
  afterFinalFailure: 'cancel' | 'mark_unpaid' | 'leave_past_due';
}

export const defaultDunning: DunningPolicy = { retryDays: [3, 5, 7], afterFinalFailure: 'cancel' };

export interface BillingContext {
  state: SimulatorState;
  events: EventRecorder;
  /** Seeded generator for injected declines. */
  chargeRandom(): SeededRandom;
  declineRate(): number;
  baseUrl(): string;
  dunning: DunningPolicy;
  accountName: string;
}

export const daySeconds = 86_400;

// ---------------------------------------------------------------------------------------------
// Lookups

export function requireCustomer(ctx: BillingContext, id: string, param = 'customer'): CustomerObject {
  const customer = ctx.state.data.customers[id];
  if (!customer) throw resourceMissing('customer', id, param);
  return customer;
}

export function requireSubscription(ctx: BillingContext, id: string): SubscriptionObject {
  const subscription = ctx.state.data.subscriptions[id];
  if (!subscription) throw resourceMissing('subscription', id);
  return subscription;
}

export function requireInvoice(ctx: BillingContext, id: string): InvoiceObject {
  const invoice = ctx.state.data.invoices[id];
  if (!invoice) throw resourceMissing('invoice', id);
  return invoice;
}

export function requirePrice(ctx: BillingContext, id: string, param = 'price'): PriceObject {
  const price = ctx.state.data.prices[id];
  if (!price) throw resourceMissing('price', id, param);
  if (!price.active) throw invalidRequest(`The price specified is inactive. This field only accepts active prices.`, { param });
  return price;
}

export function bookkeeping(ctx: BillingContext, subscriptionId: string): SubscriptionBookkeeping {
  const books = ctx.state.data.subscriptionBookkeeping;
  return (books[subscriptionId] ??= { trialWillEndSentFor: null, pendingProrations: [] });
}
