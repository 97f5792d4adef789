import { changeTracker, type EventRecorder } from './simulator.events.ts';
import { cardDeclined, invalidRequest, resourceMissing, type SimulatedApiError } from './simulator.errors.ts';
import type { SeededRandom } from './simulator.random.ts';
import {
  newId,
  type BillingReason,
  type CardDetails,
  type CheckoutSessionObject,
  type CustomerObject,
  type InvoiceLineObject,
  type InvoiceObject,
  type Metadata,
  type MissingPaymentMethodBehaviour,
  type PaymentMethodObject,
  type PendingLine,
  type PriceObject,
  type RecurringInterval,
  type SimulatorState,
  type SubscriptionBookkeeping,
  type SubscriptionItemObject,
  type SubscriptionObject,
  type Unix,
} from './simulator.state.ts';

/**
 * The behaviour behind the API: customers and cards, subscriptions and their lifecycle,
 * invoices and charges, and time passing (test clocks and the wall clock). Functions validate
 * everything first and change state only once nothing can fail, so a refused request leaves no
 * trace (the API has no transactions to roll back).
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

const day = 86_400;
/** Stripe expires an unpaid first invoice's subscription after 23 hours. */
const incompleteLifetime = 23 * 3600;
/** customer.subscription.trial_will_end is sent three days before the trial ends. */
const trialWillEndLead = 3 * day;

// ---------------------------------------------------------------------------------------------
// Test cards

interface Decline {
  code: string;
  declineCode: string;
  message: string;
}

interface TestCard {
  brand: string;
  last4: string;
  funding: 'credit' | 'debit';
  /** Declined when attached to a customer (Stripe checks the card then). */
  onAttach?: Decline;
  /** Declined whenever it is charged. */
  onCharge?: Decline;
}

const genericDecline: Decline = { code: 'card_declined', declineCode: 'generic_decline', message: 'Your card was declined.' };

/** Stripe's test cards, usable as `pm_card_<name>` (PaymentMethod) or `tok_<name>` (token). */
const testCards: Record<string, TestCard> = {
  visa: { brand: 'visa', last4: '4242', funding: 'credit' },
  visa_debit: { brand: 'visa', last4: '5556', funding: 'debit' },
  mastercard: { brand: 'mastercard', last4: '4444', funding: 'credit' },
  amex: { brand: 'amex', last4: '8431', funding: 'credit' },
  chargeDeclined: { brand: 'visa', last4: '0002', funding: 'credit', onAttach: genericDecline, onCharge: genericDecline },
  chargeDeclinedInsufficientFunds: {
    brand: 'visa',
    last4: '9995',
    funding: 'credit',
    onAttach: { code: 'card_declined', declineCode: 'insufficient_funds', message: 'Your card has insufficient funds.' },
    onCharge: { code: 'card_declined', declineCode: 'insufficient_funds', message: 'Your card has insufficient funds.' },
  },
  chargeDeclinedExpiredCard: {
    brand: 'visa',
    last4: '0069',
    funding: 'credit',
    onAttach: { code: 'expired_card', declineCode: 'expired_card', message: 'Your card has expired.' },
    onCharge: { code: 'expired_card', declineCode: 'expired_card', message: 'Your card has expired.' },
  },
  // Attaching succeeds; every later charge fails: the card for testing dunning.
  chargeCustomerFail: { brand: 'visa', last4: '0341', funding: 'credit', onCharge: genericDecline },
};

const cardsByLast4 = new Map(Object.values(testCards).map((card) => [card.last4, card]));

export function testCardName(reference: string): string | null {
  const match = /^(?:pm_card_|tok_)(.+)$/.exec(reference);
  return match && match[1] && testCards[match[1]] ? match[1] : null;
}

function cardDetails(card: TestCard): CardDetails {
  return {
    brand: card.brand,
    display_brand: card.brand,
    checks: { address_line1_check: null, address_postal_code_check: null, cvc_check: 'unchecked' },
    country: 'US',
    exp_month: 12,
    exp_year: new Date().getUTCFullYear() + 3,
    fingerprint: `fp${card.last4}${card.brand}`.padEnd(16, 'x').slice(0, 16),
    funding: card.funding,
    last4: card.last4,
    networks: { available: [card.brand], preferred: null },
    wallet: null,
  };
}

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

function bookkeeping(ctx: BillingContext, subscriptionId: string): SubscriptionBookkeeping {
  const books = ctx.state.data.subscriptionBookkeeping;
  return (books[subscriptionId] ??= { trialWillEndSentFor: null, pendingProrations: [] });
}

// ---------------------------------------------------------------------------------------------
// Customers

export interface CustomerInput {
  email?: string;
  name?: string;
  description?: string;
  phone?: string;
  metadata: Metadata;
  paymentMethod?: string;
  defaultPaymentMethod?: string;
  testClock?: string;
}

export function createCustomer(ctx: BillingContext, input: CustomerInput): CustomerObject {
  if (input.testClock && !ctx.state.data.testClocks[input.testClock]) throw resourceMissing('test clock', input.testClock, 'test_clock');
  const clock = input.testClock ?? null;
  const at = ctx.state.now(clock);
  const paymentMethod = input.paymentMethod ? preparePaymentMethod(ctx, input.paymentMethod, null, 'payment_method') : null;
  if (input.defaultPaymentMethod && input.defaultPaymentMethod !== input.paymentMethod) {
    throw invalidRequest(`The customer does not have a payment method with the ID ${input.defaultPaymentMethod}. The payment method must be attached to the customer.`, {
      param: 'invoice_settings[default_payment_method]',
    });
  }
  const customer: CustomerObject = {
    id: newId('cus'),
    object: 'customer',
    address: null,
    balance: 0,
    created: at,
    currency: null,
    default_source: null,
    delinquent: false,
    description: input.description ?? null,
    email: input.email ?? null,
    invoice_prefix: newId('x').slice(2, 10).toUpperCase(),
    invoice_settings: { custom_fields: null, default_payment_method: null, footer: null, rendering_options: null },
    livemode: false,
    metadata: input.metadata,
    name: input.name ?? null,
    next_invoice_sequence: 1,
    phone: input.phone ?? null,
    preferred_locales: [],
    shipping: null,
    tax_exempt: 'none',
    test_clock: clock,
  };
  ctx.state.data.customers[customer.id] = customer;
  ctx.events.record('customer.created', customer, at);
  if (paymentMethod) {
    const attached = attachPreparedPaymentMethod(ctx, paymentMethod, customer, at);
    if (input.defaultPaymentMethod) {
      const track = changeTracker(customer);
      customer.invoice_settings.default_payment_method = attached.id;
      ctx.events.record('customer.updated', customer, at, track());
    }
  }
  return customer;
}

export interface CustomerUpdate {
  email?: string | null;
  name?: string | null;
  description?: string | null;
  phone?: string | null;
  metadata?: Metadata;
  defaultPaymentMethod?: string | null;
}

export function updateCustomer(ctx: BillingContext, id: string, update: CustomerUpdate): CustomerObject {
  const customer = requireCustomer(ctx, id, 'id');
  if (update.defaultPaymentMethod) requireAttachedPaymentMethod(ctx, update.defaultPaymentMethod, customer.id, 'invoice_settings[default_payment_method]');
  const track = changeTracker(customer);
  if (update.email !== undefined) customer.email = update.email;
  if (update.name !== undefined) customer.name = update.name;
  if (update.description !== undefined) customer.description = update.description;
  if (update.phone !== undefined) customer.phone = update.phone;
  if (update.metadata !== undefined) customer.metadata = update.metadata;
  if (update.defaultPaymentMethod !== undefined) customer.invoice_settings.default_payment_method = update.defaultPaymentMethod;
  const previous = track();
  if (Object.keys(previous).length > 0) ctx.events.record('customer.updated', customer, ctx.state.now(customer.test_clock), previous);
  return customer;
}

// ---------------------------------------------------------------------------------------------
// Payment methods

