import { UUID } from '../../platform/http/validation.ts';
import type { Platform } from '../../platform/deps.ts';
import { eventById, settleEvent, storeEvent, sweepEvents, type EventOutcome } from './billing.repository.ts';
import type { PaymentProvider, ProviderEvent } from './billing.provider.ts';
import { describeEvent } from './billing.stripe.ts';
import { isPaidPlanKey } from './billing.plans.ts';
import type { SubscriptionSync } from './billing.sync.ts';

/**
 * The webhook inbox: every event the provider sends is verified, stored once under its own id
 * (a platform table, through withSystem) and only then acknowledged; a job processes it. The
 * job never applies the event's snapshot: it re-reads the provider's current objects, so a
 * duplicate changes nothing and the order of arrival does not matter.
 *
 * The acknowledging statement writes the event alone; the sweep gives pending events their
 * jobs in batches (docs/decisions/0682-webhook-sweep.md): a few milliseconds after a store in
 * the storing process, and every SWEEP_EVERY_MS in the worker (`billing.inbox_sweep`), which
 * finds what a process that died after its 200 left without a job.
 */

export const WEBHOOK_JOB = 'billing.webhook_event';
/** How long a store waits for others to join its sweep. */
const SWEEP_DELAY_MS = 5;
const SWEEP_BATCH = 500;
/** The worker's periodic sweep (billing.inbox_sweep). */
export const SWEEP_EVERY_MS = 30_000;


/** The event types Brigade acts on; anything else is stored and ignored. */
const handled = new Set([
  'customer.subscription.created',
  'customer.subscription.updated',
  'customer.subscription.deleted',
  'customer.subscription.paused',
  'customer.subscription.resumed',
  'customer.subscription.trial_will_end',
  'customer.subscription.pending_update_applied',
  'customer.subscription.pending_update_expired',
  'customer.updated',
  'invoice.created',
  'invoice.finalized',
  'invoice.updated',
  'invoice.paid',
  'invoice.payment_succeeded',
  'invoice.payment_failed',
  'invoice.payment_action_required',
  'invoice.voided',
  'invoice.marked_uncollectible',
  'checkout.session.completed',
  'payment_method.attached',
  'payment_method.detached',
]);

export function isHandledEventType(type: string): boolean {
  return handled.has(type);
}

export interface Receipt {
  eventId: string;
  duplicate: boolean;
  /** What was decided for a new event; null for a duplicate. */
  outcome: EventOutcome | null;
}

