import { addInterval } from './simulator.calendar.ts';
import { bookkeeping, type BillingContext } from './simulator.context.ts';
import { expireCheckoutSession } from './simulator.checkout.ts';
import { changeTracker } from './simulator.events.ts';
import { collectInvoice, openInvoicesOf, reactivateIfSettled } from './simulator.invoices.ts';
import { endSubscription, periodOf, recurrence, renew, trialWillEndLead } from './simulator.subscriptions.ts';
import type { CheckoutSessionObject, InvoiceObject, SubscriptionObject, Unix } from './simulator.state.ts';

/**
 * Time passing: on a test clock when it is advanced, on the wall clock for everything else.
 * Finds what falls due (trial_will_end, period ends, retries, scheduled cancellations, expiries)
 * and applies it in time order.
 */

/** Stripe expires an unpaid first invoice's subscription after 23 hours. */
const incompleteLifetime = 23 * 3600;

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