/** A payment method about to be attached: an existing unattached one, or a fresh one from a test card. */
interface PreparedPaymentMethod {
  existing: PaymentMethodObject | null;
  card: TestCard;
}

function preparePaymentMethod(ctx: BillingContext, reference: string, customerId: string | null, param: string): PreparedPaymentMethod {
  const name = testCardName(reference);
  if (name) {
    const card = testCards[name] as TestCard;
    if (card.onAttach) throw cardDeclined(card.onAttach.message, card.onAttach.declineCode, undefined, card.onAttach.code);
    return { existing: null, card };
  }
  const existing = ctx.state.data.paymentMethods[reference];
  if (!existing) throw resourceMissing('PaymentMethod', reference, param);
  if (existing.customer && existing.customer !== customerId) {
    throw invalidRequest('The payment method you provided has already been attached to a customer.', { param, code: 'payment_method_unexpected_state' });
  }
  const card = cardsByLast4.get(existing.card.last4) ?? (testCards.visa as TestCard);
  if (!existing.customer && card.onAttach) throw cardDeclined(card.onAttach.message, card.onAttach.declineCode, existing.id, card.onAttach.code);
  return { existing, card };
}

function attachPreparedPaymentMethod(ctx: BillingContext, prepared: PreparedPaymentMethod, customer: CustomerObject, at: Unix): PaymentMethodObject {
  const method = prepared.existing ?? buildPaymentMethod(ctx, prepared.card, at);
  if (method.customer === customer.id) return method;
  method.customer = customer.id;
  method.billing_details.email ??= customer.email;
  method.billing_details.name ??= customer.name;
  ctx.events.record('payment_method.attached', method, at);
  return method;
}

function buildPaymentMethod(ctx: BillingContext, card: TestCard, at: Unix): PaymentMethodObject {
  const method: PaymentMethodObject = {
    id: newId('pm'),
    object: 'payment_method',
    allow_redisplay: 'unspecified',
    billing_details: { address: null, email: null, name: null, phone: null },
    card: cardDetails(card),
    created: at,
    customer: null,
    livemode: false,
    metadata: {},
    type: 'card',
  };
  ctx.state.data.paymentMethods[method.id] = method;
  return method;
}

/** `POST /v1/payment_methods` with a test token (`card[token]=tok_visa`). */
export function createPaymentMethod(ctx: BillingContext, token: string, metadata: Metadata): PaymentMethodObject {
  const name = testCardName(token);
  if (!name) throw invalidRequest(`No such token: '${token}'. The simulator knows Stripe's test tokens (tok_visa, tok_chargeDeclined, tok_chargeCustomerFail, ...).`, { code: 'resource_missing', param: 'card[token]' });
  const method = buildPaymentMethod(ctx, testCards[name] as TestCard, ctx.state.now(null));
  method.metadata = metadata;
  return method;
}

/**
 * Attaches a payment method to a customer. A test-card reference (`pm_card_visa`) creates a new
 * payment method with its own id, as Stripe does; use the returned id afterwards.
 */
export function attachPaymentMethod(ctx: BillingContext, reference: string, customerId: string): PaymentMethodObject {
  const customer = requireCustomer(ctx, customerId);
  const prepared = preparePaymentMethod(ctx, reference, customer.id, 'payment_method');
  return attachPreparedPaymentMethod(ctx, prepared, customer, ctx.state.now(customer.test_clock));
}

export function detachPaymentMethod(ctx: BillingContext, id: string): PaymentMethodObject {
  const method = ctx.state.data.paymentMethods[id];
  if (!method) throw resourceMissing('PaymentMethod', id);
  if (!method.customer) throw invalidRequest('The payment method you provided is not attached to a customer so detachment is impossible.', { code: 'payment_method_unexpected_state' });
  const customer = ctx.state.data.customers[method.customer];
  const at = ctx.state.now(customer?.test_clock ?? null);
  const track = changeTracker(method);
  method.customer = null;
  if (customer && customer.invoice_settings.default_payment_method === id) {
    const trackCustomer = changeTracker(customer);
    customer.invoice_settings.default_payment_method = null;
    ctx.events.record('customer.updated', customer, at, trackCustomer());
  }
  ctx.events.record('payment_method.detached', method, at, track());
  return method;
}

function requireAttachedPaymentMethod(ctx: BillingContext, id: string, customerId: string, param: string): PaymentMethodObject {
  const method = ctx.state.data.paymentMethods[id];
  if (!method || method.customer !== customerId) {
    throw invalidRequest(`The customer does not have a payment method with the ID ${id}. The payment method must be attached to the customer.`, { param });
  }
  return method;
}

// ---------------------------------------------------------------------------------------------
// Time

export function addInterval(at: Unix, interval: RecurringInterval, count: number): Unix {
  if (interval === 'day') return at + count * day;
  if (interval === 'week') return at + count * 7 * day;
  const months = interval === 'month' ? count : count * 12;
  const d = new Date(at * 1000);
  const year = d.getUTCFullYear();
  const month = d.getUTCMonth() + months;
  const lastDay = new Date(Date.UTC(year, month + 1, 0)).getUTCDate();
  return Date.UTC(year, month, Math.min(d.getUTCDate(), lastDay), d.getUTCHours(), d.getUTCMinutes(), d.getUTCSeconds()) / 1000;
}

/** The first billing-cycle boundary after `after`, counted from the anchor so month ends do not drift. */
function nextBoundary(anchor: Unix, interval: RecurringInterval, count: number, after: Unix): Unix {
  if (anchor > after) return anchor;
  for (let k = 1; k < 100_000; k++) {
    const boundary = addInterval(anchor, interval, count * k);
    if (boundary > after) return boundary;
  }
  throw new Error('billing cycle arithmetic ran away');
}

// ---------------------------------------------------------------------------------------------
// Subscriptions

export interface SubscriptionItemInput {
  id?: string;
  price?: string;
  quantity?: number;
  metadata?: Metadata;
  deleted?: boolean;
}

export type PaymentBehavior = 'allow_incomplete' | 'default_incomplete' | 'error_if_incomplete';
export type ProrationBehavior = 'create_prorations' | 'none' | 'always_invoice';

export interface SubscriptionInput {
  customer: string;
  items: SubscriptionItemInput[];
  trialPeriodDays?: number;
  trialEnd?: Unix | 'now';
  defaultPaymentMethod?: string;
  paymentBehavior?: PaymentBehavior;
  missingPaymentMethod?: MissingPaymentMethodBehaviour;
  cancelAtPeriodEnd?: boolean;
  cancelAt?: Unix;
  metadata: Metadata;
  description?: string;
}

function planOf(price: PriceObject): SubscriptionItemObject['plan'] {
  const recurring = price.recurring as NonNullable<PriceObject['recurring']>;
  return {
    id: price.id,
    object: 'plan',
    active: price.active,
    amount: price.unit_amount,
    amount_decimal: price.unit_amount_decimal,
    billing_scheme: 'per_unit',
    created: price.created,
    currency: price.currency,
    interval: recurring.interval,
    interval_count: recurring.interval_count,
    livemode: false,
    metadata: price.metadata,
    nickname: price.nickname,
    product: price.product,
    tiers_mode: null,
    transform_usage: null,
    trial_period_days: null,
    usage_type: 'licensed',
  };
}

/** The recurrence every item of a subscription shares. */
function recurrence(subscription: SubscriptionObject): { interval: RecurringInterval; count: number } {
  const recurring = subscription.items.data[0]?.price.recurring;
  return { interval: recurring?.interval ?? 'month', count: recurring?.interval_count ?? 1 };
}

function periodOf(subscription: SubscriptionObject): { start: Unix; end: Unix } {
  const item = subscription.items.data[0] as SubscriptionItemObject;
  return { start: item.current_period_start, end: item.current_period_end };
}

function setPeriod(subscription: SubscriptionObject, start: Unix, end: Unix): void {
  for (const item of subscription.items.data) {
    item.current_period_start = start;
    item.current_period_end = end;
  }
}

