import { daySeconds, requireCustomer, requireInvoice, type BillingContext } from './simulator.context.ts';
import { chargeDeclineOf, genericDecline, requireAttachedPaymentMethod } from './simulator.customers.ts';
import { changeTracker } from './simulator.events.ts';
import { cardDeclined, invalidRequest, type SimulatedApiError } from './simulator.errors.ts';
import {
  newId,
  type BillingReason,
  type CustomerObject,
  type InvoiceLineObject,
  type InvoiceObject,
  type PendingLine,
  type SubscriptionItemObject,
  type SubscriptionObject,
  type Unix,
} from './simulator.state.ts';

/** Invoices: issuing, finalizing, charging, paying by hand and voiding. */

/** The payment method a charge for this subscription uses, as Stripe picks it. */
/** The card a subscription's invoices are charged to: its own default, else the customer's; one detached since cannot be charged. */
export function effectivePaymentMethod(ctx: BillingContext, subscription: SubscriptionObject): string | null {
  const customer = ctx.state.data.customers[subscription.customer];
  const attached = (id: string | null | undefined) => (id && ctx.state.data.paymentMethods[id]?.customer === subscription.customer ? id : null);
  return attached(subscription.default_payment_method) ?? attached(customer?.invoice_settings.default_payment_method);
}

export type ChargeOutcome = { ok: true; paymentMethod: string | null } | { ok: false; error: SimulatedApiError };

/**
 * Decides a charge without changing anything. Always draws one number from the charge
 * generator, so the sequence of decisions does not depend on which cards were used.
 */
export function decideCharge(ctx: BillingContext, paymentMethodId: string | null): ChargeOutcome {
  const injectedDecline = ctx.chargeRandom().chance(ctx.declineRate());
  if (!paymentMethodId) {
    return {
      ok: false,
      error: invalidRequest('This customer has no attached payment source or default payment method. Please consider adding a default payment method.'),
    };
  }
  const method = ctx.state.data.paymentMethods[paymentMethodId];
  const decline = (method ? chargeDeclineOf(method) : undefined) ?? (injectedDecline ? genericDecline : undefined);
  if (decline) return { ok: false, error: cardDeclined(decline.message, decline.declineCode, paymentMethodId, decline.code) };
  return { ok: true, paymentMethod: paymentMethodId };
}


export function itemLine(item: SubscriptionItemObject, period: { start: Unix; end: Unix }, trial: boolean): PendingLine {
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

export function openInvoicesOf(ctx: BillingContext, subscriptionId: string): InvoiceObject[] {
  return ctx.state.invoicesOfSubscription(subscriptionId).filter((invoice) => invoice.status === 'open');
}

/**
 * Creates a subscription invoice and finalizes it at once (Stripe waits about an hour before
 * finalizing renewal invoices; nothing in Brigade depends on that hour).
 * Emits invoice.created (draft) and invoice.finalized (open).
 */
export function issueInvoice(
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
export function collectInvoice(
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
    invoice.next_payment_attempt = retryIn === undefined ? null : at + retryIn * daySeconds;
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
export function reactivateIfSettled(ctx: BillingContext, subscriptionId: string, at: Unix): void {
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
