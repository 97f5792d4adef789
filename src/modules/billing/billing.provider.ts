import type { PaidPlanKey } from './billing.plans.ts';

/**
 * The payment provider as billing sees it: one port, two adapters (billing.stripe.ts: Stripe
 * through the official SDK, and the bundled simulator through the same SDK pointed at it).
 * Values come out normalised: Brigade never reads a provider's object shape outside an adapter.
 */

export interface ProviderSubscription {
  id: string;
  customerId: string;
  /** The provider's own status (Stripe: trialing, active, past_due, unpaid, paused, canceled, incomplete, incomplete_expired). */
  status: string;
  /** The plan key of the price (its lookup_key); null for a price Brigade does not know. */
  planKey: string | null;
  /** Whether the business picked its plan; a trial that did not still shows as `trial`. */
  planChosen: boolean;
  tenantId: string | null;
  trialEnd: Date | null;
  currentPeriodStart: Date | null;
  currentPeriodEnd: Date | null;
  cancelAtPeriodEnd: boolean;
  canceledAt: Date | null;
  endedAt: Date | null;
  /** Why it ended: cancellation_requested, payment_failed, ... */
  cancellationReason: string | null;
  /** The subscription's own default payment method, or the customer's. */
  paymentMethodId: string | null;
  created: Date;
}

export interface ProviderInvoice {
  id: string;
  customerId: string;
  subscriptionId: string | null;
  tenantId: string | null;
  number: string | null;
  /** draft, open, paid, uncollectible, void */
  status: string;
  billingReason: string | null;
  currency: string;
  amountDueMinor: number;
  amountPaidMinor: number;
  attemptCount: number;
  periodStart: Date | null;
  periodEnd: Date | null;
  hostedInvoiceUrl: string | null;
  invoicePdfUrl: string | null;
  created: Date;
  paidAt: Date | null;
  nextPaymentAttempt: Date | null;
}

export interface PaymentMethodSummary {
  id: string;
  brand: string;
  last4: string;
  expMonth: number;
  expYear: number;
}

/** What a verified webhook (or a caught-up event) carries, with the routing facts pulled out. */
export interface ProviderEvent {
  id: string;
  type: string;
  created: Date;
  objectType: string | null;
  objectId: string | null;
  /** From the object's metadata (ours), when it has any. */
  tenantId: string | null;
  customerId: string | null;
  subscriptionId: string | null;
  /** The event as the provider sent it; the snapshot is never applied, only its identity used. */
  raw: Record<string, unknown>;
  /**
   * The verified webhook body, when it can be stored as it came (no escape of a NUL or a lone
   * surrogate, which jsonb refuses; `raw` has those replaced): kept as received, not serialised again.
   */
  receivedJson?: string;
}

export interface CheckoutInput {
  tenantId: string;
  customerId: string;
  mode: 'subscription' | 'setup';
  /** Subscription mode: the plan subscribed to. Setup mode: the plan to move to once the session completes. */
  planKey?: PaidPlanKey;
  successUrl: string;
  cancelUrl: string;
}

export interface CheckoutSession {
  id: string;
  url: string;
  mode: 'subscription' | 'setup';
  status: string;
  subscriptionId: string | null;
  /** The card saved by a completed setup-mode session. */
  setupPaymentMethodId: string | null;
  /** The plan a setup-mode session moves the subscription to when it completes (our metadata). */
  planKey: string | null;
  tenantId: string | null;
  customerId: string | null;
}

/** Why a webhook was refused, for the log (never the signature itself). */
export type SignatureFailure = 'missing_signature' | 'malformed_signature' | 'signature_mismatch' | 'timestamp_outside_tolerance';

export class WebhookSignatureError extends Error {
  constructor(readonly reason: SignatureFailure) {
    super(`webhook signature refused: ${reason}`);
  }
}

export class WebhookPayloadError extends Error {}

/** The provider could not be reached or failed (5xx, network); the caller retries later. */
export class ProviderUnavailableError extends Error {}

/**
 * The provider refused a change its copy of the subscription does not allow (already canceled
 * there, say): Brigade's copy is behind, nothing was changed.
 */
export class ProviderRefusedError extends Error {}

/** The provider declined to charge the subscription's payment method: nothing was changed. */
export class PaymentDeclinedError extends Error {
  constructor(
    message: string,
    readonly declineCode: string | null,
  ) {
    super(message);
  }
}

export interface PaymentProvider {
  readonly name: 'stripe' | 'simulator';
  createCustomer(input: { tenantId: string; name: string; email: string | null }): Promise<string>;
  /** The provider-side customer of a tenant, found by our metadata (for repairs). */
  findCustomer(tenantId: string): Promise<string | null>;
  createTrialSubscription(input: { tenantId: string; customerId: string; planKey: PaidPlanKey; trialEnd: Date }): Promise<ProviderSubscription>;
  retrieveSubscription(id: string): Promise<ProviderSubscription | null>;
  subscriptionsOfCustomer(customerId: string): Promise<ProviderSubscription[]>;
  /** Every subscription the account has, ended ones included, page by page. */
  listSubscriptions(): AsyncIterable<ProviderSubscription>;
  /**
   * Moves the subscription to the plan. A paying (active) subscription is charged the prorated
   * difference at once and changes plan only if that charge succeeds (PaymentDeclinedError
   * otherwise, with nothing changed); a trial changes at once, with nothing to charge.
   */
  changePlan(subscriptionId: string, planKey: PaidPlanKey): Promise<void>;
  setCancelAtPeriodEnd(subscriptionId: string, cancel: boolean): Promise<void>;
  cancelNow(subscriptionId: string): Promise<void>;
  createCheckout(input: CheckoutInput): Promise<CheckoutSession>;
  retrieveCheckout(id: string): Promise<CheckoutSession | null>;
  /** Makes the card the one future invoices are charged to. */
  setDefaultPaymentMethod(customerId: string, subscriptionId: string | null, paymentMethodId: string): Promise<void>;
  paymentMethod(id: string): Promise<PaymentMethodSummary | null>;
  /** Attempts every open invoice of the subscription now (after a new card); declines are not errors. */
  payOpenInvoices(subscriptionId: string): Promise<number>;
  retrieveInvoice(id: string): Promise<ProviderInvoice | null>;
  invoicesOfSubscription(subscriptionId: string, limit: number): Promise<ProviderInvoice[]>;
  /** Events the provider could not deliver to us (dropped, or still retrying), newest first. */
  undeliveredEvents(since: Date): AsyncIterable<ProviderEvent>;
  /** Verifies the signature and timestamp of a webhook and parses it. */
  verifyWebhook(rawBody: Buffer, signature: string | undefined): ProviderEvent;
}
