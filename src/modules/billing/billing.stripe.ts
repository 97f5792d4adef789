import Stripe from 'stripe';
import { storableCopy, mayEscapeUnstorable } from '../../platform/http/validation.ts';
import { paidPlans, type PaidPlanKey } from './billing.plans.ts';
import {
  PaymentDeclinedError,
  ProviderRefusedError,
  ProviderUnavailableError,
  WebhookPayloadError,
  WebhookSignatureError,
  type CheckoutInput,
  type CheckoutSession,
  type PaymentMethodSummary,
  type PaymentProvider,
  type ProviderEvent,
  type ProviderInvoice,
  type ProviderSubscription,
} from './billing.provider.ts';

/**
 * The payment-provider port over the official `stripe` SDK. Stripe itself and the bundled
 * simulator (which speaks the same wire protocol) both run through this code; they differ in
 * where the SDK points and who hosts the other end (billing.simulator-host.ts).
 *
 * Field locations follow the SDK's API version: the billing period is on the subscription
 * items, an invoice names its subscription in `parent.subscription_details`, and Brigade's
 * metadata (`tenantId`) is on customers and subscriptions.
 */

export interface StripeAdapterOptions {
  name: 'stripe' | 'simulator';
  webhookSecret: string;
  /** Seconds a webhook's signed timestamp may be away from now (Stripe's default: 300). */
  toleranceSeconds?: number;
}

const toDate = (unix: number | null | undefined): Date | null => (typeof unix === 'number' ? new Date(unix * 1000) : null);

function idOf(value: string | { id: string } | null | undefined): string | null {
  if (!value) return null;
  return typeof value === 'string' ? value : value.id;
}

/** 5xx, timeouts, resets and rate limits are the provider's trouble: retry later. */
function translate(err: unknown): never {
  if (
    err instanceof Stripe.errors.StripeAPIError ||
    err instanceof Stripe.errors.StripeConnectionError ||
    err instanceof Stripe.errors.StripeRateLimitError ||
    (err instanceof Stripe.errors.StripeError && (err.statusCode ?? 0) >= 500)
  ) {
    throw new ProviderUnavailableError(`payment provider unavailable: ${err.message}`);
  }
  throw err;
}

const isMissing = (err: unknown) => err instanceof Stripe.errors.StripeInvalidRequestError && (err.code === 'resource_missing' || err.statusCode === 404);

async function call<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    return translate(err);
  }
}

/**
 * A call that changes a subscription, with the provider's refusals said in Brigade's terms:
 * a declined charge, or no card left to charge (removed at the provider), is
 * PaymentDeclinedError; any other invalid request on an object that exists is a change its copy
 * does not allow, ProviderRefusedError. Nothing was changed in either case.
 */
async function change<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await call(fn);
  } catch (err) {
    if (err instanceof Stripe.errors.StripeCardError) throw new PaymentDeclinedError(err.message, err.decline_code ?? err.code ?? null);
    if (err instanceof Stripe.errors.StripeInvalidRequestError && !isMissing(err)) {
      if (/no attached payment source|default payment method/i.test(err.message)) throw new PaymentDeclinedError(err.message, 'no_payment_method');
      throw new ProviderRefusedError(err.message);
    }
    throw err;
  }
}

async function callOrNull<T>(fn: () => Promise<T>): Promise<T | null> {
  try {
    return await fn();
  } catch (err) {
    if (isMissing(err)) return null;
    return translate(err);
  }
}

export function toSubscription(s: Stripe.Subscription): ProviderSubscription {
  const item = s.items.data[0];
  const customer = typeof s.customer === 'string' ? null : (s.customer as Stripe.Customer);
  const customerDefault = customer && !('deleted' in customer && customer.deleted) ? idOf(customer.invoice_settings?.default_payment_method ?? null) : null;
  return {
    id: s.id,
    customerId: idOf(s.customer as string | { id: string })!,
    status: s.status,
    planKey: item?.price.lookup_key ?? (item?.price.metadata?.plan || null),
    planChosen: s.metadata?.planChosen === 'true',
    tenantId: s.metadata?.tenantId || null,
    trialEnd: toDate(s.trial_end),
    currentPeriodStart: toDate(item?.current_period_start),
    currentPeriodEnd: toDate(item?.current_period_end),
    cancelAtPeriodEnd: s.cancel_at_period_end,
    canceledAt: toDate(s.canceled_at),
    endedAt: toDate(s.ended_at),
    cancellationReason: s.cancellation_details?.reason ?? null,
    paymentMethodId: idOf(s.default_payment_method as string | { id: string } | null) ?? customerDefault,
    created: new Date(s.created * 1000),
  };
}

