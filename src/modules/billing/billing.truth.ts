import { isPaidPlanKey } from './billing.plans.ts';
import type { ProviderSubscription } from './billing.provider.ts';
import type { SubscriptionStatus } from './billing.states.ts';

/**
 * What the provider's current subscription means for Brigade's row: a pure function of the
 * provider object and the few facts only Brigade keeps (the status refinements grace and
 * suspended, and whether the business ever paid). Webhook processing, reconciliation and the
 * lifecycle sweep all apply it, so they cannot disagree.
 */

export interface LocalFacts {
  status: SubscriptionStatus;
  plan: string;
  convertedAt: Date | null;
}

export interface ProviderTruth {
  status: SubscriptionStatus;
  plan: string;
  trialEndsAt: Date | null;
  currentPeriodStart: Date | null;
  currentPeriodEnd: Date | null;
  cancelAtPeriodEnd: boolean;
  canceledAt: Date | null;
  endedAt: Date | null;
  providerSubscriptionId: string;
  providerCustomerId: string;
  providerStatus: string;
  paymentMethodId: string | null;
}

const unpaidFamily: SubscriptionStatus[] = ['past_due', 'grace', 'suspended'];
const endedFamily: SubscriptionStatus[] = ['canceled', 'expired'];

export function statusFromProvider(p: ProviderSubscription, local: LocalFacts): SubscriptionStatus {
  const neverPaid = local.convertedAt === null;
  switch (p.status) {
    case 'trialing':
      return 'trialing';
    case 'active':
      return 'active';
    case 'past_due':
    case 'incomplete':
      // Brigade's own clock decides between these three; the provider only knows "unpaid".
      if (unpaidFamily.includes(local.status)) return local.status;
      return neverPaid && !p.paymentMethodId ? 'grace' : 'past_due';
    case 'unpaid':
    case 'paused':
      return 'suspended';
    case 'canceled':
    case 'incomplete_expired':
      if (endedFamily.includes(local.status)) return local.status;
      // A trial nobody paid for runs out; a business that asked to stop, or had paid, cancels.
      return neverPaid && p.cancellationReason !== 'cancellation_requested' ? 'expired' : 'canceled';
    default:
      return local.status;
  }
}

export function truthOf(p: ProviderSubscription, local: LocalFacts): ProviderTruth {
  const status = statusFromProvider(p, local);
  const neverPaid = local.convertedAt === null && status !== 'active';
  let plan = local.plan;
  if (!p.planChosen && neverPaid) plan = 'trial';
  else if (p.planKey && isPaidPlanKey(p.planKey)) plan = p.planKey;
  return {
    status,
    plan,
    trialEndsAt: p.trialEnd,
    currentPeriodStart: p.currentPeriodStart,
    currentPeriodEnd: p.currentPeriodEnd,
    cancelAtPeriodEnd: p.cancelAtPeriodEnd,
    canceledAt: p.canceledAt,
    endedAt: p.endedAt,
    providerSubscriptionId: p.id,
    providerCustomerId: p.customerId,
    providerStatus: p.status,
    paymentMethodId: p.paymentMethodId,
  };
}

const live = (s: ProviderSubscription) => s.status !== 'canceled' && s.status !== 'incomplete_expired';

/**
 * The provider subscription that speaks for a business: a live one (newest first) over an
 * ended one, and the one Brigade already follows when nothing newer is live.
 */
export function pickSubscription(candidates: ProviderSubscription[], followed: string | null): ProviderSubscription | null {
  if (candidates.length === 0) return null;
  const newestFirst = [...candidates].sort((a, b) => b.created.getTime() - a.created.getTime() || (a.id < b.id ? 1 : -1));
  return newestFirst.find(live) ?? newestFirst.find((s) => s.id === followed) ?? newestFirst[0]!;
}

export interface LocalRow extends LocalFacts {
  trialEndsAt: Date | null;
  currentPeriodEnd: Date | null;
  cancelAtPeriodEnd: boolean;
  providerSubscriptionId: string | null;
}

export interface FieldDifference {
  field: 'status' | 'plan' | 'trialEndsAt' | 'currentPeriodEnd' | 'cancelAtPeriodEnd' | 'providerSubscriptionId';
  local: unknown;
  provider: unknown;
}

const second = (d: Date | null) => (d ? Math.floor(d.getTime() / 1000) : null);
const iso = (d: Date | null) => (d ? d.toISOString() : null);

/** Where Brigade's row and the provider's truth disagree, field by field. */
export function differences(local: LocalRow, truth: ProviderTruth): FieldDifference[] {
  const out: FieldDifference[] = [];
  if (local.status !== truth.status) out.push({ field: 'status', local: local.status, provider: truth.status });
  if (local.plan !== truth.plan) out.push({ field: 'plan', local: local.plan, provider: truth.plan });
  if (second(local.trialEndsAt) !== second(truth.trialEndsAt)) out.push({ field: 'trialEndsAt', local: iso(local.trialEndsAt), provider: iso(truth.trialEndsAt) });
  if (second(local.currentPeriodEnd) !== second(truth.currentPeriodEnd)) {
    out.push({ field: 'currentPeriodEnd', local: iso(local.currentPeriodEnd), provider: iso(truth.currentPeriodEnd) });
  }
  if (local.cancelAtPeriodEnd !== truth.cancelAtPeriodEnd) out.push({ field: 'cancelAtPeriodEnd', local: local.cancelAtPeriodEnd, provider: truth.cancelAtPeriodEnd });
  if (local.providerSubscriptionId !== truth.providerSubscriptionId) {
    out.push({ field: 'providerSubscriptionId', local: local.providerSubscriptionId, provider: truth.providerSubscriptionId });
  }
  return out;
}
