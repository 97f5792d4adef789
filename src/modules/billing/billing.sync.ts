import type { Platform } from '../../platform/deps.ts';
import type { Tx } from '../../platform/db/index.ts';
import { raiseAlert } from '../alerts/index.ts';
import { enqueueLater } from '../../platform/jobs/outbox.ts';
import { recordAudit, auditSourceOfSystem, type AuditSource } from '../audit/index.ts';
import {
  insertNotice,
  insertTransition,
  lockSubscription,
  tenantById,
  updateSubscription,
  upsertInvoice,
  type PaymentMethodOnFile,
  type SubscriptionRow,
  type TransitionSource,
} from './billing.repository.ts';
import { statusNotice, paymentFailedAttempt, renewalReceipt, overLimitNotice, type Notice, type NoticeContext } from './billing.notices.ts';
import { limitsExceeded, planOf } from './billing.plans.ts';
import { usageIn, usagePeriod } from './billing.usage.ts';
import type { PaymentProvider, ProviderInvoice, ProviderSubscription } from './billing.provider.ts';
import { canTransition, transitionPath, type SubscriptionStatus } from './billing.states.ts';
import { pickSubscription, truthOf, type ProviderTruth } from './billing.truth.ts';

/**
 * The one way Brigade's subscription row changes: a target state (the provider's truth, or a
 * decision of Brigade's own clock) applied under the row's lock, with every status step
 * checked against the state machine, recorded in the history, audited and announced.
 */

export const MAIL_NOTICE_JOB = 'mail.billing_notice';

export interface ApplyMeta {
  source: TransitionSource;
  reason: string;
  providerEventId?: string | null;
  /** Who acted, for the audit trail (default: the billing system). */
  actor?: AuditSource;
  now?: Date;
}

export interface Refusal {
  from: SubscriptionStatus;
  to: SubscriptionStatus;
}

export interface ApplyOutcome {
  before: SubscriptionRow;
  /** The statuses entered, in order. */
  entered: SubscriptionStatus[];
  refused: Refusal | null;
  changedFields: string[];
  status: SubscriptionStatus;
  plan: string;
}

export interface Target {
  status?: SubscriptionStatus;
  plan?: string;
  trialEndsAt?: Date | null;
  currentPeriodStart?: Date | null;
  currentPeriodEnd?: Date | null;
  cancelAtPeriodEnd?: boolean;
  canceledAt?: Date | null;
  endedAt?: Date | null;
  providerSubscriptionId?: string | null;
  providerCustomerId?: string | null;
  providerStatus?: string | null;
  paymentMethod?: PaymentMethodOnFile | null;
  providerSynced?: boolean;
}

const DAY = 86_400_000;
const sameInstant = (a: Date | null | undefined, b: Date | null | undefined) => (a?.getTime() ?? null) === (b?.getTime() ?? null);

export class DisallowedTransitionError extends Error {
  constructor(readonly refusal: Refusal) {
    super(`subscription transition ${refusal.from} → ${refusal.to} is not allowed`);
  }
}

