import { daySeconds, requireCustomer, requirePrice, type BillingContext } from './simulator.context.ts';
import { attachPaymentMethod, chargeDeclineOfTestCard, createCustomer, preparePaymentMethod, testCardName } from './simulator.customers.ts';
import { changeTracker } from './simulator.events.ts';
import { cardDeclined, invalidRequest, resourceMissing } from './simulator.errors.ts';
import { createSubscription, validatePrices } from './simulator.subscriptions.ts';
import { newId, type CheckoutSessionObject, type Metadata, type MissingPaymentMethodBehaviour, type PriceObject, type Unix } from './simulator.state.ts';

/** Checkout Sessions in subscription and setup mode, completed on the simulator's hosted page. */

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
    expires_at: input.expiresAt ?? at + daySeconds,
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
  if (!testCardName(input.paymentMethod)) throw invalidRequest(`Use a test card such as pm_card_visa on the simulator's checkout page, not ${input.paymentMethod}.`, { param: 'payment_method' });
  // Check the card before anything is created; a decline leaves no trace but the error.
  preparePaymentMethod(ctx, input.paymentMethod, null, 'payment_method');
  const needsCharge = session.mode === 'subscription' && !books.subscriptionData.trialPeriodDays && !books.subscriptionData.trialEnd && (session.amount_total ?? 0) > 0;
  if (needsCharge) {
    const decline = chargeDeclineOfTestCard(input.paymentMethod);
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

