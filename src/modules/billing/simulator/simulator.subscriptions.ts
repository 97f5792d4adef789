import { addInterval, nextBoundary } from './simulator.calendar.ts';
import { bookkeeping, daySeconds, requireCustomer, requirePrice, requireSubscription, type BillingContext } from './simulator.context.ts';
import { requireAttachedPaymentMethod } from './simulator.customers.ts';
import { changeTracker } from './simulator.events.ts';
import { invalidRequest } from './simulator.errors.ts';
import { collectInvoice, decideCharge, effectivePaymentMethod, issueInvoice, itemLine, openInvoicesOf, type ChargeOutcome } from './simulator.invoices.ts';
import {
  newId,
  type MissingPaymentMethodBehaviour,
  type Metadata,
  type PendingLine,
  type PriceObject,
  type RecurringInterval,
  type SubscriptionItemObject,
  type SubscriptionObject,
  type Unix,
} from './simulator.state.ts';

/** Subscriptions: creation, changes, cancellation, and what happens at the end of a period. */

/** customer.subscription.trial_will_end is sent three days before the trial ends. */
export const trialWillEndLead = 3 * daySeconds;

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
export function recurrence(subscription: SubscriptionObject): { interval: RecurringInterval; count: number } {
  const recurring = subscription.items.data[0]?.price.recurring;
  return { interval: recurring?.interval ?? 'month', count: recurring?.interval_count ?? 1 };
}

export function periodOf(subscription: SubscriptionObject): { start: Unix; end: Unix } {
  const item = subscription.items.data[0] as SubscriptionItemObject;
  return { start: item.current_period_start, end: item.current_period_end };
}

function setPeriod(subscription: SubscriptionObject, start: Unix, end: Unix): void {
  for (const item of subscription.items.data) {
    item.current_period_start = start;
    item.current_period_end = end;
  }
}

export function validatePrices(ctx: BillingContext, items: SubscriptionItemInput[], currency?: string): PriceObject[] {
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
  if (input.trialPeriodDays !== undefined) return input.trialPeriodDays > 0 ? at + input.trialPeriodDays * daySeconds : null;
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
  // Ending the trial now is a trial end like any other.
  if (update.trialEnd === 'now' && subscription.status === 'trialing') {
    if (subscription.cancel_at !== null && subscription.cancel_at <= at) endSubscription(ctx, subscription, at, 'cancellation_requested');
    else renew(ctx, subscription, at);
  }
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

export function endSubscription(
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


/** The end of a period (or of the trial): bill the next period and settle the status. */
export function renew(ctx: BillingContext, subscription: SubscriptionObject, at: Unix): void {
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