function validatePrices(ctx: BillingContext, items: SubscriptionItemInput[], currency?: string): PriceObject[] {
  if (items.length === 0) throw invalidRequest('Missing required param: items.', { code: 'parameter_missing', param: 'items' });
  const prices = items.map((item, i) => {
    if (!item.price) throw invalidRequest(`Missing required param: items[${i}][price].`, { code: 'parameter_missing', param: `items[${i}][price]` });
    const price = requirePrice(ctx, item.price, `items[${i}][price]`);
    if (!price.recurring) throw invalidRequest(`The price specified is set to \`type=one_time\` but this field only accepts prices with \`type=recurring\`.`, { param: `items[${i}][price]` });
    return price;
  });
  const first = prices[0] as PriceObject;
  for (const price of prices) {
    if (price.currency !== (currency ?? first.currency)) throw invalidRequest('All prices on a subscription must have the same currency.', { param: 'items' });
    if (price.recurring?.interval !== first.recurring?.interval || price.recurring?.interval_count !== first.recurring?.interval_count) {
      throw invalidRequest('All prices on a subscription must have the same recurring interval.', { param: 'items' });
    }
  }
  return prices;
}

/** The payment method a charge for this subscription uses, as Stripe picks it. */
function effectivePaymentMethod(ctx: BillingContext, subscription: SubscriptionObject): string | null {
  const customer = ctx.state.data.customers[subscription.customer];
  return subscription.default_payment_method ?? customer?.invoice_settings.default_payment_method ?? null;
}

export function createSubscription(ctx: BillingContext, input: SubscriptionInput): SubscriptionObject {
  const customer = requireCustomer(ctx, input.customer);
  const at = ctx.state.now(customer.test_clock);
  const prices = validatePrices(ctx, input.items);
  if (input.defaultPaymentMethod) requireAttachedPaymentMethod(ctx, input.defaultPaymentMethod, customer.id, 'default_payment_method');
  const trialEnd = resolveTrialEnd(input, at);
  const firstPrice = prices[0] as PriceObject;
  const recurring = firstPrice.recurring as NonNullable<PriceObject['recurring']>;
  const anchor = trialEnd ?? at;
  const periodEnd = trialEnd ?? addInterval(at, recurring.interval, recurring.interval_count);
  if (input.cancelAt !== undefined && input.cancelAt <= at) throw invalidRequest('cancel_at must be in the future.', { param: 'cancel_at' });

  const subscriptionId = newId('sub');
  const subscription: SubscriptionObject = {
    id: subscriptionId,
    object: 'subscription',
    application: null,
    application_fee_percent: null,
    automatic_tax: { disabled_reason: null, enabled: false, liability: null },
    billing_cycle_anchor: anchor,
    billing_cycle_anchor_config: null,
    billing_thresholds: null,
    cancel_at: input.cancelAtPeriodEnd ? periodEnd : (input.cancelAt ?? null),
    cancel_at_period_end: input.cancelAtPeriodEnd ?? false,
    canceled_at: input.cancelAtPeriodEnd || input.cancelAt ? at : null,
    cancellation_details: { comment: null, feedback: null, reason: input.cancelAtPeriodEnd || input.cancelAt ? 'cancellation_requested' : null },
    collection_method: 'charge_automatically',
    created: at,
    currency: firstPrice.currency,
    customer: customer.id,
    days_until_due: null,
    default_payment_method: input.defaultPaymentMethod ?? null,
    default_source: null,
    description: input.description ?? null,
    discounts: [],
    ended_at: null,
    invoice_settings: { account_tax_ids: null, issuer: { type: 'self' } },
    items: {
      object: 'list',
      data: input.items.map((item, i) => {
        const price = prices[i] as PriceObject;
        return {
          id: newId('si'),
          object: 'subscription_item',
          billing_thresholds: null,
          created: at,
          current_period_end: periodEnd,
          current_period_start: at,
          discounts: [],
          metadata: item.metadata ?? {},
          plan: planOf(price),
          price: structuredClone(price),
          quantity: item.quantity ?? 1,
          subscription: subscriptionId,
          tax_rates: [],
        };
      }),
      has_more: false,
      total_count: input.items.length,
      url: `/v1/subscription_items?subscription=${subscriptionId}`,
    },
    latest_invoice: null,
    livemode: false,
    metadata: input.metadata,
    next_pending_invoice_item_invoice: null,
    on_behalf_of: null,
    pause_collection: null,
    payment_settings: { payment_method_options: null, payment_method_types: null, save_default_payment_method: 'off' },
    pending_invoice_item_interval: null,
    pending_setup_intent: null,
    pending_update: null,
    schedule: null,
    start_date: at,
    status: trialEnd ? 'trialing' : 'incomplete',
    test_clock: customer.test_clock,
    transfer_data: null,
    trial_end: trialEnd,
    trial_settings: { end_behavior: { missing_payment_method: input.missingPaymentMethod ?? 'create_invoice' } },
    trial_start: trialEnd ? at : null,
  };

  const lines = subscription.items.data.map((item) => itemLine(item, { start: at, end: periodEnd }, trialEnd !== null));
  // What the first invoice will ask for, after any credit on the customer's balance.
  const due = Math.max(0, lines.reduce((sum, line) => sum + line.amount, 0) + customer.balance);
  const behavior = input.paymentBehavior ?? 'allow_incomplete';
  const outcome = trialEnd || behavior === 'default_incomplete' || due === 0 ? null : decideCharge(ctx, effectivePaymentMethod(ctx, subscription));
  if (outcome && !outcome.ok && behavior === 'error_if_incomplete') throw outcome.error;

  // Nothing below can fail: commit.
  ctx.state.data.subscriptions[subscription.id] = subscription;
  bookkeeping(ctx, subscription.id);
  if (!trialEnd && behavior !== 'default_incomplete') subscription.status = due === 0 || outcome?.ok ? 'active' : 'incomplete';
  ctx.events.record('customer.subscription.created', subscription, at);
  const invoice = issueInvoice(ctx, subscription, 'subscription_create', lines, at, { start: at, end: at });
  // A trial's first invoice is for 0 and is paid at once; default_incomplete leaves it open.
  if (trialEnd || behavior !== 'default_incomplete') collectInvoice(ctx, invoice, at, { outcome, retries: 'none' });
  maybeSendTrialWillEnd(ctx, subscription, at);
  return subscription;
}

function resolveTrialEnd(input: { trialPeriodDays?: number; trialEnd?: Unix | 'now' }, at: Unix): Unix | null {
  if (input.trialEnd !== undefined && input.trialPeriodDays !== undefined) {
    throw invalidRequest('You may only specify one of these parameters: trial_end, trial_period_days.', { code: 'parameters_exclusive' });
  }
  if (input.trialPeriodDays !== undefined) return input.trialPeriodDays > 0 ? at + input.trialPeriodDays * day : null;
  if (input.trialEnd === undefined || input.trialEnd === 'now') return null;
  if (input.trialEnd <= at) throw invalidRequest('Invalid timestamp: must be an integer Unix timestamp in the future.', { param: 'trial_end' });
  return input.trialEnd;
}

function maybeSendTrialWillEnd(ctx: BillingContext, subscription: SubscriptionObject, at: Unix): void {
  if (subscription.status !== 'trialing' || subscription.trial_end === null) return;
  const books = bookkeeping(ctx, subscription.id);
  if (books.trialWillEndSentFor === subscription.trial_end) return;
  if (at < subscription.trial_end - trialWillEndLead) return;
  books.trialWillEndSentFor = subscription.trial_end;
  ctx.events.record('customer.subscription.trial_will_end', subscription, at);
}

export interface SubscriptionUpdate {
  items?: SubscriptionItemInput[];
  prorationBehavior?: ProrationBehavior;
  paymentBehavior?: PaymentBehavior | 'pending_if_incomplete';
  cancelAtPeriodEnd?: boolean;
  cancelAt?: Unix | null;
  trialEnd?: Unix | 'now';
  defaultPaymentMethod?: string | null;
  missingPaymentMethod?: MissingPaymentMethodBehaviour;
  metadata?: Metadata;
  description?: string | null;
  cancellationComment?: string | null;
}