export function toInvoice(i: Stripe.Invoice): ProviderInvoice {
  const details = i.parent?.subscription_details ?? null;
  const line = i.lines?.data?.[0];
  return {
    id: i.id!,
    customerId: idOf(i.customer as string | { id: string } | null)!,
    subscriptionId: idOf((details?.subscription as string | { id: string } | null | undefined) ?? null),
    tenantId: details?.metadata?.tenantId || null,
    number: i.number ?? null,
    status: i.status ?? 'draft',
    billingReason: i.billing_reason ?? null,
    currency: i.currency.toUpperCase(),
    amountDueMinor: i.amount_due,
    amountPaidMinor: i.amount_paid,
    attemptCount: i.attempt_count,
    // The lines carry the service period; the invoice's own period is the one before it.
    periodStart: toDate(line?.period?.start ?? i.period_start),
    periodEnd: toDate(line?.period?.end ?? i.period_end),
    hostedInvoiceUrl: i.hosted_invoice_url ?? null,
    invoicePdfUrl: i.invoice_pdf ?? null,
    created: new Date(i.created * 1000),
    paidAt: toDate(i.status_transitions?.paid_at),
    nextPaymentAttempt: toDate(i.next_payment_attempt),
  };
}

function toCheckout(s: Stripe.Checkout.Session): CheckoutSession {
  const intent = s.setup_intent && typeof s.setup_intent !== 'string' ? s.setup_intent : null;
  return {
    id: s.id,
    url: s.url ?? '',
    mode: s.mode === 'setup' ? 'setup' : 'subscription',
    status: s.status ?? 'open',
    subscriptionId: idOf(s.subscription as string | { id: string } | null),
    setupPaymentMethodId: intent ? idOf(intent.payment_method as string | { id: string } | null) : null,
    planKey: s.mode === 'setup' ? s.metadata?.plan || null : null,
    tenantId: s.metadata?.tenantId || s.client_reference_id || null,
    customerId: idOf(s.customer as string | { id: string } | null),
  };
}

/** Routing facts of an event: which tenant, customer and subscription it is about. */
export function describeEvent(received: Record<string, unknown>, opts: { storable?: boolean } = {}): ProviderEvent {
  // Kept as jsonb and in text columns: a NUL or an unpaired surrogate the provider sent would make
  // the event unstorable (and retried for days), so those characters are replaced, unless the
  // caller knows there are none (JSON text without such an escape: mayEscapeUnstorable).
  const raw = opts.storable ? received : (storableCopy(received) as Record<string, unknown>);
  const id = raw.id;
  const type = raw.type;
  const created = raw.created;
  const data = raw.data as { object?: Record<string, unknown> } | undefined;
  if (typeof id !== 'string' || !id || typeof type !== 'string' || !type || typeof created !== 'number' || !data || typeof data.object !== 'object' || data.object === null) {
    throw new WebhookPayloadError('the event lacks an id, a type, a created time or data.object');
  }
  const object = data.object;
  const objectType = typeof object.object === 'string' ? object.object : null;
  const metadata = (object.metadata ?? {}) as Record<string, string>;
  const parent = object.parent as { subscription_details?: { subscription?: unknown; metadata?: Record<string, string> } } | null | undefined;
  const text = (v: unknown) => (typeof v === 'string' && v ? v : null);
  let subscriptionId: string | null = null;
  if (objectType === 'subscription') subscriptionId = text(object.id);
  else if (objectType === 'invoice') subscriptionId = text(parent?.subscription_details?.subscription);
  else if (objectType === 'checkout.session') subscriptionId = text(object.subscription);
  let customerId: string | null = null;
  if (objectType === 'customer') customerId = text(object.id);
  else customerId = text(object.customer);
  const tenantId = text(metadata.tenantId) ?? text(parent?.subscription_details?.metadata?.tenantId) ?? (objectType === 'checkout.session' ? text(object.client_reference_id) : null);
  return {
    id,
    type,
    created: new Date(created * 1000),
    objectType,
    objectId: text(object.id),
    tenantId,
    customerId,
    subscriptionId,
    raw,
  };
}

