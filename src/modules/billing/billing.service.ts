import { sql } from 'kysely';
import type { Platform, NewTenant } from '../../platform/deps.ts';
import { compiled, sendTogether, type Tx } from '../../platform/db/index.ts';
import type { Scope } from '../../platform/auth/index.ts';
import { AppError } from '../../platform/errors/index.ts';
import { andThen, type Awaitable } from '../../platform/awaitable.ts';
import { decodeTimeCursor, toPage, timeKeyOf } from '../../platform/http/pagination.ts';
import { enqueueLater } from '../../platform/jobs/outbox.ts';
import { recordAudit, auditSourceOfUser } from '../audit/index.ts';
import {
  defaultPaidPlan,
  limitsExceeded,
  features as featureCatalogue,
  hasFeature,
  paidPlans,
  planOf,
  plans,
  upgradeForFeature,
  upgradeForLimit,
  type CountedLimit,
  type PaidPlanKey,
  type Plan,
} from './billing.plans.ts';
import { PaymentDeclinedError, ProviderRefusedError, ProviderUnavailableError, type PaymentProvider } from './billing.provider.ts';
import {
  billingRecipients,
  insertTransition,
  invoicePage,
  noticesOf,
  subscriptionOf,
  tenantById,
  transitionsOf,
  type InvoiceRow,
  type SubscriptionRow,
} from './billing.repository.ts';
import { statusRules, type SubscriptionStatus } from './billing.states.ts';
import type { SubscriptionSync } from './billing.sync.ts';
import { usageCount, usagePeriod, type Usage, type UsageMeter } from './billing.usage.ts';
import { trialReminder } from './billing.notices.ts';

export const PROVISION_JOB = 'billing.provision';

/** What every request needs to know about a business's subscription; cached for a few seconds. */
export interface Standing {
  plan: string;
  status: SubscriptionStatus;
  periodStart: Date | null;
  periodEnd: Date | null;
}

const STANDING_TTL_MS = 5_000;
const STANDING_CACHE_MAX = 50_000;
const DAY = 86_400_000;

/** Routes a suspended business may still call with a write method: paying, and leaving. */
const writableWhenReadOnly = (url: string) => url.startsWith('/v1/billing/') || url === '/v1/auth/logout';

export interface Entitlement {
  feature?: string;
  limit?: string;
}

export interface CheckoutRequest {
  plan?: PaidPlanKey;
  successUrl?: string;
  cancelUrl?: string;
}

/** The plan and its period, read by every counted creation (an order): compiled once. */
const subscriptionPeriod = compiled((db, a: { tenantId: string }) =>
  db.selectFrom('subscriptions').select(['plan', 'current_period_start', 'current_period_end']).where('tenant_id', '=', a.tenantId),
);

const iso = (d: Date | null | undefined) => (d ? d.toISOString() : null);

/** The 402 for a counted limit; the route's early check and the exact claim say the same. */
function limitReached(plan: Plan, limit: CountedLimit, current: number, allowed: number): AppError {
  const upgradeTo = upgradeForLimit(limit, current + 1);
  return new AppError(
    'plan_limit_reached',
    `The ${plan.name} plan allows ${allowed} ${limit}; this business has ${current}${upgradeTo ? `. ${planOf(upgradeTo).name} allows more` : ''}.`,
    { limit, current, allowed, upgradeTo, plan: plan.key },
  );
}

function unavailable(err: unknown): never {
  if (err instanceof ProviderUnavailableError) {
    throw new AppError('payment_provider_unavailable', 'The payment provider cannot be reached right now. Nothing was changed; try again in a minute.', {}, { 'Retry-After': '30' });
  }
  throw err;
}

/** Refuses a write of a business whose subscription leaves it read-only (suspended, canceled, expired). */
function assertStandingWritable(s: Standing): void {
  if (statusRules[s.status].access === 'full') return;
  if (s.status === 'suspended') {
    throw new AppError('subscription_suspended', 'This business is read-only until its subscription is paid. Viewing works; pay at /v1/billing to make changes again.', {
      subscriptionStatus: s.status,
      plan: s.plan,
    });
  }
  throw new AppError('subscription_ended', `The subscription of this business has ${s.status === 'expired' ? 'expired' : 'been canceled'}: its data can be viewed, and a new subscription makes it editable again.`, {
    subscriptionStatus: s.status,
    plan: s.plan,
  });
}

