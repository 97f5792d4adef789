import { type BillingContext, requireCustomer } from './simulator.context.ts';
import { changeTracker } from './simulator.events.ts';
import { cardDeclined, invalidRequest, resourceMissing } from './simulator.errors.ts';
import { newId, type CardDetails, type CustomerObject, type Metadata, type PaymentMethodObject, type Unix } from './simulator.state.ts';

/** Customers, Stripe's test cards, and payment methods attached to customers. */

// ---------------------------------------------------------------------------------------------
// Test cards

export interface Decline {
  code: string;
  declineCode: string;
  message: string;
}

interface TestCard {
  brand: string;
  last4: string;
  funding: 'credit' | 'debit';
  /** Declined when attached to a customer (Stripe checks the card then). */
  onAttach?: Decline;
  /** Declined whenever it is charged. */
  onCharge?: Decline;
}

export const genericDecline: Decline = { code: 'card_declined', declineCode: 'generic_decline', message: 'Your card was declined.' };

/** Stripe's test cards, usable as `pm_card_<name>` (PaymentMethod) or `tok_<name>` (token). */
const testCards: Record<string, TestCard> = {
  visa: { brand: 'visa', last4: '4242', funding: 'credit' },
  visa_debit: { brand: 'visa', last4: '5556', funding: 'debit' },
  mastercard: { brand: 'mastercard', last4: '4444', funding: 'credit' },
  amex: { brand: 'amex', last4: '8431', funding: 'credit' },
  chargeDeclined: { brand: 'visa', last4: '0002', funding: 'credit', onAttach: genericDecline, onCharge: genericDecline },
  chargeDeclinedInsufficientFunds: {
    brand: 'visa',
    last4: '9995',
    funding: 'credit',
    onAttach: { code: 'card_declined', declineCode: 'insufficient_funds', message: 'Your card has insufficient funds.' },
    onCharge: { code: 'card_declined', declineCode: 'insufficient_funds', message: 'Your card has insufficient funds.' },
  },
  chargeDeclinedExpiredCard: {
    brand: 'visa',
    last4: '0069',
    funding: 'credit',
    onAttach: { code: 'expired_card', declineCode: 'expired_card', message: 'Your card has expired.' },
    onCharge: { code: 'expired_card', declineCode: 'expired_card', message: 'Your card has expired.' },
  },
  // Attaching succeeds; every later charge fails: the card for testing dunning.
  chargeCustomerFail: { brand: 'visa', last4: '0341', funding: 'credit', onCharge: genericDecline },
};

const cardsByLast4 = new Map(Object.values(testCards).map((card) => [card.last4, card]));

/** How a saved card answers a charge: the decline it always gets, if it is one of the failing test cards. */
export function chargeDeclineOf(method: PaymentMethodObject): Decline | undefined {
  return cardsByLast4.get(method.card.last4)?.onCharge;
}

/** The decline a test-card reference (`pm_card_…`) would get when charged, if any. */
export function chargeDeclineOfTestCard(reference: string): Decline | undefined {
  const name = testCardName(reference);
  return name ? testCards[name]?.onCharge : undefined;
}

export function testCardName(reference: string): string | null {
  const match = /^(?:pm_card_|tok_)(.+)$/.exec(reference);
  return match && match[1] && testCards[match[1]] ? match[1] : null;
}

function cardDetails(card: TestCard): CardDetails {
  return {
    brand: card.brand,
    display_brand: card.brand,
    checks: { address_line1_check: null, address_postal_code_check: null, cvc_check: 'unchecked' },
    country: 'US',
    exp_month: 12,
    exp_year: new Date().getUTCFullYear() + 3,
    fingerprint: `fp${card.last4}${card.brand}`.padEnd(16, 'x').slice(0, 16),
    funding: card.funding,
    last4: card.last4,
    networks: { available: [card.brand], preferred: null },
    wallet: null,
  };
}

// ---------------------------------------------------------------------------------------------
// Customers