export function updateSubscription(ctx: BillingContext, id: string, update: SubscriptionUpdate): SubscriptionObject {
  const subscription = requireSubscription(ctx, id);
  const at = ctx.state.now(subscription.test_clock);
  const ended = subscription.status === 'canceled' || subscription.status === 'incomplete_expired';
  const onlyMetadata = Object.entries(update).every(([key, value]) => value === undefined || key === 'metadata' || key === 'cancellationComment');
  if (ended && !onlyMetadata) throw invalidRequest('A canceled subscription can only update its cancellation_details and metadata.');

  // Validate everything before changing anything.
  if (update.defaultPaymentMethod) requireAttachedPaymentMethod(ctx, update.defaultPaymentMethod, subscription.customer, 'default_payment_method');
  const period = periodOf(subscription);
  if (update.cancelAt !== undefined && update.cancelAt !== null && update.cancelAt <= at) throw invalidRequest('cancel_at must be in the future.', { param: 'cancel_at' });
  if (update.trialEnd !== undefined && update.trialEnd !== 'now') {
    if (update.trialEnd <= at) throw invalidRequest('Invalid timestamp: must be an integer Unix timestamp in the future.', { param: 'trial_end' });
    if (subscription.status !== 'trialing') throw invalidRequest('Trials can only be set on a subscription that is trialing in this simulator.', { param: 'trial_end' });
  }
  const nextItems = update.items ? planItemChanges(ctx, subscription, update.items) : null;
  const prorationLines =
    nextItems && subscription.status !== 'trialing' && (update.prorationBehavior ?? 'create_prorations') !== 'none'
      ? prorations(subscription, nextItems, at, period)
      : [];
  const immediateInvoice = update.prorationBehavior === 'always_invoice' && prorationLines.length > 0;
  const immediateAmount = prorationLines.reduce((sum, line) => sum + line.amount, 0);
  const outcome = immediateInvoice && immediateAmount > 0 ? decideCharge(ctx, update.defaultPaymentMethod ?? effectivePaymentMethod(ctx, subscription)) : null;
  if (outcome && !outcome.ok && (update.paymentBehavior === 'error_if_incomplete' || update.paymentBehavior === 'pending_if_incomplete')) throw outcome.error;

  const track = changeTracker(subscription);
  if (nextItems) {
    subscription.items.data = nextItems;
    subscription.items.total_count = nextItems.length;
  }
  if (update.metadata !== undefined) subscription.metadata = update.metadata;
  if (update.description !== undefined) subscription.description = update.description;
  if (update.defaultPaymentMethod !== undefined) subscription.default_payment_method = update.defaultPaymentMethod;
  if (update.missingPaymentMethod) subscription.trial_settings = { end_behavior: { missing_payment_method: update.missingPaymentMethod } };
  if (update.cancellationComment !== undefined) subscription.cancellation_details = { ...subscription.cancellation_details, comment: update.cancellationComment };
  if (update.cancelAtPeriodEnd !== undefined) {
    subscription.cancel_at_period_end = update.cancelAtPeriodEnd;
    subscription.cancel_at = update.cancelAtPeriodEnd ? period.end : null;
    subscription.canceled_at = update.cancelAtPeriodEnd ? at : null;
    subscription.cancellation_details = { ...subscription.cancellation_details, reason: update.cancelAtPeriodEnd ? 'cancellation_requested' : null };
  }
  if (update.cancelAt !== undefined) {
    subscription.cancel_at = update.cancelAt;
    subscription.cancel_at_period_end = update.cancelAt !== null && update.cancelAt === period.end;
    subscription.canceled_at = update.cancelAt === null ? null : at;
    subscription.cancellation_details = { ...subscription.cancellation_details, reason: update.cancelAt === null ? null : 'cancellation_requested' };
  }
  if (update.trialEnd !== undefined) {
    // Ending the trial now is a trial end like any other: the time engine below bills it.
    const end = update.trialEnd === 'now' ? at : update.trialEnd;
    if (subscription.status === 'trialing') {
      subscription.trial_end = end;
      subscription.billing_cycle_anchor = end;
      setPeriod(subscription, period.start, end);
      if (subscription.cancel_at_period_end) subscription.cancel_at = end;
    }
  }
  if (prorationLines.length > 0 && !immediateInvoice) bookkeeping(ctx, subscription.id).pendingProrations.push(...prorationLines);

  let invoiceOutcome: ChargeOutcome | null = null;
  if (immediateInvoice) {
    const invoice = issueInvoice(ctx, subscription, 'subscription_update', prorationLines, at, { start: at, end: at });
    invoiceOutcome = collectInvoice(ctx, invoice, at, { outcome, retries: 'schedule' });
    if (!invoiceOutcome.ok && subscription.status === 'active') subscription.status = 'past_due';
  }
  const previous = track();
  if (Object.keys(previous).length > 0) ctx.events.record('customer.subscription.updated', subscription, at, previous);
  if (update.trialEnd !== undefined) maybeSendTrialWillEnd(ctx, subscription, at);
  if (update.trialEnd === 'now') advanceTime(ctx, subscription.test_clock, at);
  return subscription;
}

function planItemChanges(ctx: BillingContext, subscription: SubscriptionObject, changes: SubscriptionItemInput[]): SubscriptionItemObject[] {
  const next = structuredClone(subscription.items.data);
  const at = ctx.state.now(subscription.test_clock);
  const period = periodOf(subscription);
  changes.forEach((change, i) => {
    const param = `items[${i}]`;
    if (change.id) {
      const index = next.findIndex((item) => item.id === change.id);
      if (index === -1) throw invalidRequest(`Subscription item ${change.id} does not belong to this subscription.`, { param: `${param}[id]` });
      if (change.deleted) {
        next.splice(index, 1);
        return;
      }
      const item = next[index] as SubscriptionItemObject;
      if (change.price) {
        const price = requirePrice(ctx, change.price, `${param}[price]`);
        item.price = structuredClone(price);
        item.plan = planOf(price);
      }
      if (change.quantity !== undefined) item.quantity = change.quantity;
      if (change.metadata) item.metadata = change.metadata;
      return;
    }
    if (change.deleted) throw invalidRequest('An item to delete needs its id.', { param: `${param}[id]` });
    if (!change.price) throw invalidRequest(`Missing required param: ${param}[price].`, { code: 'parameter_missing', param: `${param}[price]` });
    const price = requirePrice(ctx, change.price, `${param}[price]`);
    next.push({
      id: newId('si'),
      object: 'subscription_item',
      billing_thresholds: null,
      created: at,
      current_period_end: period.end,
      current_period_start: period.start,
      discounts: [],
      metadata: change.metadata ?? {},
      plan: planOf(price),
      price: structuredClone(price),
      quantity: change.quantity ?? 1,
      subscription: subscription.id,
      tax_rates: [],
    });
  });
  if (next.length === 0) throw invalidRequest('A subscription needs at least one item.', { param: 'items' });
  validatePrices(
    ctx,
    next.map((item) => ({ price: item.price.id })),
    subscription.currency,
  );
  return next;
}

/** Credit for the unused time on the old items, charge for the remaining time on the new ones. */
function prorations(subscription: SubscriptionObject, nextItems: SubscriptionItemObject[], at: Unix, period: { start: Unix; end: Unix }): PendingLine[] {
  const fraction = period.end > period.start ? Math.max(0, period.end - at) / (period.end - period.start) : 0;
  const since = new Date(at * 1000).toISOString().slice(0, 10);
  const lines: PendingLine[] = [];
  const before = new Map(subscription.items.data.map((item) => [item.id, item]));
  const after = new Map(nextItems.map((item) => [item.id, item]));
  for (const old of subscription.items.data) {
    const now = after.get(old.id);
    if (now && now.price.id === old.price.id && now.quantity === old.quantity) continue;
    lines.push({
      description: `Unused time on ${old.quantity} × ${old.price.nickname ?? old.price.id} after ${since}`,
      amount: -Math.round(old.price.unit_amount * old.quantity * fraction),
      priceId: old.price.id,
      productId: old.price.product,
      quantity: old.quantity,
      subscriptionItemId: old.id,
      period: { start: at, end: period.end },
      proration: true,
    });
  }
  for (const item of nextItems) {
    const old = before.get(item.id);
    if (old && old.price.id === item.price.id && old.quantity === item.quantity) continue;
    lines.push({
      description: `Remaining time on ${item.quantity} × ${item.price.nickname ?? item.price.id} after ${since}`,
      amount: Math.round(item.price.unit_amount * item.quantity * fraction),
      priceId: item.price.id,
      productId: item.price.product,
      quantity: item.quantity,
      subscriptionItemId: item.id,
      period: { start: at, end: period.end },
      proration: true,
    });
  }
  return lines.filter((line) => line.amount !== 0);
}