export function subscriptionSync(platform: Platform, provider: PaymentProvider, onChange: (tenantId: string) => void) {
  const { config, tenancy, log } = platform;
  const billingUrl = `${config.BRIGADE_PUBLIC_URL.replace(/\/$/, '')}/billing`;

  async function noticeContext(trx: Tx, tenantId: string): Promise<NoticeContext> {
    const tenant = await tenantById(trx, tenantId);
    return { businessName: tenant?.name ?? 'your business', timezone: tenant?.timezone ?? 'UTC', billingUrl };
  }

  /** Records the notice once and asks for its mail in the same transaction. */
  async function announce(trx: Tx, tenantId: string, notice: Notice): Promise<boolean> {
    const id = await insertNotice(trx, tenantId, notice);
    if (id) await enqueueLater(trx, tenantId, MAIL_NOTICE_JOB, { noticeId: id, kind: notice.kind });
    return id !== null;
  }

  async function applyTarget(trx: Tx, row: SubscriptionRow, target: Target, meta: ApplyMeta): Promise<ApplyOutcome> {
    const tenantId = row.tenant_id;
    const now = meta.now ?? new Date();
    const actor = meta.actor ?? auditSourceOfSystem(tenantId, 'billing');
    const patch: Record<string, unknown> = {};
    const changedFields: string[] = [];
    const set = (column: string, value: unknown, current: unknown) => {
      const same = value instanceof Date || current instanceof Date ? sameInstant(value as Date | null, current as Date | null) : JSON.stringify(value) === JSON.stringify(current);
      if (same) return;
      patch[column] = value instanceof Date || value === null || typeof value !== 'object' ? value : JSON.stringify(value);
      changedFields.push(column);
    };

    const entered: SubscriptionStatus[] = [];
    let refused: Refusal | null = null;
    let status = row.status;
    let graceEndsAt = row.grace_ends_at;
    let retainUntil = row.retain_until;
    let convertedAt = row.converted_at;
    const plan = target.plan ?? row.plan;

    if (target.status && target.status !== row.status) {
      const path = transitionPath(row.status, target.status);
      if (!path) {
        refused = { from: row.status, to: target.status };
      } else {
        let ctx: NoticeContext | null = null;
        for (const to of path) {
          const from = status;
          if (to === 'grace') graceEndsAt = new Date(now.getTime() + config.BRIGADE_GRACE_DAYS * DAY);
          if (to === 'past_due') graceEndsAt = new Date(now.getTime() + config.BRIGADE_PAST_DUE_DAYS * DAY);
          if (to === 'active') {
            graceEndsAt = null;
            retainUntil = null;
            convertedAt ??= now;
          }
          if (to === 'canceled' || to === 'expired') retainUntil = new Date(now.getTime() + config.BRIGADE_RETENTION_DAYS * DAY);
          const transitionId = await insertTransition(trx, {
            tenantId,
            from,
            to,
            reason: meta.reason,
            source: meta.source,
            providerEventId: meta.providerEventId ?? null,
            actorId: actor.actor.type === 'user' ? actor.actor.id : null,
          });
          await recordAudit(trx, actor, {
            action: 'billing.status_changed',
            permission: null,
            target: { type: 'subscription', id: tenantId },
            changes: { before: { status: from }, after: { status: to }, reason: meta.reason, source: meta.source, providerEventId: meta.providerEventId ?? null },
          });
          ctx ??= await noticeContext(trx, tenantId);
          const notice = statusNotice(ctx, transitionId, to, { plan, graceEndsAt, retainUntil, from });
          if (notice) await announce(trx, tenantId, notice);
          entered.push(to);
          status = to;
        }
        set('status', status, row.status);
        patch.status_changed_at = now;
      }
    }
    set('grace_ends_at', graceEndsAt, row.grace_ends_at);
    set('retain_until', retainUntil, row.retain_until);
    set('converted_at', convertedAt, row.converted_at);

    if (target.plan !== undefined && target.plan !== row.plan) {
      set('plan', target.plan, row.plan);
      if (meta.source !== 'api') {
        await recordAudit(trx, actor, {
          action: 'billing.plan_changed',
          permission: null,
          target: { type: 'subscription', id: tenantId },
          changes: { before: { plan: row.plan }, after: { plan: target.plan }, source: meta.source, providerEventId: meta.providerEventId ?? null },
        });
      }
    }
    if (target.plan !== undefined && target.plan !== row.plan) {
      // Whatever changed the plan (the provider at a trial's end, a webhook, a reconciliation),
      // a business over the new plan's limits keeps what it has, may add no more of it, and is told.
      const period = usagePeriod(target.currentPeriodStart ?? row.current_period_start, target.currentPeriodEnd ?? row.current_period_end, now);
      const over = limitsExceeded(planOf(target.plan), await usageIn(trx, tenantId, period));
      if (over.length > 0) {
        await recordAudit(trx, actor, {
          action: 'billing.over_limit',
          permission: null,
          target: { type: 'subscription', id: tenantId },
          changes: { after: { plan: target.plan, limits: over }, source: meta.source },
        });
        await announce(trx, tenantId, overLimitNotice(await noticeContext(trx, tenantId), target.plan, over, now));
      }
    }
    if (target.trialEndsAt !== undefined) set('trial_ends_at', target.trialEndsAt, row.trial_ends_at);
    if (target.currentPeriodStart !== undefined) set('current_period_start', target.currentPeriodStart, row.current_period_start);
    if (target.currentPeriodEnd !== undefined) set('current_period_end', target.currentPeriodEnd, row.current_period_end);
    if (target.cancelAtPeriodEnd !== undefined) set('cancel_at_period_end', target.cancelAtPeriodEnd, row.cancel_at_period_end);
    if (target.canceledAt !== undefined) set('canceled_at', target.canceledAt, row.canceled_at);
    if (target.endedAt !== undefined) set('ended_at', target.endedAt, row.ended_at);
    if (target.providerSubscriptionId !== undefined) set('provider_subscription_id', target.providerSubscriptionId, row.provider_subscription_id);
    if (target.providerCustomerId !== undefined) set('provider_customer_id', target.providerCustomerId, row.provider_customer_id);
    if (target.providerStatus !== undefined) set('provider_status', target.providerStatus, row.provider_status);
    if (target.paymentMethod !== undefined) set('payment_method', target.paymentMethod, row.payment_method);
    if (target.providerSynced) {
      patch.provider_synced_at = now;
      patch.provider = provider.name;
    }
    if (Object.keys(patch).length > 0) await updateSubscription(trx, tenantId, patch);
    return { before: row, entered, refused, changedFields, status, plan };
  }

  /** After the transaction: a refusal is logged and raised for operators. */
  async function reportRefusal(tenantId: string, refusal: Refusal, meta: ApplyMeta): Promise<void> {
    log.warn({ tenantId, from: refusal.from, to: refusal.to, source: meta.source, providerEventId: meta.providerEventId ?? null }, 'billing: disallowed subscription transition refused');
    await tenancy.withSystem('billing: raise an alert', (trx) =>
      raiseAlert(trx, config, {
        rule: 'billing.disallowed_transition',
        tenantId,
        source: `billing: ${meta.source}`,
        summary: `A ${refusal.from} → ${refusal.to} transition was refused (${meta.source}: ${meta.reason}).`,
        details: { ...refusal, source: meta.source, reason: meta.reason, providerEventId: meta.providerEventId ?? null },
      }),
    );
  }

  async function afterApply(tenantId: string, outcome: ApplyOutcome | null, meta: ApplyMeta): Promise<void> {
    if (outcome && (outcome.changedFields.length > 0 || outcome.entered.length > 0)) onChange(tenantId);
    if (outcome?.refused) await reportRefusal(tenantId, outcome.refused, meta);
  }

  /** The provider subscription that speaks for this row now, or null when there is none. */
  async function locate(row: SubscriptionRow, hint: string | null): Promise<ProviderSubscription | null> {
    const followed = row.provider_subscription_id;
    const candidates: ProviderSubscription[] = [];
    const seen = new Set<string>();
    const add = (s: ProviderSubscription | null) => {
      if (s && !seen.has(s.id) && (!s.tenantId || s.tenantId === row.tenant_id)) {
        seen.add(s.id);
        candidates.push(s);
      }
    };
    if (hint && hint !== followed) add(await provider.retrieveSubscription(hint));
    if (followed) add(await provider.retrieveSubscription(followed));
    const current = pickSubscription(candidates, followed);
    // Something ended (or nothing is known): a newer subscription of the customer may have taken over.
    const customerId = current?.customerId ?? row.provider_customer_id;
    if ((!current || current.status === 'canceled' || current.status === 'incomplete_expired') && customerId) {
      for (const s of await provider.subscriptionsOfCustomer(customerId)) add(s);
    }
    return pickSubscription(candidates, followed);
  }

  async function paymentMethodFor(truth: ProviderTruth, row: SubscriptionRow): Promise<PaymentMethodOnFile | null> {
    if (!truth.paymentMethodId) return null;
    if (row.payment_method?.id === truth.paymentMethodId) return row.payment_method;
    return provider.paymentMethod(truth.paymentMethodId);
  }

  return {
    announce,
    applyTarget,
    noticeContext,

    /**
     * Re-reads the provider's current subscription under the row's lock and applies it: the
     * snapshot in an event is never applied, so duplicates and reordering change nothing.
     */
    async syncTenant(
      tenantId: string,
      meta: ApplyMeta & { hintSubscriptionId?: string | null; also?: (trx: Tx, outcome: ApplyOutcome | null, row: SubscriptionRow | null) => Promise<void> },
    ): Promise<{ outcome: ApplyOutcome | null; found: boolean; truth: ProviderTruth | null }> {
      const result = await tenancy.withTenant({ tenantId }, async (trx) => {
        const row = await lockSubscription(trx, tenantId);
        if (!row) {
          await meta.also?.(trx, null, null);
          return { outcome: null, found: false, truth: null };
        }
        const current = await locate(row, meta.hintSubscriptionId ?? null);
        if (!current) {
          await meta.also?.(trx, null, row);
          return { outcome: null, found: false, truth: null };
        }
        const truth = truthOf(current, { status: row.status, plan: row.plan, convertedAt: row.converted_at });
        const paymentMethod = await paymentMethodFor(truth, row);
        const outcome = await applyTarget(trx, row, { ...truth, paymentMethod, providerSynced: true }, meta);
        await meta.also?.(trx, outcome, row);
        return { outcome, found: true, truth };
      });
      await afterApply(tenantId, result.outcome, meta);
      return result;
    },

    /** A decision of Brigade's own (grace ran out, a test, an operator): one status change. */
    async changeStatus(tenantId: string, to: SubscriptionStatus, meta: ApplyMeta): Promise<ApplyOutcome> {
      const outcome = await tenancy.withTenant({ tenantId }, async (trx) => {
        const row = await lockSubscription(trx, tenantId);
        if (!row) throw new Error(`tenant ${tenantId} has no subscription`);
        // A decision of ours is one step; only a repair from the provider's truth may walk a path.
        if (row.status !== to && !canTransition(row.status, to)) {
          return { before: row, entered: [], refused: { from: row.status, to }, changedFields: [], status: row.status, plan: row.plan } satisfies ApplyOutcome;
        }
        return applyTarget(trx, row, { status: to }, meta);
      });
      await afterApply(tenantId, outcome, meta);
      if (outcome.refused) throw new DisallowedTransitionError(outcome.refused);
      return outcome;
    },

    /**
     * Mirrors the provider's current invoice, and tells the business about a paid renewal or a
     * failed attempt (the attempt number comes from the event that reported it).
     */
    async mirrorInvoice(tenantId: string, invoiceId: string, event: { type: string; attempt: number | null }): Promise<ProviderInvoice | null> {
      // Read under the subscription's lock, like syncTenant: two jobs about one invoice cannot
      // write an older reading over a newer one.
      return tenancy.withTenant({ tenantId }, async (trx) => {
        await lockSubscription(trx, tenantId);
        const invoice = await provider.retrieveInvoice(invoiceId);
        if (!invoice || (invoice.tenantId && invoice.tenantId !== tenantId)) return null;
        await upsertInvoice(trx, tenantId, invoice);
        const ctx = await noticeContext(trx, tenantId);
        if (invoice.status === 'paid' && invoice.amountPaidMinor > 0) await announce(trx, tenantId, renewalReceipt(ctx, invoice));
        // A reordered failure that arrives after the payment tells the business nothing new.
        if (event.type === 'invoice.payment_failed' && invoice.status === 'open' && event.attempt) {
          await announce(trx, tenantId, paymentFailedAttempt(ctx, invoice, event.attempt));
        }
        return invoice;
      });
    },
  };
}

export type SubscriptionSync = ReturnType<typeof subscriptionSync>;