export function stripeAdapter(stripe: Stripe, opts: StripeAdapterOptions): PaymentProvider {
  const tolerance = opts.toleranceSeconds ?? 300;
  let priceIds: Promise<Map<PaidPlanKey, string>> | null = null;

  /** Plan key → price id, by lookup_key; looked up once per process (reset after a failure). */
  async function priceOf(plan: PaidPlanKey): Promise<string> {
    priceIds ??= call(async () => {
      const found = await stripe.prices.list({ lookup_keys: [...paidPlans], active: true, limit: 100 });
      return new Map(found.data.filter((p) => p.lookup_key).map((p) => [p.lookup_key as PaidPlanKey, p.id]));
    });
    let map: Map<PaidPlanKey, string>;
    try {
      map = await priceIds;
    } catch (err) {
      priceIds = null;
      throw err;
    }
    const id = map.get(plan);
    if (!id) {
      priceIds = null;
      throw new Error(`The payment provider has no active price with lookup_key "${plan}"; create one for each plan (${paidPlans.join(', ')}).`);
    }
    return id;
  }

  const expandCustomer = ['customer'];

  return {
    name: opts.name,

    async createCustomer({ tenantId, name, email }) {
      const customer = await call(() =>
        stripe.customers.create(
          { name, ...(email ? { email } : {}), metadata: { tenantId } },
          // A retried job must not open a second customer for the same business.
          { idempotencyKey: `brigade-customer-${tenantId}` },
        ),
      );
      return customer.id;
    },

    async findCustomer(tenantId) {
      const found = await call(() => stripe.customers.search({ query: `metadata['tenantId']:'${tenantId}'`, limit: 10 }));
      const newest = [...found.data].sort((a, b) => b.created - a.created)[0];
      return newest?.id ?? null;
    },

    async createTrialSubscription({ tenantId, customerId, planKey, trialEnd }) {
      const price = await priceOf(planKey);
      const created = await call(() =>
        stripe.subscriptions.create(
          {
            customer: customerId,
            items: [{ price }],
            trial_end: Math.floor(trialEnd.getTime() / 1000),
            // Ending the trial without a card leaves an open invoice (past_due): Brigade's grace.
            trial_settings: { end_behavior: { missing_payment_method: 'create_invoice' } },
            metadata: { tenantId, planChosen: 'false' },
            expand: expandCustomer,
          },
          { idempotencyKey: `brigade-trial-${tenantId}` },
        ),
      );
      return toSubscription(created);
    },

    async retrieveSubscription(id) {
      const s = await callOrNull(() => stripe.subscriptions.retrieve(id, { expand: expandCustomer }));
      return s ? toSubscription(s) : null;
    },

    async subscriptionsOfCustomer(customerId) {
      const list = await call(() => stripe.subscriptions.list({ customer: customerId, status: 'all', limit: 100, expand: ['data.customer'] }));
      return list.data.map(toSubscription);
    },

    async *listSubscriptions() {
      let startingAfter: string | undefined;
      for (;;) {
        const page = await call(() => stripe.subscriptions.list({ status: 'all', limit: 100, ...(startingAfter ? { starting_after: startingAfter } : {}) }));
        for (const s of page.data) yield toSubscription(s);
        if (!page.has_more || page.data.length === 0) return;
        startingAfter = page.data[page.data.length - 1]!.id;
      }
    },

    async changePlan(subscriptionId, planKey) {
      const price = await priceOf(planKey);
      const current = await call(() => stripe.subscriptions.retrieve(subscriptionId));
      const item = current.items.data[0];
      if (!item) throw new Error(`subscription ${subscriptionId} has no items`);
      // Nothing changes plan until it is paid for: on a paying subscription the proration is
      // invoiced and charged now, and the update fails, unapplied, if the charge does.
      const paying = current.status === 'active';
      await change(() =>
        stripe.subscriptions.update(subscriptionId, {
          items: [{ id: item.id, price }],
          metadata: { planChosen: 'true' },
          ...(paying ? { proration_behavior: 'always_invoice', payment_behavior: 'error_if_incomplete' } : { proration_behavior: 'create_prorations' }),
        }),
      );
    },

    async setCancelAtPeriodEnd(subscriptionId, cancel) {
      await change(() => stripe.subscriptions.update(subscriptionId, { cancel_at_period_end: cancel }));
    },

    async cancelNow(subscriptionId) {
      await change(() => stripe.subscriptions.cancel(subscriptionId));
    },

    async createCheckout(input: CheckoutInput) {
      const base = {
        customer: input.customerId,
        client_reference_id: input.tenantId,
        success_url: input.successUrl,
        cancel_url: input.cancelUrl,
        metadata: { tenantId: input.tenantId },
      };
      const session =
        input.mode === 'setup'
          ? await call(() =>
              stripe.checkout.sessions.create({
                ...base,
                ...(input.planKey ? { metadata: { ...base.metadata, plan: input.planKey } } : {}),
                mode: 'setup',
                setup_intent_data: { metadata: { tenantId: input.tenantId } },
              }),
            )
          : await call(async () =>
              stripe.checkout.sessions.create({
                ...base,
                mode: 'subscription',
                line_items: [{ price: await priceOf(input.planKey!), quantity: 1 }],
                subscription_data: { metadata: { tenantId: input.tenantId, planChosen: 'true' } },
              }),
            );
      return toCheckout(session);
    },

    async retrieveCheckout(id) {
      const s = await callOrNull(() => stripe.checkout.sessions.retrieve(id, { expand: ['setup_intent'] }));
      return s ? toCheckout(s) : null;
    },

    async setDefaultPaymentMethod(customerId, subscriptionId, paymentMethodId) {
      await call(() => stripe.customers.update(customerId, { invoice_settings: { default_payment_method: paymentMethodId } }));
      if (subscriptionId) await call(() => stripe.subscriptions.update(subscriptionId, { default_payment_method: paymentMethodId }));
    },

    async paymentMethod(id) {
      const pm = await callOrNull(() => stripe.paymentMethods.retrieve(id));
      if (!pm?.card) return null;
      const summary: PaymentMethodSummary = { id: pm.id, brand: pm.card.brand, last4: pm.card.last4, expMonth: pm.card.exp_month, expYear: pm.card.exp_year };
      return summary;
    },

    async payOpenInvoices(subscriptionId) {
      const open = await call(() => stripe.invoices.list({ subscription: subscriptionId, status: 'open', limit: 20 }));
      let paid = 0;
      for (const invoice of open.data) {
        try {
          await stripe.invoices.pay(invoice.id!);
          paid++;
        } catch (err) {
          // A declined card is the provider's answer, reported by its own events.
          if (err instanceof Stripe.errors.StripeCardError) continue;
          translate(err);
        }
      }
      return paid;
    },

    async retrieveInvoice(id) {
      const i = await callOrNull(() => stripe.invoices.retrieve(id));
      return i ? toInvoice(i) : null;
    },

    async invoicesOfSubscription(subscriptionId, limit) {
      const list = await call(() => stripe.invoices.list({ subscription: subscriptionId, limit: Math.min(limit, 100) }));
      return list.data.map(toInvoice);
    },

    async *undeliveredEvents(since) {
      let startingAfter: string | undefined;
      for (;;) {
        const page = await call(() =>
          stripe.events.list({
            delivery_success: false,
            created: { gte: Math.floor(since.getTime() / 1000) },
            limit: 100,
            ...(startingAfter ? { starting_after: startingAfter } : {}),
          }),
        );
        for (const e of page.data) yield describeEvent(e as unknown as Record<string, unknown>);
        if (!page.has_more || page.data.length === 0) return;
        startingAfter = page.data[page.data.length - 1]!.id;
      }
    },

    verifyWebhook(rawBody, signature) {
      if (!signature) throw new WebhookSignatureError('missing_signature');
      const t = /(?:^|,)\s*t=(\d+)/.exec(signature);
      if (!t) throw new WebhookSignatureError('malformed_signature');
      // The SDK refuses old timestamps; one from the future is as suspect.
      if (Number(t[1]) - Date.now() / 1000 > tolerance) throw new WebhookSignatureError('timestamp_outside_tolerance');
      let event: Stripe.Event;
      const text = rawBody.toString('utf8');
      try {
        event = stripe.webhooks.constructEvent(text, signature, opts.webhookSecret, tolerance);
      } catch (err) {
        if (err instanceof Stripe.errors.StripeSignatureVerificationError) {
          const message = err.message;
          if (/tolerance/i.test(message)) throw new WebhookSignatureError('timestamp_outside_tolerance');
          if (/Unable to extract|No signatures found with expected scheme|No stripe-signature/i.test(message)) throw new WebhookSignatureError('malformed_signature');
          throw new WebhookSignatureError('signature_mismatch');
        }
        // The signature matched but the body is not JSON.
        throw new WebhookPayloadError('the body is not a JSON event');
      }
      const storable = !mayEscapeUnstorable(text);
      const described = describeEvent(event as unknown as Record<string, unknown>, { storable });
      return storable ? { ...described, receivedJson: text } : described;
    },
  };
}