export interface CustomerInput {
  email?: string;
  name?: string;
  description?: string;
  phone?: string;
  metadata: Metadata;
  paymentMethod?: string;
  defaultPaymentMethod?: string;
  testClock?: string;
}

export function createCustomer(ctx: BillingContext, input: CustomerInput): CustomerObject {
  if (input.testClock && !ctx.state.data.testClocks[input.testClock]) throw resourceMissing('test clock', input.testClock, 'test_clock');
  const clock = input.testClock ?? null;
  const at = ctx.state.now(clock);
  const paymentMethod = input.paymentMethod ? preparePaymentMethod(ctx, input.paymentMethod, null, 'payment_method') : null;
  if (input.defaultPaymentMethod && input.defaultPaymentMethod !== input.paymentMethod) {
    throw invalidRequest(`The customer does not have a payment method with the ID ${input.defaultPaymentMethod}. The payment method must be attached to the customer.`, {
      param: 'invoice_settings[default_payment_method]',
    });
  }
  const customer: CustomerObject = {
    id: newId('cus'),
    object: 'customer',
    address: null,
    balance: 0,
    created: at,
    currency: null,
    default_source: null,
    delinquent: false,
    description: input.description ?? null,
    email: input.email ?? null,
    invoice_prefix: newId('x').slice(2, 10).toUpperCase(),
    invoice_settings: { custom_fields: null, default_payment_method: null, footer: null, rendering_options: null },
    livemode: false,
    metadata: input.metadata,
    name: input.name ?? null,
    next_invoice_sequence: 1,
    phone: input.phone ?? null,
    preferred_locales: [],
    shipping: null,
    tax_exempt: 'none',
    test_clock: clock,
  };
  ctx.state.data.customers[customer.id] = customer;
  ctx.events.record('customer.created', customer, at);
  if (paymentMethod) {
    const attached = attachPreparedPaymentMethod(ctx, paymentMethod, customer, at);
    if (input.defaultPaymentMethod) {
      const track = changeTracker(customer);
      customer.invoice_settings.default_payment_method = attached.id;
      ctx.events.record('customer.updated', customer, at, track());
    }
  }
  return customer;
}

export interface CustomerUpdate {
  email?: string | null;
  name?: string | null;
  description?: string | null;
  phone?: string | null;
  metadata?: Metadata;
  defaultPaymentMethod?: string | null;
}

export function updateCustomer(ctx: BillingContext, id: string, update: CustomerUpdate): CustomerObject {
  const customer = requireCustomer(ctx, id, 'id');
  if (update.defaultPaymentMethod) requireAttachedPaymentMethod(ctx, update.defaultPaymentMethod, customer.id, 'invoice_settings[default_payment_method]');
  const track = changeTracker(customer);
  if (update.email !== undefined) customer.email = update.email;
  if (update.name !== undefined) customer.name = update.name;
  if (update.description !== undefined) customer.description = update.description;
  if (update.phone !== undefined) customer.phone = update.phone;
  if (update.metadata !== undefined) customer.metadata = update.metadata;
  if (update.defaultPaymentMethod !== undefined) customer.invoice_settings.default_payment_method = update.defaultPaymentMethod;
  const previous = track();
  if (Object.keys(previous).length > 0) ctx.events.record('customer.updated', customer, ctx.state.now(customer.test_clock), previous);
  return customer;
}


// ---------------------------------------------------------------------------------------------
// Payment methods

/** A payment method about to be attached: an existing unattached one, or a fresh one from a test card. */
interface PreparedPaymentMethod {
  existing: PaymentMethodObject | null;
  card: TestCard;
}