export interface CancelInput {
  comment?: string;
  feedback?: string;
}

export function cancelSubscription(ctx: BillingContext, id: string, input: CancelInput): SubscriptionObject {
  const subscription = requireSubscription(ctx, id);
  if (subscription.status === 'canceled' || subscription.status === 'incomplete_expired') {
    throw invalidRequest(`A canceled subscription can't be canceled again: ${id}.`, { code: 'resource_missing' });
  }
  const at = ctx.state.now(subscription.test_clock);
  endSubscription(ctx, subscription, at, 'cancellation_requested', input);
  return subscription;
}

function endSubscription(
  ctx: BillingContext,
  subscription: SubscriptionObject,
  at: Unix,
  reason: 'cancellation_requested' | 'payment_failed',
  details: CancelInput = {},
): void {
  const track = changeTracker(subscription);
  subscription.status = 'canceled';
  subscription.canceled_at ??= at;
  subscription.ended_at = at;
  subscription.cancellation_details = {
    comment: details.comment ?? subscription.cancellation_details.comment,
    feedback: details.feedback ?? subscription.cancellation_details.feedback,
    reason: subscription.cancellation_details.reason ?? reason,
  };
  // Stripe stops collecting a canceled subscription's invoices.
  for (const invoice of openInvoicesOf(ctx, subscription.id)) {
    invoice.next_payment_attempt = null;
    invoice.auto_advance = false;
  }
  bookkeeping(ctx, subscription.id).pendingProrations = [];
  ctx.events.record('customer.subscription.deleted', subscription, at, track());
}

export function resumeSubscription(ctx: BillingContext, id: string): SubscriptionObject {
  const subscription = requireSubscription(ctx, id);
  if (subscription.status !== 'paused') throw invalidRequest('Only a paused subscription can be resumed.', { code: 'subscription_not_paused' });
  const at = ctx.state.now(subscription.test_clock);
  const { interval, count } = recurrence(subscription);
  const lines = subscription.items.data.map((item) => itemLine(item, { start: at, end: addInterval(at, interval, count) }, false));
  const outcome = decideCharge(ctx, effectivePaymentMethod(ctx, subscription));
  const track = changeTracker(subscription);
  subscription.billing_cycle_anchor = at;
  setPeriod(subscription, at, addInterval(at, interval, count));
  const invoice = issueInvoice(ctx, subscription, 'subscription_cycle', lines, at, { start: at, end: at });
  const result = collectInvoice(ctx, invoice, at, { outcome, retries: 'schedule' });
  subscription.status = result.ok ? 'active' : 'past_due';
  ctx.events.record('customer.subscription.resumed', subscription, at);
  ctx.events.record('customer.subscription.updated', subscription, at, track());
  return subscription;
}

// ---------------------------------------------------------------------------------------------
// Invoices and charges

type ChargeOutcome = { ok: true; paymentMethod: string | null } | { ok: false; error: SimulatedApiError };

/**
 * Decides a charge without changing anything. Always draws one number from the charge
 * generator, so the sequence of decisions does not depend on which cards were used.
 */
function decideCharge(ctx: BillingContext, paymentMethodId: string | null): ChargeOutcome {
  const injectedDecline = ctx.chargeRandom().chance(ctx.declineRate());
  if (!paymentMethodId) {
    return {
      ok: false,
      error: invalidRequest('This customer has no attached payment source or default payment method. Please consider adding a default payment method.'),
    };
  }
  const method = ctx.state.data.paymentMethods[paymentMethodId];
  const card = method ? cardsByLast4.get(method.card.last4) : undefined;
  const decline = card?.onCharge ?? (injectedDecline ? genericDecline : undefined);
  if (decline) return { ok: false, error: cardDeclined(decline.message, decline.declineCode, paymentMethodId, decline.code) };
  return { ok: true, paymentMethod: paymentMethodId };
}


function itemLine(item: SubscriptionItemObject, period: { start: Unix; end: Unix }, trial: boolean): PendingLine {
  const name = item.price.nickname ?? item.price.id;
  return {
    description: trial ? `Trial period for ${name}` : `${item.quantity} × ${name}`,
    amount: trial ? 0 : item.price.unit_amount * item.quantity,
    priceId: item.price.id,
    productId: item.price.product,
    quantity: item.quantity,
    subscriptionItemId: item.id,
    period,
    proration: false,
  };
}

function openInvoicesOf(ctx: BillingContext, subscriptionId: string): InvoiceObject[] {
  return ctx.state.invoicesOfSubscription(subscriptionId).filter((invoice) => invoice.status === 'open');
}

/**
 * Creates a subscription invoice and finalizes it at once (Stripe waits about an hour before
 * finalizing renewal invoices; nothing in Brigade depends on that hour).
 * Emits invoice.created (draft) and invoice.finalized (open).
 */
function issueInvoice(
  ctx: BillingContext,
  subscription: SubscriptionObject,
  reason: BillingReason,
  pending: PendingLine[],
  at: Unix,
  period: { start: Unix; end: Unix },
): InvoiceObject {
  const customer = requireCustomer(ctx, subscription.customer);
  const invoiceId = newId('in');
  const lines: InvoiceLineObject[] = pending.map((line) => ({
    id: newId('il'),
    object: 'line_item',
    amount: line.amount,
    currency: subscription.currency,
    description: line.description,
    discount_amounts: [],
    discountable: !line.proration,
    discounts: [],
    invoice: invoiceId,
    livemode: false,
    metadata: {},
    parent: {
      type: 'subscription_item_details',
      invoice_item_details: null,
      subscription_item_details: {
        invoice_item: null,
        proration: line.proration,
        proration_details: { credited_items: null },
        subscription: subscription.id,
        subscription_item: line.subscriptionItemId,
      },
    },
    period: line.period,
    pretax_credit_amounts: [],
    pricing: { type: 'price_details', price_details: { price: line.priceId, product: line.productId }, unit_amount_decimal: String(line.quantity ? Math.round(line.amount / line.quantity) : line.amount) },
    quantity: line.quantity,
    subscription: subscription.id,
    subtotal: line.amount,
    taxes: [],
  }));
  const total = lines.reduce((sum, line) => sum + line.amount, 0);
  const invoice: InvoiceObject = {
    id: invoiceId,
    object: 'invoice',
    account_country: 'DE',
    account_name: ctx.accountName,
    amount_due: total,
    amount_overpaid: 0,
    amount_paid: 0,
    amount_remaining: total,
    amount_shipping: 0,
    attempt_count: 0,
    attempted: false,
    auto_advance: true,
    automatic_tax: { disabled_reason: null, enabled: false, liability: null, provider: null, status: null },
    automatically_finalizes_at: null,
    billing_reason: reason,
    collection_method: 'charge_automatically',
    created: at,
    currency: subscription.currency,
    customer: customer.id,
    customer_email: customer.email,
    customer_name: customer.name,
    default_payment_method: null,
    description: null,
    discounts: [],
    due_date: null,
    effective_at: null,
    ending_balance: null,
    footer: null,
    hosted_invoice_url: null,
    invoice_pdf: null,
    issuer: { type: 'self' },
    last_finalization_error: null,
    lines: { object: 'list', data: lines, has_more: false, total_count: lines.length, url: `/v1/invoices/${invoiceId}/lines` },
    livemode: false,
    metadata: {},
    next_payment_attempt: null,
    number: null,
    parent: { type: 'subscription_details', quote_details: null, subscription_details: { metadata: { ...subscription.metadata }, subscription: subscription.id } },
    period_end: period.end,
    period_start: period.start,
    receipt_number: null,
    starting_balance: customer.balance,
    statement_descriptor: null,
    status: 'draft',
    status_transitions: { finalized_at: null, marked_uncollectible_at: null, paid_at: null, voided_at: null },
    subtotal: total,
    subtotal_excluding_tax: total,
    test_clock: subscription.test_clock,
    total,
    total_discount_amounts: [],
    total_excluding_tax: total,
    total_taxes: [],
    webhooks_delivered_at: null,
  };
  ctx.state.addInvoice(invoice);
  subscription.latest_invoice = invoice.id;
  ctx.events.record('invoice.created', invoice, at);

  // Finalize: apply the customer's credit balance (negative = credit), number the invoice.
  const afterBalance = total + customer.balance;
  invoice.amount_due = Math.max(0, afterBalance);
  invoice.amount_remaining = invoice.amount_due;
  invoice.ending_balance = Math.min(0, afterBalance);
  customer.balance = invoice.ending_balance;
  invoice.number = `${customer.invoice_prefix}-${String(customer.next_invoice_sequence).padStart(4, '0')}`;
  customer.next_invoice_sequence += 1;
  invoice.status = 'open';
  invoice.effective_at = at;
  invoice.status_transitions.finalized_at = at;
  invoice.hosted_invoice_url = `${ctx.baseUrl()}/_sim/invoices/${invoice.id}`;
  invoice.invoice_pdf = `${ctx.baseUrl()}/_sim/invoices/${invoice.id}/pdf`;
  ctx.events.record('invoice.finalized', invoice, at);
  return invoice;
}