export function billingService(platform: Platform, provider: PaymentProvider, sync: SubscriptionSync, meter: UsageMeter) {
  const { tenancy, config, log } = platform;
  const cache = new Map<string, { value: Standing; expires: number }>();
  const publicUrl = config.BRIGADE_PUBLIC_URL.replace(/\/$/, '');

  function invalidate(tenantId: string): void {
    cache.delete(tenantId);
  }

  /** The business's plan and status: from the cache without a promise, otherwise read (see Awaitable). */
  function standing(tenantId: string): Awaitable<Standing> {
    const hit = cache.get(tenantId);
    return hit && hit.expires > Date.now() ? hit.value : readStanding(tenantId);
  }

  async function readStanding(tenantId: string): Promise<Standing> {
    const row = await tenancy.readAsTenant({ tenantId }, (db) =>
      db.selectFrom('subscriptions').select(['plan', 'status', 'current_period_start', 'current_period_end']).where('tenant_id', '=', tenantId).executeTakeFirst(),
    );
    // A business without a row (created outside signup) is treated as on trial until reconciled.
    const value: Standing = row
      ? { plan: row.plan, status: row.status, periodStart: row.current_period_start, periodEnd: row.current_period_end }
      : { plan: 'trial', status: 'trialing', periodStart: null, periodEnd: null };
    if (cache.size >= STANDING_CACHE_MAX) cache.clear();
    cache.set(tenantId, { value, expires: Date.now() + STANDING_TTL_MS });
    return value;
  }

  async function usageOf(tenantId: string, s: Pick<Standing, 'periodStart' | 'periodEnd'>): Promise<Usage> {
    return meter.usageOf(tenantId, usagePeriod(s.periodStart, s.periodEnd));
  }

  async function rowOf(scope: Scope): Promise<SubscriptionRow> {
    const row = await tenancy.readAsTenant(scope, (db) => subscriptionOf(db, scope.tenantId));
    if (!row) throw new AppError('billing_not_ready', 'Billing for this business is still being set up. Try again in a minute.');
    return row;
  }

  function requireProviderSubscription(row: SubscriptionRow): string {
    if (!row.provider_subscription_id) {
      throw new AppError('billing_not_ready', 'The subscription is still being set up with the payment provider. Try again in a minute.');
    }
    return row.provider_subscription_id;
  }

  function warningsOf(row: SubscriptionRow, now: Date): { code: string; message: string }[] {
    const out: { code: string; message: string }[] = [];
    const day = (d: Date | null) => (d ? d.toISOString().slice(0, 10) : 'soon');
    if (row.status === 'trialing' && row.trial_ends_at) {
      const daysLeft = Math.ceil((row.trial_ends_at.getTime() - now.getTime()) / DAY);
      if (daysLeft <= 7 && !row.payment_method) out.push({ code: 'trial_ending', message: `The trial ends in ${Math.max(daysLeft, 0)} day(s); add a payment method to keep access.` });
    }
    if (row.status === 'grace') out.push({ code: 'grace_period', message: `The trial has ended unpaid. Full access continues until ${day(row.grace_ends_at)}, then the account becomes read-only.` });
    if (row.status === 'past_due') out.push({ code: 'payment_failed', message: `The last payment failed. Update the card before ${day(row.grace_ends_at)} to avoid read-only mode.` });
    if (row.status === 'suspended') out.push({ code: 'read_only', message: 'The account is read-only until the subscription is paid.' });
    if (row.status === 'canceled' || row.status === 'expired') out.push({ code: 'ended', message: `The subscription has ended; data is kept until ${day(row.retain_until)}.` });
    if (row.cancel_at_period_end && (row.status === 'active' || row.status === 'trialing')) {
      out.push({ code: 'cancel_scheduled', message: `The subscription ends on ${day(row.current_period_end)}.` });
    }
    return out;
  }

  async function view(scope: Scope) {
    const row = await rowOf(scope);
    const plan = planOf(row.plan);
    const period = usagePeriod(row.current_period_start, row.current_period_end);
    const usage = await meter.usageOf(scope.tenantId, period);
    return {
      plan: plan.key,
      planName: plan.name,
      status: row.status,
      trialEndsAt: iso(row.trial_ends_at),
      currentPeriodStart: iso(row.current_period_start),
      currentPeriodEnd: iso(row.current_period_end),
      cancelAtPeriodEnd: row.cancel_at_period_end,
      graceEndsAt: row.status === 'grace' || row.status === 'past_due' ? iso(row.grace_ends_at) : null,
      retainUntil: row.status === 'canceled' || row.status === 'expired' ? iso(row.retain_until) : null,
      readOnly: statusRules[row.status].access === 'read_only',
      paymentMethod: row.payment_method ? { brand: row.payment_method.brand, last4: row.payment_method.last4, expMonth: row.payment_method.expMonth, expYear: row.payment_method.expYear } : null,
      entitlements: {
        features: [...plan.features],
        limits: { ...plan.limits },
        usage,
      },
      usagePeriod: { start: period.start.toISOString(), end: iso(period.end) },
      overLimit: limitsExceeded(plan, usage),
      warnings: [
        ...warningsOf(row, new Date()),
        ...limitsExceeded(plan, usage).map((o) => ({ code: 'over_limit', message: `${o.limit}: ${o.current} of ${o.allowed} on the ${plan.name} plan. Nothing was removed; no more can be added until the business is within the plan or on a larger one.` })),
      ],
    };
  }

  /**
   * Applies the provider's state after a change made through the API, with the caller's audit
   * event in the same transaction. Should that fail for any reason but the provider's absence,
   * `undo` takes the change back at the provider before the error leaves: a failed request
   * leaves nothing behind, there or here. (An immediate cancellation cannot be undone; its
   * input is checked in full before the provider is called.)
   */
  async function settleChange(
    scope: Scope,
    reason: string,
    action: string,
    changes: (before: SubscriptionRow | null) => Record<string, unknown>,
    undo: (() => Promise<unknown>) | null,
  ): Promise<void> {
    try {
      await sync.syncTenant(scope.tenantId, {
        source: 'api',
        reason,
        actor: auditSourceOfUser(scope),
        also: async (trx, _outcome, before) => {
          await recordAudit(trx, auditSourceOfUser(scope), {
            action,
            permission: 'billing.manage',
            target: { type: 'subscription', id: scope.tenantId },
            changes: changes(before),
          });
        },
      });
    } catch (err) {
      if (!(err instanceof ProviderUnavailableError)) {
        if (undo) {
          await undo().catch((undoErr: unknown) =>
            log.error({ err: undoErr, tenantId: scope.tenantId, action }, 'billing: a failed change could not be undone at the provider; reconciliation will report the divergence'),
          );
        } else {
          log.error({ err, tenantId: scope.tenantId, action }, 'billing: the provider has a change Brigade failed to record; reconciliation will bring it here');
        }
        throw err;
      }
      // The provider has the change; the webhook or reconciliation will bring it here.
      log.warn({ tenantId: scope.tenantId, action }, 'billing: change made at the provider, local update deferred');
      await tenancy.withTenant(scope, (trx) =>
        recordAudit(trx, auditSourceOfUser(scope), { action, permission: 'billing.manage', target: { type: 'subscription', id: scope.tenantId }, changes: changes(null) }),
      );
    }
    invalidate(scope.tenantId);
  }

  async function ensureCustomer(tenantId: string, row: SubscriptionRow): Promise<string> {
    if (row.provider_customer_id) return row.provider_customer_id;
    const identity = await tenancy.withTenant({ tenantId }, async (trx) => ({ tenant: await tenantById(trx, tenantId), owners: await billingRecipients(trx, tenantId) }));
    const customerId =
      (await provider.findCustomer(tenantId)) ?? (await provider.createCustomer({ tenantId, name: identity.tenant?.name ?? tenantId, email: identity.owners[0]?.email ?? null }));
    await tenancy.withTenant({ tenantId }, (trx) =>
      trx.updateTable('subscriptions').set({ provider_customer_id: customerId, provider: provider.name, updated_at: new Date() }).where('tenant_id', '=', tenantId).where('provider_customer_id', 'is', null).execute(),
    );
    return customerId;
  }

  /** A business moves to a plan only when it fits in it: 409 naming every limit it exceeds. */
  async function assertFits(tenantId: string, row: SubscriptionRow, planKey: PaidPlanKey): Promise<void> {
    const target = planOf(planKey);
    const usage = await meter.usageOf(tenantId, usagePeriod(row.current_period_start, row.current_period_end));
    const over = limitsExceeded(target, usage);
    if (over.length > 0) {
      throw new AppError('plan_limits_exceeded', `This business uses more than the ${target.name} plan allows (${over.map((o) => `${o.limit}: ${o.current} of ${o.allowed}`).join(', ')}).`, {
        plan: planKey,
        limits: over,
      });
    }
  }

  /**
   * A change the provider would not make, or could not be asked to. A refusal means Brigade's
   * copy of the subscription is behind the provider's (canceled there, a webhook still on its
   * way): it is brought in step before the answer, and the caller gets 409 with the provider's
   * reason, so that a reload shows what the provider holds.
   */
  const providerFailure = (scope: Scope) => async (err: unknown): Promise<never> => {
    if (!(err instanceof ProviderRefusedError)) return unavailable(err);
    log.warn({ tenantId: scope.tenantId, reason: err.message }, 'billing: the provider refused a change; bringing the subscription in step');
    await sync
      .syncTenant(scope.tenantId, { source: 'api', reason: 'the provider refused a change (its copy was ahead)' })
      .catch((syncErr: unknown) => log.warn({ err: syncErr, tenantId: scope.tenantId }, 'billing: could not bring the subscription in step; reconciliation will'));
    invalidate(scope.tenantId);
    throw new AppError(
      'invalid_state',
      `The payment provider refused the change (${err.message}). The subscription changed there since Brigade last heard; it has been brought up to date. Reload it and try again.`,
      { providerMessage: err.message },
    );
  };

  async function changePlan(scope: Scope, planKey: PaidPlanKey) {
    const row = await rowOf(scope);
    if (!statusRules[row.status].live) {
      throw new AppError('invalid_state', `A ${row.status} subscription cannot change plan; start one with POST /v1/billing/checkout.`, { subscriptionStatus: row.status });
    }
    if (row.plan === planKey) return view(scope);
    await assertFits(scope.tenantId, row, planKey);
    const subscriptionId = requireProviderSubscription(row);
    await provider.changePlan(subscriptionId, planKey).catch((err: unknown) => {
      if (err instanceof PaymentDeclinedError) {
        throw new AppError(
          'payment_required',
          `The charge for the move to ${planOf(planKey).name} was declined (${err.message}); the plan did not change. Update the card (POST /v1/billing/payment-method) and try again.`,
          { plan: planKey, currentPlan: row.plan, declineCode: err.declineCode },
        );
      }
      return providerFailure(scope)(err);
    });
    const previous = row.plan !== 'trial' && row.plan in plans ? (row.plan as PaidPlanKey) : defaultPaidPlan;
    await settleChange(scope, `plan changed to ${planKey}`, 'billing.plan_change', () => ({ before: { plan: row.plan }, after: { plan: planKey } }), () => provider.changePlan(subscriptionId, previous));
    return view(scope);
  }

  const defaultSuccessUrl = `${publicUrl}/billing?checkout=success&session_id={CHECKOUT_SESSION_ID}`;
  const defaultCancelUrl = `${publicUrl}/billing?checkout=canceled`;

  return {
    standing,
    invalidate,
    view,

    /** platform.hooks.tenantCreated: runs inside the signup transaction; the provider is called later, by a job. */
    async startTrial(trx: Tx, tenant: NewTenant): Promise<void> {
      const now = new Date();
      const trialEnds = new Date(now.getTime() + config.BRIGADE_TRIAL_DAYS * DAY);
      await trx
        .insertInto('subscriptions')
        .values({
          tenant_id: tenant.id,
          plan: 'trial',
          status: 'trialing',
          status_changed_at: now,
          trial_started_at: now,
          trial_ends_at: trialEnds,
          current_period_start: now,
          current_period_end: trialEnds,
          provider: provider.name,
          updated_at: now,
        })
        .execute();
      await insertTransition(trx, { tenantId: tenant.id, from: null, to: 'trialing', reason: `${config.BRIGADE_TRIAL_DAYS}-day trial started at signup`, source: 'signup', actorId: tenant.ownerUserId });
      await enqueueLater(trx, tenant.id, PROVISION_JOB, {});
    },

    /** The `billing.provision` job: the provider's customer and trial subscription for a new business. */
    async provision(tenantId: string): Promise<'provisioned' | 'already' | 'skipped'> {
      const row = await tenancy.readAsTenant({ tenantId }, (db) => subscriptionOf(db, tenantId));
      if (!row) return 'skipped';
      if (row.provider_subscription_id) return 'already';
      const customerId = await ensureCustomer(tenantId, row);
      const existing = await provider.subscriptionsOfCustomer(customerId);
      const trialRunning = row.status === 'trialing' && row.trial_ends_at && row.trial_ends_at.getTime() > Date.now() + 60_000;
      if (existing.length === 0 && trialRunning) {
        await provider.createTrialSubscription({ tenantId, customerId, planKey: defaultPaidPlan, trialEnd: row.trial_ends_at! });
      }
      await sync.syncTenant(tenantId, { source: 'lifecycle', reason: 'provisioned at the payment provider' });
      invalidate(tenantId);
      return existing.length === 0 && trialRunning ? 'provisioned' : 'skipped';
    },

    rateLimitOf(tenantId: string): Awaitable<number> {
      return andThen(standing(tenantId), (s) => planOf(s.plan).limits.apiRatePerSecond ?? config.BRIGADE_TENANT_RATE_LIMIT);
    },

    /** The access plugin's plan check: 402 with what is allowed and the plan that allows more. */
    async checkEntitlement(scope: Scope, entitlement: Entitlement): Promise<void> {
      const s = await standing(scope.tenantId);
      const plan = planOf(s.plan);
      if (entitlement.feature && !hasFeature(plan, entitlement.feature)) {
        const upgradeTo = upgradeForFeature(entitlement.feature);
        const withIt = paidPlans.filter((key) => hasFeature(planOf(key), entitlement.feature!));
        throw new AppError(
          'feature_not_in_plan',
          `${featureCatalogue[entitlement.feature as keyof typeof featureCatalogue] ?? entitlement.feature} is not part of the ${plan.name} plan${upgradeTo ? `; ${planOf(upgradeTo).name} includes it` : ''}.`,
          { feature: entitlement.feature, current: plan.key, allowed: withIt, upgradeTo, plan: plan.key },
        );
      }
      if (entitlement.limit) {
        const limit = entitlement.limit as CountedLimit;
        const allowed = plan.limits[limit];
        if (allowed === null || allowed === undefined) return;
        const current = (await usageOf(scope.tenantId, s))[limit];
        if (current >= allowed) throw limitReached(plan, limit, current, allowed);
      }
    },

    /**
     * platform.hooks.claimLimit: the exact check, inside the transaction that creates the thing.
     * Creations of one kind in one business queue on a transaction-scoped advisory lock, and
     * each counts after the one before it committed, so racers cannot overshoot the plan.
     */
    async claimLimit(trx: Tx, tenantId: string, limit: CountedLimit): Promise<void> {
      const [row] = await subscriptionPeriod(trx, { tenantId });
      const plan = planOf(row?.plan ?? 'trial');
      const allowed = plan.limits[limit];
      if (allowed === null) return;
      // The count its own statement (in the lock's round trip): a READ COMMITTED snapshot taken
      // after the lock sees the previous holder's row.
      const [, counted] = await sendTogether(trx, [
        sql`SELECT pg_advisory_xact_lock(hashtextextended(${`plan-limit:${tenantId}:${limit}`}, 0))`,
        usageCount(tenantId, limit, usagePeriod(row?.current_period_start ?? null, row?.current_period_end ?? null)),
      ]);
      const current = Number((counted as { n: string }[])[0]!.n);
      if (current >= allowed) throw limitReached(plan, limit, current, allowed);
    },

    /** Refuses writes of a read-only (suspended, canceled, expired) business; reads and billing stay open. */
    assertWritable(scope: Scope, method: string, url: string): Awaitable<void> {
      if (method === 'GET' || method === 'HEAD' || method === 'OPTIONS' || writableWhenReadOnly(url)) return;
      return andThen(standing(scope.tenantId), assertStandingWritable);
    },

    changePlan,

    async cancel(scope: Scope, input: { atPeriodEnd: boolean; reason?: string }) {
      const row = await rowOf(scope);
      if (row.status === 'canceled' || row.status === 'expired') throw new AppError('invalid_state', `The subscription has already ${row.status === 'expired' ? 'expired' : 'been canceled'}.`, { subscriptionStatus: row.status });
      const subscriptionId = requireProviderSubscription(row);
      if (input.atPeriodEnd) await provider.setCancelAtPeriodEnd(subscriptionId, true).catch(providerFailure(scope));
      else await provider.cancelNow(subscriptionId).catch(providerFailure(scope));
      await settleChange(scope, input.atPeriodEnd ? 'cancellation at period end requested' : 'canceled immediately', 'billing.cancel', () => ({
        before: { status: row.status, cancelAtPeriodEnd: row.cancel_at_period_end },
        after: input.atPeriodEnd ? { cancelAtPeriodEnd: true, endsAt: iso(row.current_period_end) } : { status: 'canceled' },
        ...(input.reason ? { reason: input.reason } : {}),
      }), input.atPeriodEnd ? () => provider.setCancelAtPeriodEnd(subscriptionId, row.cancel_at_period_end) : null);
      return view(scope);
    },

    async undoCancel(scope: Scope) {
      const row = await rowOf(scope);
      if (row.status === 'canceled' || row.status === 'expired') {
        throw new AppError('invalid_state', 'The subscription has already ended; start a new one with POST /v1/billing/checkout.', { subscriptionStatus: row.status });
      }
      if (!row.cancel_at_period_end) return view(scope);
      const subscriptionId = requireProviderSubscription(row);
      await provider.setCancelAtPeriodEnd(subscriptionId, false).catch(providerFailure(scope));
      await settleChange(scope, 'scheduled cancellation undone', 'billing.cancel_undone', () => ({ before: { cancelAtPeriodEnd: true }, after: { cancelAtPeriodEnd: false } }), () => provider.setCancelAtPeriodEnd(subscriptionId, true));
      return view(scope);
    },

    /**
     * Where the business pays: a hosted Checkout page. With no live subscription (none yet,
     * canceled, expired) it starts one on `plan`; otherwise the plan is changed if asked and the
     * page saves a card for the running subscription (open invoices are then retried at once).
     */
    async checkout(scope: Scope, input: CheckoutRequest) {
      const row = await rowOf(scope);
      const ended = row.status === 'canceled' || row.status === 'expired' || !row.provider_subscription_id;
      // Opening the page changes nothing: a new plan for the running subscription is carried by
      // the session and applied when the owner completes it (billing.inbox.ts, completeCheckout).
      const switchTo = !ended && input.plan && input.plan !== row.plan ? input.plan : null;
      if (switchTo) {
        if (!statusRules[row.status].live) {
          throw new AppError('invalid_state', `A ${row.status} subscription cannot change plan; start one with POST /v1/billing/checkout.`, { subscriptionStatus: row.status });
        }
        await assertFits(scope.tenantId, row, switchTo);
      }
      const customerId = await ensureCustomer(scope.tenantId, row).catch(unavailable);
      const mode: 'subscription' | 'setup' = ended ? 'subscription' : 'setup';
      const planKey = input.plan ?? (row.plan !== 'trial' && row.plan in plans ? (row.plan as PaidPlanKey) : defaultPaidPlan);
      const session = await provider
        .createCheckout({
          tenantId: scope.tenantId,
          customerId,
          mode,
          ...(mode === 'subscription' ? { planKey } : switchTo ? { planKey: switchTo } : {}),
          successUrl: input.successUrl ?? defaultSuccessUrl,
          cancelUrl: input.cancelUrl ?? defaultCancelUrl,
        })
        .catch(unavailable);
      const plan = mode === 'subscription' ? planKey : (switchTo ?? row.plan);
      await tenancy.withTenant(scope, (trx) =>
        recordAudit(trx, auditSourceOfUser(scope), {
          action: 'billing.checkout_started',
          permission: 'billing.manage',
          target: { type: 'subscription', id: scope.tenantId },
          changes: { before: { plan: row.plan }, after: { mode, plan, sessionId: session.id } },
        }),
      );
      return { id: session.id, url: session.url, mode, plan, currentPlan: row.plan };
    },

    /** A hosted page that saves a card for the running subscription. */
    async paymentMethodSetup(scope: Scope, input: Omit<CheckoutRequest, 'plan'>) {
      const row = await rowOf(scope);
      if (row.status === 'canceled' || row.status === 'expired') {
        throw new AppError('invalid_state', 'The subscription has ended; start a new one with POST /v1/billing/checkout.', { subscriptionStatus: row.status });
      }
      const customerId = await ensureCustomer(scope.tenantId, row).catch(unavailable);
      const session = await provider
        .createCheckout({ tenantId: scope.tenantId, customerId, mode: 'setup', successUrl: input.successUrl ?? defaultSuccessUrl, cancelUrl: input.cancelUrl ?? defaultCancelUrl })
        .catch(unavailable);
      await tenancy.withTenant(scope, (trx) =>
        recordAudit(trx, auditSourceOfUser(scope), {
          action: 'billing.payment_method_setup_started',
          permission: 'billing.manage',
          target: { type: 'subscription', id: scope.tenantId },
          changes: { after: { sessionId: session.id } },
        }),
      );
      return { id: session.id, url: session.url, mode: 'setup' as const, plan: row.plan, currentPlan: row.plan };
    },

    async invoices(scope: Scope, query: { limit?: number; cursor?: string }) {
      const limit = query.limit ?? 50;
      const after = decodeTimeCursor(query.cursor);
      const rows = await tenancy.readAsTenant(scope, (db) => invoicePage(db, scope.tenantId, limit, after));
      return toPage(rows, limit, timeKeyOf, invoiceView);
    },

    async history(scope: Scope) {
      return tenancy.withTenant(scope, async (trx) => ({
        transitions: (await transitionsOf(trx, scope.tenantId)).map((t) => ({ id: t.id, at: t.at.toISOString(), from: t.from_status, to: t.to_status, reason: t.reason, source: t.source, providerEventId: t.provider_event_id })),
        notices: (await noticesOf(trx, scope.tenantId)).map((n) => ({ id: n.id, at: n.created_at.toISOString(), kind: n.kind, subject: n.subject, body: n.body })),
      }));
    },

    plans() {
      return {
        data: Object.values(plans).map((p) => ({
          key: p.key,
          name: p.name,
          priceMinor: p.priceMinor,
          currency: p.currency,
          interval: 'month',
          features: [...p.features],
          limits: { ...p.limits },
        })),
        features: featureCatalogue,
      };
    },

    /** Trial reminders 7, 3 and 1 days before the end; only the nearest one due is sent. */
    async remindTrial(tenantId: string, now: Date): Promise<boolean> {
      return tenancy.withTenant({ tenantId }, async (trx) => {
        const row = await subscriptionOf(trx, tenantId);
        if (!row || row.status !== 'trialing' || !row.trial_ends_at || row.payment_method) return false;
        const left = row.trial_ends_at.getTime() - now.getTime();
        if (left <= 0) return false;
        const due = [1, 3, 7].find((days) => left <= days * DAY);
        if (!due) return false;
        const ctx = await sync.noticeContext(trx, tenantId);
        return sync.announce(trx, tenantId, trialReminder(ctx, due, row.trial_ends_at));
      });
    },

    /** When a trial ended and the provider never had a subscription for it: grace, with a notice. */
    async endTrialLocally(tenantId: string): Promise<void> {
      await sync.changeStatus(tenantId, 'grace', { source: 'lifecycle', reason: 'trial ended with no subscription at the payment provider' });
      invalidate(tenantId);
    },

  };
}

export function invoiceView(i: InvoiceRow) {
  return {
    id: i.id,
    providerInvoiceId: i.provider_invoice_id,
    number: i.number,
    status: i.status,
    billingReason: i.billing_reason,
    currency: i.currency,
    amountDueMinor: Number(i.amount_due_minor),
    amountPaidMinor: Number(i.amount_paid_minor),
    attemptCount: i.attempt_count,
    periodStart: iso(i.period_start),
    periodEnd: iso(i.period_end),
    hostedInvoiceUrl: i.hosted_invoice_url,
    invoicePdfUrl: i.invoice_pdf_url,
    issuedAt: i.issued_at.toISOString(),
    paidAt: iso(i.paid_at),
    nextPaymentAttempt: iso(i.next_payment_attempt),
  };
}

export type BillingService = ReturnType<typeof billingService>;