export function preparePaymentMethod(ctx: BillingContext, reference: string, customerId: string | null, param: string): PreparedPaymentMethod {
  const name = testCardName(reference);
  if (name) {
    const card = testCards[name] as TestCard;
    if (card.onAttach) throw cardDeclined(card.onAttach.message, card.onAttach.declineCode, undefined, card.onAttach.code);
    return { existing: null, card };
  }
  const existing = ctx.state.data.paymentMethods[reference];
  if (!existing) throw resourceMissing('PaymentMethod', reference, param);
  if (existing.customer && existing.customer !== customerId) {
    throw invalidRequest('The payment method you provided has already been attached to a customer.', { param, code: 'payment_method_unexpected_state' });
  }
  const card = cardsByLast4.get(existing.card.last4) ?? (testCards.visa as TestCard);
  if (!existing.customer && card.onAttach) throw cardDeclined(card.onAttach.message, card.onAttach.declineCode, existing.id, card.onAttach.code);
  return { existing, card };
}

function attachPreparedPaymentMethod(ctx: BillingContext, prepared: PreparedPaymentMethod, customer: CustomerObject, at: Unix): PaymentMethodObject {
  const method = prepared.existing ?? buildPaymentMethod(ctx, prepared.card, at);
  if (method.customer === customer.id) return method;
  method.customer = customer.id;
  method.billing_details.email ??= customer.email;
  method.billing_details.name ??= customer.name;
  ctx.events.record('payment_method.attached', method, at);
  return method;
}

function buildPaymentMethod(ctx: BillingContext, card: TestCard, at: Unix): PaymentMethodObject {
  const method: PaymentMethodObject = {
    id: newId('pm'),
    object: 'payment_method',
    allow_redisplay: 'unspecified',
    billing_details: { address: null, email: null, name: null, phone: null },
    card: cardDetails(card),
    created: at,
    customer: null,
    livemode: false,
    metadata: {},
    type: 'card',
  };
  ctx.state.data.paymentMethods[method.id] = method;
  return method;
}

/** `POST /v1/payment_methods` with a test token (`card[token]=tok_visa`). */
export function createPaymentMethod(ctx: BillingContext, token: string, metadata: Metadata): PaymentMethodObject {
  const name = testCardName(token);
  if (!name) throw invalidRequest(`No such token: '${token}'. The simulator knows Stripe's test tokens (tok_visa, tok_chargeDeclined, tok_chargeCustomerFail, ...).`, { code: 'resource_missing', param: 'card[token]' });
  const method = buildPaymentMethod(ctx, testCards[name] as TestCard, ctx.state.now(null));
  method.metadata = metadata;
  return method;
}

/**
 * Attaches a payment method to a customer. A test-card reference (`pm_card_visa`) creates a new
 * payment method with its own id, as Stripe does; use the returned id afterwards.
 */
export function attachPaymentMethod(ctx: BillingContext, reference: string, customerId: string): PaymentMethodObject {
  const customer = requireCustomer(ctx, customerId);
  const prepared = preparePaymentMethod(ctx, reference, customer.id, 'payment_method');
  return attachPreparedPaymentMethod(ctx, prepared, customer, ctx.state.now(customer.test_clock));
}

export function detachPaymentMethod(ctx: BillingContext, id: string): PaymentMethodObject {
  const method = ctx.state.data.paymentMethods[id];
  if (!method) throw resourceMissing('PaymentMethod', id);
  if (!method.customer) throw invalidRequest('The payment method you provided is not attached to a customer so detachment is impossible.', { code: 'payment_method_unexpected_state' });
  const customer = ctx.state.data.customers[method.customer];
  const at = ctx.state.now(customer?.test_clock ?? null);
  const track = changeTracker(method);
  method.customer = null;
  if (customer && customer.invoice_settings.default_payment_method === id) {
    const trackCustomer = changeTracker(customer);
    customer.invoice_settings.default_payment_method = null;
    ctx.events.record('customer.updated', customer, at, trackCustomer());
  }
  ctx.events.record('payment_method.detached', method, at, track());
  return method;
}

export function requireAttachedPaymentMethod(ctx: BillingContext, id: string, customerId: string, param: string): PaymentMethodObject {
  const method = ctx.state.data.paymentMethods[id];
  if (!method || method.customer !== customerId) {
    throw invalidRequest(`The customer does not have a payment method with the ID ${id}. The payment method must be attached to the customer.`, { param });
  }
  return method;
}