/**
 * Attempts payment of an open invoice, with a decision already taken (`outcome`) or a fresh
 * one. Success: invoice.paid and invoice.payment_succeeded. Failure: invoice.payment_failed;
 * `retries` says whether the dunning policy schedules the next attempt (`schedule`), there is
 * none (`none`, a first invoice), or the schedule stays as it was (`keep`, a manual attempt).
 */
function collectInvoice(
  ctx: BillingContext,
  invoice: InvoiceObject,
  at: Unix,
  { outcome, retries, paymentMethod }: { outcome: ChargeOutcome | null; retries: 'schedule' | 'none' | 'keep'; paymentMethod?: string },
): ChargeOutcome {
  const customer = requireCustomer(ctx, invoice.customer);
  if (invoice.amount_due === 0) {
    markPaid(ctx, invoice, customer, at);
    return { ok: true, paymentMethod: null };
  }
  const subscription = invoice.parent ? ctx.state.data.subscriptions[invoice.parent.subscription_details.subscription] : undefined;
  const decided =
    outcome ?? decideCharge(ctx, paymentMethod ?? (subscription ? effectivePaymentMethod(ctx, subscription) : customer.invoice_settings.default_payment_method));
  invoice.attempted = true;
  invoice.attempt_count += 1;
  if (decided.ok) {
    markPaid(ctx, invoice, customer, at);
    return decided;
  }
  if (retries !== 'keep') {
    const retryIn = retries === 'schedule' ? ctx.dunning.retryDays[invoice.attempt_count - 1] : undefined;
    invoice.next_payment_attempt = retryIn === undefined ? null : at + retryIn * day;
  }
  customer.delinquent = true;
  ctx.events.record('invoice.payment_failed', invoice, at);
  return decided;
}

function markPaid(ctx: BillingContext, invoice: InvoiceObject, customer: CustomerObject, at: Unix): void {
  invoice.status = 'paid';
  invoice.amount_paid = invoice.amount_due;
  invoice.amount_remaining = 0;
  invoice.next_payment_attempt = null;
  invoice.status_transitions.paid_at = at;
  if (!ctx.state.invoicesOfCustomer(customer.id).some((other) => other.status === 'open' && other.attempted)) {
    customer.delinquent = false;
  }
  ctx.events.record('invoice.paid', invoice, at);
  ctx.events.record('invoice.payment_succeeded', invoice, at);
}

/** After an invoice is paid: a subscription with nothing left to pay becomes active again. */
function reactivateIfSettled(ctx: BillingContext, subscriptionId: string, at: Unix): void {
  const subscription = ctx.state.data.subscriptions[subscriptionId];
  if (!subscription || !['past_due', 'unpaid', 'incomplete'].includes(subscription.status)) return;
  if (openInvoicesOf(ctx, subscriptionId).length > 0) return;
  const track = changeTracker(subscription);
  subscription.status = 'active';
  ctx.events.record('customer.subscription.updated', subscription, at, track());
}

/** `POST /v1/invoices/:id/pay`: an immediate attempt; a decline answers 402 after recording it. */
export function payInvoice(ctx: BillingContext, id: string, paymentMethod?: string): InvoiceObject {
  const invoice = requireInvoice(ctx, id);
  if (invoice.status === 'paid') throw invalidRequest('Invoice is already paid', { code: 'invoice_already_paid' });
  if (invoice.status !== 'open') throw invalidRequest(`You can only pay an open invoice. This invoice is ${invoice.status}.`, { code: 'invoice_not_open' });
  if (paymentMethod) requireAttachedPaymentMethod(ctx, paymentMethod, invoice.customer, 'payment_method');
  const at = ctx.state.now(invoice.test_clock);
  // A manual attempt leaves the automatic retry schedule as it was.
  const result = collectInvoice(ctx, invoice, at, { outcome: null, retries: 'keep', ...(paymentMethod ? { paymentMethod } : {}) });
  const subscriptionId = invoice.parent?.subscription_details.subscription;
  if (result.ok && subscriptionId) reactivateIfSettled(ctx, subscriptionId, at);
  if (!result.ok) throw result.error;
  return invoice;
}

export function voidInvoice(ctx: BillingContext, id: string): InvoiceObject {
  const invoice = requireInvoice(ctx, id);
  if (invoice.status !== 'open') throw invalidRequest(`You can only void an open invoice. This invoice is ${invoice.status}.`, { code: 'invoice_not_open' });
  const at = ctx.state.now(invoice.test_clock);
  invoice.status = 'void';
  invoice.next_payment_attempt = null;
  invoice.amount_remaining = 0;
  invoice.status_transitions.voided_at = at;
  ctx.events.record('invoice.voided', invoice, at);
  const subscriptionId = invoice.parent?.subscription_details.subscription;
  if (subscriptionId) reactivateIfSettled(ctx, subscriptionId, at);
  return invoice;
}

// ---------------------------------------------------------------------------------------------
// Checkout

export interface CheckoutInput {
  mode: 'subscription' | 'setup';
  customer?: string;
  customerEmail?: string;
  clientReferenceId?: string;
  successUrl?: string;
  cancelUrl?: string;
  metadata: Metadata;
  lineItems: { price: string; quantity: number }[];
  currency?: string;
  expiresAt?: Unix;
  subscriptionData: {
    trialPeriodDays?: number;
    trialEnd?: Unix;
    metadata: Metadata;
    description?: string;
    missingPaymentMethod?: MissingPaymentMethodBehaviour;
  };
  setupIntentMetadata: Metadata;
}

