import type { SubscriptionStatus } from './billing.states.ts';
import { planOf } from './billing.plans.ts';
import type { ProviderInvoice } from './billing.provider.ts';

/**
 * What Brigade tells a business about its subscription. Each notice has a key that makes it
 * unique per business (a retried job or a duplicated webhook gives no second mail); the mail
 * job `mail.billing_notice` sends it to the business's owners.
 */
export interface Notice {
  kind: string;
  key: string;
  subject: string;
  body: string;
  data?: Record<string, unknown>;
}

const day = (d: Date | null, timezone: string) =>
  d ? new Intl.DateTimeFormat('en-GB', { dateStyle: 'long', timeZone: timezone }).format(d) : 'soon';

const money = (minor: number, currency: string) => new Intl.NumberFormat('en-GB', { style: 'currency', currency }).format(minor / 100);

export interface NoticeContext {
  businessName: string;
  timezone: string;
  billingUrl: string;
}

export function trialReminder(ctx: NoticeContext, daysLeft: number, trialEndsAt: Date): Notice {
  return {
    kind: 'trial_reminder',
    key: `trial_reminder:${daysLeft}:${trialEndsAt.toISOString()}`,
    subject: `Your Brigade trial ends in ${daysLeft} day${daysLeft === 1 ? '' : 's'}`,
    body:
      `The free trial of ${ctx.businessName} ends on ${day(trialEndsAt, ctx.timezone)}. ` +
      `Add a payment method and pick a plan at ${ctx.billingUrl} to keep everything running without a break.`,
    data: { daysLeft, trialEndsAt: trialEndsAt.toISOString() },
  };
}

/** The notice that goes with entering a status, keyed by the transition that entered it. */
export function statusNotice(ctx: NoticeContext, transitionId: string, to: SubscriptionStatus, facts: { plan: string; graceEndsAt: Date | null; retainUntil: Date | null; from: SubscriptionStatus | null }): Notice | null {
  const key = `status:${to}:${transitionId}`;
  const data = { from: facts.from, to, plan: facts.plan };
  switch (to) {
    case 'active':
      if (facts.from === 'past_due' || facts.from === 'suspended') {
        return { kind: 'payment_recovered', key, subject: 'Payment received: Brigade is fully back', body: `Thank you: the payment for ${ctx.businessName} went through and every feature is available again.`, data };
      }
      return {
        kind: 'converted',
        key,
        subject: `Welcome to Brigade ${planOf(facts.plan).name}`,
        body: `${ctx.businessName} is now on the ${planOf(facts.plan).name} plan. Your invoices will be at ${ctx.billingUrl}.`,
        data,
      };
    case 'grace':
      return {
        kind: 'trial_ended',
        key,
        subject: 'Your Brigade trial has ended: add a payment method to keep access',
        body:
          `The trial of ${ctx.businessName} has ended without a payment method. Everything keeps working until ` +
          `${day(facts.graceEndsAt, ctx.timezone)}; after that the account becomes read-only until a plan is paid. ` +
          `Add a card at ${ctx.billingUrl}.`,
        data: { ...data, graceEndsAt: facts.graceEndsAt?.toISOString() ?? null },
      };
    case 'past_due':
      return {
        kind: 'payment_failed',
        key,
        subject: 'Your Brigade payment failed',
        body:
          `We could not charge the card on file for ${ctx.businessName}. We will try again over the coming days; ` +
          `update the card at ${ctx.billingUrl} before ${day(facts.graceEndsAt, ctx.timezone)} to avoid the account becoming read-only.`,
        data: { ...data, graceEndsAt: facts.graceEndsAt?.toISOString() ?? null },
      };
    case 'suspended':
      return {
        kind: 'suspended',
        key,
        subject: 'Your Brigade account is now read-only',
        body: `${ctx.businessName} can still see all its data, but changes are paused until the subscription is paid at ${ctx.billingUrl}.`,
        data,
      };
    case 'canceled':
    case 'expired':
      return {
        kind: to,
        key,
        subject: to === 'canceled' ? 'Your Brigade subscription has ended' : 'Your Brigade trial has expired',
        body:
          `${ctx.businessName} is read-only now. Its data is kept until ${day(facts.retainUntil, ctx.timezone)}; ` +
          `subscribe again at ${ctx.billingUrl} to pick up where you left off.`,
        data: { ...data, retainUntil: facts.retainUntil?.toISOString() ?? null },
      };
    default:
      return null;
  }
}

export function paymentFailedAttempt(ctx: NoticeContext, invoice: ProviderInvoice, attempt: number): Notice {
  return {
    kind: 'dunning',
    key: `dunning:${invoice.id}:${attempt}`,
    subject: `Payment attempt ${attempt} for your Brigade invoice failed`,
    body:
      `We could not collect ${money(invoice.amountDueMinor, invoice.currency)} for ${ctx.businessName}` +
      (invoice.nextPaymentAttempt ? `; the next attempt is on ${day(invoice.nextPaymentAttempt, ctx.timezone)}` : '') +
      `. Update the card at ${ctx.billingUrl}` +
      (invoice.hostedInvoiceUrl ? ` or pay the invoice at ${invoice.hostedInvoiceUrl}` : '') +
      '.',
    data: { invoiceId: invoice.id, attempt, hostedInvoiceUrl: invoice.hostedInvoiceUrl },
  };
}

export function renewalReceipt(ctx: NoticeContext, invoice: ProviderInvoice): Notice {
  return {
    kind: 'receipt',
    key: `receipt:${invoice.id}`,
    subject: `Your Brigade invoice ${invoice.number ?? ''}`.trim(),
    body:
      `Thank you: ${money(invoice.amountPaidMinor, invoice.currency)} was paid for ${ctx.businessName}` +
      (invoice.periodStart && invoice.periodEnd ? ` for ${day(invoice.periodStart, ctx.timezone)} to ${day(invoice.periodEnd, ctx.timezone)}` : '') +
      '.' +
      (invoice.hostedInvoiceUrl ? ` The invoice: ${invoice.hostedInvoiceUrl}` : '') +
      (invoice.invoicePdfUrl ? ` (PDF: ${invoice.invoicePdfUrl})` : ''),
    data: { invoiceId: invoice.id, number: invoice.number, hostedInvoiceUrl: invoice.hostedInvoiceUrl, invoicePdfUrl: invoice.invoicePdfUrl },
  };
}

/** A plan change left the business over the new plan's limits: what to do, and what is blocked meanwhile. */
export function overLimitNotice(ctx: NoticeContext, planKey: string, over: { limit: string; current: number; allowed: number }[], at: Date): Notice {
  const plan = planOf(planKey);
  const list = over.map((o) => `${o.limit}: ${o.current} of ${o.allowed}`).join(', ');
  return {
    kind: 'over_limit',
    key: `over_limit:${planKey}:${at.toISOString()}`,
    subject: `${ctx.businessName} uses more than the ${plan.name} plan allows`,
    body:
      `${ctx.businessName} is now on the ${plan.name} plan and uses more than it allows (${list}). ` +
      `Nothing was removed and everything keeps working, but no more of these can be added until the business is back within the plan, ` +
      `or on a larger one at ${ctx.billingUrl}.`,
    data: { plan: planKey, limits: over },
  };
}