export function billingInbox(platform: Platform, provider: PaymentProvider, sync: SubscriptionSync) {
  const { tenancy, log } = platform;

  /**
   * Gives every pending event without a job its job, SWEEP_BATCH at a time, each batch one
   * statement (its own transaction, whose outbox rows wake the relay at once). Returns how many
   * it queued. Safe beside other sweepers, in this process or others (see sweepEvents).
   */
  async function sweep(): Promise<number> {
    let total = 0;
    for (;;) {
      const n = await tenancy.statementAsSystem('billing: queue webhook events', (db) => sweepEvents(db, WEBHOOK_JOB, SWEEP_BATCH));
      total += n;
      if (n < SWEEP_BATCH) return total;
    }
  }

  // The quick wake-up: one sweep at a time in this process, SWEEP_DELAY_MS after a store, and
  // again at once when events were stored while it ran. `cycle` settles when it has nothing left.
  let sweepTimer: NodeJS.Timeout | null = null;
  let sweeping = false;
  let again = false;
  let cycle: { done: Promise<void>; resolve: () => void } | null = null;
  const sweepSoon = () => {
    if (!cycle) {
      let resolve: () => void = () => undefined;
      const done = new Promise<void>((r) => (resolve = r));
      cycle = { done, resolve };
    }
    if (sweeping) {
      again = true;
      return;
    }
    if (sweepTimer) return;
    sweepTimer = setTimeout(() => {
      sweepTimer = null;
      sweeping = true;
      again = false;
      sweep()
        // Lost (the pool closing, the server away): the worker's periodic sweep queues them.
        .catch((err: Error) => log.warn({ err: err.message }, 'billing: could not queue webhook events yet'))
        .finally(() => {
          sweeping = false;
          if (again) return sweepSoon();
          const finished = cycle;
          cycle = null;
          finished?.resolve();
        });
    }, SWEEP_DELAY_MS);
    sweepTimer.unref();
  };

  /** Stores the event (once), alone: one statement, its own transaction; the sweep queues its job. */
  async function store(e: ProviderEvent, via: 'webhook' | 'catch_up', rawJson?: string): Promise<Receipt> {
    const result = await tenancy.statementAsSystem('billing: webhook inbox', (db) =>
      storeEvent(db, {
        provider: provider.name,
        event: e,
        rawJson,
        metadataTenantId: e.tenantId && UUID.test(e.tenantId) ? e.tenantId : null,
        handled: isHandledEventType(e.type),
        via,
      }),
    );
    if (result.outcome === 'pending') sweepSoon();
    return { eventId: e.id, duplicate: !result.stored, outcome: result.outcome };
  }

  return {
    /** Verify, then store; throws WebhookSignatureError / WebhookPayloadError for a 400. */
    async receive(rawBody: Buffer, signature: string | undefined): Promise<Receipt> {
      const event = provider.verifyWebhook(rawBody, signature);
      // The verified bytes, when storable as they are (see ProviderEvent.receivedJson).
      const receipt = await store(event, 'webhook', event.receivedJson);
      log.debug({ eventId: event.id, type: event.type, duplicate: receipt.duplicate, outcome: receipt.outcome }, 'billing: webhook stored');
      return receipt;
    },

    /** For reconciliation: events the provider failed to deliver enter the inbox as if they had come. */
    store: (e: ProviderEvent, via: 'webhook' | 'catch_up') => store(e, via),

    /** Queues the job of every pending event stored without one (the periodic sweep, tests). */
    sweep,

    /** Settles once this process's quick wake-up has nothing scheduled or running. */
    idle: (): Promise<void> => cycle?.done ?? Promise.resolve(),

    /** The `billing.webhook_event` job: process one stored event (idempotent). */
    async process(eventId: string): Promise<EventOutcome> {
      const row = await tenancy.withSystem('billing: read inbox event', (trx) => eventById(trx, eventId));
      if (!row || row.outcome === 'applied' || row.outcome === 'ignored' || row.outcome === 'unmatched') return row?.outcome ?? 'ignored';
      if (!row.tenant_id) return 'unmatched';
      const tenantId = row.tenant_id;
      const e = describeEvent(row.payload);
      const object = (e.raw.data as { object: Record<string, unknown> }).object;
      const meta = { source: 'webhook' as const, reason: e.type, providerEventId: e.id };
      try {
        if (e.type === 'checkout.session.completed' && e.objectId) await completeCheckout(tenantId, e.objectId);
        if (e.objectType === 'invoice' && e.objectId) {
          const attempt = typeof object.attempt_count === 'number' ? object.attempt_count : null;
          await sync.mirrorInvoice(tenantId, e.objectId, { type: e.type, attempt });
        }
        await sync.syncTenant(tenantId, { ...meta, hintSubscriptionId: e.subscriptionId });
      } catch (err) {
        await tenancy.withSystem('billing: settle inbox event', (trx) => settleEvent(trx, eventId, 'failed', (err as Error).message.slice(0, 500)));
        throw err;
      }
      await tenancy.withSystem('billing: settle inbox event', (trx) => settleEvent(trx, eventId, 'applied', null));
      return 'applied';
    },
  };

  /**
   * A finished Checkout: in setup mode the new card becomes the default and any open invoice is
   * tried again at once (a business in grace or past_due is back the moment its card works).
   * A plan the session carries is applied now, once the owner has completed the page, never
   * when it was opened. Retried or duplicated, it changes the plan once (the provider's current
   * plan is compared first).
   */
  async function completeCheckout(tenantId: string, sessionId: string): Promise<void> {
    const session = await provider.retrieveCheckout(sessionId);
    if (!session || session.status !== 'complete' || session.mode !== 'setup' || !session.setupPaymentMethodId || !session.customerId) return;
    const row = await tenancy.readAsTenant({ tenantId }, (db) =>
      db.selectFrom('subscriptions').select(['provider_subscription_id', 'provider_customer_id']).where('tenant_id', '=', tenantId).executeTakeFirst(),
    );
    if (!row || row.provider_customer_id !== session.customerId) return;
    // A card saved for an ended subscription still becomes the customer's default.
    const current = row.provider_subscription_id ? await provider.retrieveSubscription(row.provider_subscription_id) : null;
    const live = current !== null && current.status !== 'canceled' && current.status !== 'incomplete_expired';
    await provider.setDefaultPaymentMethod(session.customerId, live ? current.id : null, session.setupPaymentMethodId);
    if (!live) return;
    if (session.planKey && isPaidPlanKey(session.planKey) && current.planKey !== session.planKey) {
      await provider.changePlan(current.id, session.planKey);
    }
    await provider.payOpenInvoices(current.id);
  }
}

export type BillingInbox = ReturnType<typeof billingInbox>;