export function createCheckoutSession(ctx: BillingContext, input: CheckoutInput): CheckoutSessionObject {
  const customer = input.customer ? requireCustomer(ctx, input.customer) : null;
  const at = ctx.state.now(customer?.test_clock ?? null);
  if (input.customer && input.customerEmail) throw invalidRequest('You may only specify one of these parameters: customer, customer_email.', { code: 'parameters_exclusive' });
  if (input.mode === 'subscription') {
    validatePrices(
      ctx,
      input.lineItems.map((item) => ({ price: item.price })),
    );
  } else if (input.lineItems.length > 0) {
    throw invalidRequest('line_items cannot be used in setup mode.', { param: 'line_items' });
  } else if (!input.currency && !customer) {
    throw invalidRequest('currency is required in setup mode without a customer.', { code: 'parameter_missing', param: 'currency' });
  }
  const prices = input.lineItems.map((item) => requirePrice(ctx, item.price));
  const amount = input.lineItems.reduce((sum, item, i) => sum + (prices[i] as PriceObject).unit_amount * item.quantity, 0);
  const id = newId('cs_test');
  const session: CheckoutSessionObject = {
    id,
    object: 'checkout.session',
    amount_subtotal: input.mode === 'subscription' ? amount : null,
    amount_total: input.mode === 'subscription' ? amount : null,
    cancel_url: input.cancelUrl ?? null,
    client_reference_id: input.clientReferenceId ?? null,
    created: at,
    currency: prices[0]?.currency ?? input.currency ?? null,
    customer: customer?.id ?? null,
    customer_details: null,
    customer_email: input.customerEmail ?? null,
    expires_at: input.expiresAt ?? at + day,
    invoice: null,
    livemode: false,
    metadata: input.metadata,
    mode: input.mode,
    payment_method_types: ['card'],
    payment_status: input.mode === 'setup' ? 'no_payment_required' : 'unpaid',
    setup_intent: null,
    status: 'open',
    subscription: null,
    success_url: input.successUrl ?? null,
    ui_mode: 'hosted',
    url: `${ctx.baseUrl()}/_sim/checkout/${id}`,
  };
  ctx.state.data.checkoutSessions[id] = session;
  ctx.state.data.checkoutBookkeeping[id] = {
    lineItems: input.lineItems,
    subscriptionData: {
      trialPeriodDays: input.subscriptionData.trialPeriodDays ?? null,
      trialEnd: input.subscriptionData.trialEnd ?? null,
      metadata: input.subscriptionData.metadata,
      description: input.subscriptionData.description ?? null,
      missingPaymentMethod: input.subscriptionData.missingPaymentMethod ?? null,
    },
    setupIntentMetadata: input.setupIntentMetadata,
  };
  return session;
}

/**
 * What the customer does on the hosted page: pays with a card (a test-card reference such as
 * `pm_card_visa`). Creates the customer when the session has none, attaches the card, then
 * creates the subscription (subscription mode) or a succeeded SetupIntent (setup mode), and
 * emits checkout.session.completed last. A declined card leaves the session open.
 */
export function completeCheckoutSession(ctx: BillingContext, id: string, input: { paymentMethod: string; email?: string; name?: string }): CheckoutSessionObject {
  const session = ctx.state.data.checkoutSessions[id];
  const books = ctx.state.data.checkoutBookkeeping[id];
  if (!session || !books) throw resourceMissing('checkout.session', id);
  if (session.status !== 'open') throw invalidRequest(`This Checkout Session is ${session.status} and can no longer be completed.`, { code: 'checkout_session_not_open' });
  const card = testCardName(input.paymentMethod);
  if (!card) throw invalidRequest(`Use a test card such as pm_card_visa on the simulator's checkout page, not ${input.paymentMethod}.`, { param: 'payment_method' });
  // Check the card before anything is created; a decline leaves no trace but the error.
  preparePaymentMethod(ctx, input.paymentMethod, null, 'payment_method');
  const needsCharge = session.mode === 'subscription' && !books.subscriptionData.trialPeriodDays && !books.subscriptionData.trialEnd && (session.amount_total ?? 0) > 0;
  if (needsCharge) {
    const decline = (testCards[card] as TestCard).onCharge;
    if (decline) throw cardDeclined(decline.message, decline.declineCode, undefined, decline.code);
  }

  const email = input.email ?? session.customer_email ?? null;
  const customer = session.customer
    ? requireCustomer(ctx, session.customer)
    : createCustomer(ctx, { ...(email ? { email } : {}), ...(input.name ? { name: input.name } : {}), metadata: {} });
  const at = ctx.state.now(customer.test_clock);
  const method = attachPaymentMethod(ctx, input.paymentMethod, customer.id);
  const track = changeTracker(session);
  session.customer = customer.id;
  session.customer_details = { email: customer.email, name: customer.name };

  if (session.mode === 'subscription') {
    const data = books.subscriptionData;
    const subscription = createSubscription(ctx, {
      customer: customer.id,
      items: books.lineItems.map((item) => ({ price: item.price, quantity: item.quantity })),
      ...(data.trialPeriodDays ? { trialPeriodDays: data.trialPeriodDays } : {}),
      ...(data.trialEnd ? { trialEnd: data.trialEnd } : {}),
      ...(data.description ? { description: data.description } : {}),
      ...(data.missingPaymentMethod ? { missingPaymentMethod: data.missingPaymentMethod } : {}),
      defaultPaymentMethod: method.id,
      metadata: data.metadata,
      // Checkout shows a decline on the page and keeps the session open.
      paymentBehavior: 'error_if_incomplete',
    });
    session.subscription = subscription.id;
    session.invoice = subscription.latest_invoice;
    session.payment_status = subscription.status === 'trialing' ? 'no_payment_required' : 'paid';
  } else {
    const intent = {
      id: newId('seti'),
      object: 'setup_intent' as const,
      created: at,
      customer: customer.id,
      livemode: false as const,
      metadata: books.setupIntentMetadata,
      payment_method: method.id,
      payment_method_types: ['card'],
      status: 'succeeded' as const,
      usage: 'off_session' as const,
    };
    ctx.state.data.setupIntents[intent.id] = intent;
    session.setup_intent = intent.id;
  }
  session.status = 'complete';
  session.url = null;
  ctx.events.record('checkout.session.completed', session, at, track());
  return session;
}

export function expireCheckoutSession(ctx: BillingContext, id: string, at?: Unix): CheckoutSessionObject {
  const session = ctx.state.data.checkoutSessions[id];
  if (!session) throw resourceMissing('checkout.session', id);
  if (session.status !== 'open') throw invalidRequest(`Only open Checkout Sessions can be expired. This one is ${session.status}.`, { code: 'checkout_session_not_open' });
  const when = at ?? ctx.state.now(session.customer ? ctx.state.clockOfCustomer(session.customer) : null);
  session.status = 'expired';
  session.url = null;
  ctx.events.record('checkout.session.expired', session, when);
  return session;
}

// ---------------------------------------------------------------------------------------------
// Time passing

type Transition =
  | { at: Unix; order: 0; kind: 'trial_will_end'; subscription: SubscriptionObject }
  | { at: Unix; order: 1; kind: 'retry'; invoice: InvoiceObject }
  | { at: Unix; order: 2; kind: 'cancel'; subscription: SubscriptionObject }
  | { at: Unix; order: 3; kind: 'period_end'; subscription: SubscriptionObject }
  | { at: Unix; order: 4; kind: 'expire_incomplete'; subscription: SubscriptionObject }
  | { at: Unix; order: 5; kind: 'expire_checkout'; session: CheckoutSessionObject };

function subscriptionTransition(ctx: BillingContext, subscription: SubscriptionObject): Transition | null {
  const { status } = subscription;
  if (status === 'canceled' || status === 'incomplete_expired' || status === 'paused') return null;
  if (status === 'incomplete') return { at: subscription.created + incompleteLifetime, order: 4, kind: 'expire_incomplete', subscription };
  const candidates: Transition[] = [];
  const { end } = periodOf(subscription);
  if (status === 'trialing' && subscription.trial_end !== null && bookkeeping(ctx, subscription.id).trialWillEndSentFor !== subscription.trial_end) {
    candidates.push({ at: Math.max(subscription.created, subscription.trial_end - trialWillEndLead), order: 0, kind: 'trial_will_end', subscription });
  }
  if (subscription.cancel_at !== null && subscription.cancel_at <= end) {
    candidates.push({ at: subscription.cancel_at, order: 2, kind: 'cancel', subscription });
  } else {
    candidates.push({ at: end, order: 3, kind: 'period_end', subscription });
  }
  return earliest(candidates);
}

function earliest(transitions: Transition[]): Transition | null {
  let best: Transition | null = null;
  for (const t of transitions) if (!best || t.at < best.at || (t.at === best.at && t.order < best.order)) best = t;
  return best;
}

/** The objects on one clock that time can change, gathered once per advance. */
interface ClockScope {
  subscriptions: SubscriptionObject[];
  collectable: Map<string, InvoiceObject>;
  sessions: CheckoutSessionObject[];
}

function scopeOf(ctx: BillingContext, clockId: string | null): ClockScope {
  const data = ctx.state.data;
  const live = (s: SubscriptionObject): boolean => s.status !== 'canceled' && s.status !== 'incomplete_expired';
  return {
    subscriptions: Object.values(data.subscriptions).filter((s) => s.test_clock === clockId && live(s)),
    collectable: new Map(
      Object.values(data.invoices)
        .filter((i) => i.test_clock === clockId && i.status === 'open' && i.next_payment_attempt !== null)
        .map((i) => [i.id, i]),
    ),
    sessions: Object.values(data.checkoutSessions).filter(
      (s) => s.status === 'open' && (s.customer ? ctx.state.clockOfCustomer(s.customer) : null) === clockId,
    ),
  };
}

function nextTransition(ctx: BillingContext, scope: ClockScope): Transition | null {
  const candidates: Transition[] = [];
  for (const subscription of scope.subscriptions) {
    const t = subscriptionTransition(ctx, subscription);
    if (t) candidates.push(t);
  }
  for (const invoice of scope.collectable.values()) {
    if (invoice.status !== 'open' || invoice.next_payment_attempt === null) continue;
    candidates.push({ at: invoice.next_payment_attempt, order: 1, kind: 'retry', invoice });
  }
  for (const session of scope.sessions) {
    if (session.status === 'open') candidates.push({ at: session.expires_at, order: 5, kind: 'expire_checkout', session });
  }
  return earliest(candidates);
}

/**
 * Moves the objects on one clock (a test clock, or `null` for the wall clock) forward to `to`,
 * applying every renewal, trial end, retry and cancellation due on the way, in time order, each
 * at its own time. Events carry the time at which they happened on that clock.
 */
export function advanceTime(ctx: BillingContext, clockId: string | null, to: Unix): number {
  let applied = 0;
  const clock = clockId ? ctx.state.data.testClocks[clockId] : undefined;
  const scope = scopeOf(ctx, clockId);
  for (;;) {
    const next = nextTransition(ctx, scope);
    if (!next || next.at > to) break;
    if (clock) clock.frozen_time = Math.max(clock.frozen_time, next.at);
    applyTransition(ctx, next);
    // A renewal may have issued an invoice that now waits for a retry.
    const subscriptionId = 'subscription' in next ? next.subscription.id : next.kind === 'retry' ? next.invoice.parent?.subscription_details.subscription : undefined;
    if (subscriptionId) for (const invoice of openInvoicesOf(ctx, subscriptionId)) scope.collectable.set(invoice.id, invoice);
    applied += 1;
    if (applied > 1_000_000) throw new Error('payment simulator: runaway time advance');
  }
  if (clock) clock.frozen_time = Math.max(clock.frozen_time, to);
  return applied;
}

function applyTransition(ctx: BillingContext, t: Transition): void {
  switch (t.kind) {
    case 'trial_will_end':
      bookkeeping(ctx, t.subscription.id).trialWillEndSentFor = t.subscription.trial_end;
      ctx.events.record('customer.subscription.trial_will_end', t.subscription, t.at);
      return;
    case 'cancel':
      endSubscription(ctx, t.subscription, t.at, 'cancellation_requested');
      return;
    case 'period_end':
      renew(ctx, t.subscription, t.at);
      return;
    case 'retry':
      retryInvoice(ctx, t.invoice, t.at);
      return;
    case 'expire_incomplete': {
      const track = changeTracker(t.subscription);
      t.subscription.status = 'incomplete_expired';
      t.subscription.ended_at = t.at;
      for (const invoice of openInvoicesOf(ctx, t.subscription.id)) {
        invoice.status = 'void';
        invoice.status_transitions.voided_at = t.at;
        invoice.amount_remaining = 0;
        ctx.events.record('invoice.voided', invoice, t.at);
      }
      ctx.events.record('customer.subscription.updated', t.subscription, t.at, track());
      return;
    }
    case 'expire_checkout':
      expireCheckoutSession(ctx, t.session.id, t.at);
      return;
  }
}

/** The end of a period (or of the trial): bill the next period and settle the status. */
function renew(ctx: BillingContext, subscription: SubscriptionObject, at: Unix): void {
  const endingTrial = subscription.status === 'trialing';
  const paymentMethod = effectivePaymentMethod(ctx, subscription);
  if (endingTrial && !paymentMethod) {
    const behaviour = subscription.trial_settings.end_behavior.missing_payment_method;
    if (behaviour === 'cancel') {
      endSubscription(ctx, subscription, at, 'cancellation_requested');
      return;
    }
    if (behaviour === 'pause') {
      const track = changeTracker(subscription);
      subscription.status = 'paused';
      ctx.events.record('customer.subscription.paused', subscription, at);
      ctx.events.record('customer.subscription.updated', subscription, at, track());
      return;
    }
  }

  const track = changeTracker(subscription);
  const previous = periodOf(subscription);
  const { interval, count } = recurrence(subscription);
  const end = nextBoundary(subscription.billing_cycle_anchor, interval, count, at);
  setPeriod(subscription, at, end);
  const books = bookkeeping(ctx, subscription.id);
  const lines = [...books.pendingProrations, ...subscription.items.data.map((item) => itemLine(item, { start: at, end }, false))];
  books.pendingProrations = [];
  const invoice = issueInvoice(ctx, subscription, 'subscription_cycle', lines, at, endingTrial ? { start: at, end: at } : previous);

  if (subscription.status === 'unpaid') {
    // Stripe leaves invoices of unpaid subscriptions open without attempting them.
    invoice.auto_advance = false;
  } else {
    const result = collectInvoice(ctx, invoice, at, { outcome: null, retries: 'schedule' });
    if (result.ok) {
      if (openInvoicesOf(ctx, subscription.id).length === 0) subscription.status = 'active';
      else if (endingTrial) subscription.status = 'past_due';
    } else {
      subscription.status = 'past_due';
    }
  }
  ctx.events.record('customer.subscription.updated', subscription, at, track());
}

function retryInvoice(ctx: BillingContext, invoice: InvoiceObject, at: Unix): void {
  const subscriptionId = invoice.parent?.subscription_details.subscription;
  const subscription = subscriptionId ? ctx.state.data.subscriptions[subscriptionId] : undefined;
  const result = collectInvoice(ctx, invoice, at, { outcome: null, retries: 'schedule' });
  if (!subscription) return;
  if (result.ok) {
    reactivateIfSettled(ctx, subscription.id, at);
    return;
  }
  if (invoice.next_payment_attempt !== null) return;
  // The last retry failed.
  switch (ctx.dunning.afterFinalFailure) {
    case 'cancel':
      endSubscription(ctx, subscription, at, 'payment_failed');
      return;
    case 'mark_unpaid': {
      const track = changeTracker(subscription);
      subscription.status = 'unpaid';
      ctx.events.record('customer.subscription.updated', subscription, at, track());
      return;
    }
    case 'leave_past_due':
      return;
  }
}

/**
 * Stripe refuses to advance a clock more than two intervals past the shortest subscription
 * interval on it (two years with no subscriptions).
 */
export function latestAdvance(ctx: BillingContext, clockId: string, from: Unix): Unix {
  let limit = addInterval(from, 'year', 2);
  for (const subscription of Object.values(ctx.state.data.subscriptions)) {
    if (subscription.test_clock !== clockId || subscription.status === 'canceled' || subscription.status === 'incomplete_expired') continue;
    const { interval, count } = recurrence(subscription);
    limit = Math.min(limit, addInterval(from, interval, 2 * count));
  }
  return limit;
}
