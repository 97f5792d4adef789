import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

/**
 * Everything the simulator knows, in Stripe's own object shapes (the subset Brigade reads), plus
 * the bookkeeping Stripe keeps out of sight (dunning schedule, pending prorations). One plain
 * JSON document: kept in memory and, when a path is given, written to disk after each change.
 */

export type Unix = number;
export type Metadata = Record<string, string>;

export interface ListObject<T> {
  object: 'list';
  data: T[];
  has_more: boolean;
  url: string;
  total_count?: number;
}

export interface TestClockObject {
  id: string;
  object: 'test_helpers.test_clock';
  created: Unix;
  deletes_after: Unix;
  frozen_time: Unix;
  livemode: false;
  name: string | null;
  status: 'ready' | 'advancing' | 'internal_failure';
  status_details: Record<string, never>;
}

export interface ProductObject {
  id: string;
  object: 'product';
  active: boolean;
  created: Unix;
  updated: Unix;
  default_price: string | null;
  description: string | null;
  images: string[];
  marketing_features: { name: string }[];
  livemode: false;
  metadata: Metadata;
  name: string;
  shippable: null;
  statement_descriptor: null;
  tax_code: null;
  type: 'service';
  unit_label: null;
  url: null;
}

export type RecurringInterval = 'day' | 'week' | 'month' | 'year';

export interface PriceObject {
  id: string;
  object: 'price';
  active: boolean;
  billing_scheme: 'per_unit';
  created: Unix;
  currency: string;
  custom_unit_amount: null;
  livemode: false;
  lookup_key: string | null;
  metadata: Metadata;
  nickname: string | null;
  product: string;
  recurring: { interval: RecurringInterval; interval_count: number; meter: null; usage_type: 'licensed'; trial_period_days: null } | null;
  tax_behavior: 'unspecified';
  tiers_mode: null;
  transform_quantity: null;
  type: 'recurring' | 'one_time';
  unit_amount: number;
  unit_amount_decimal: string;
}

export interface CustomerObject {
  id: string;
  object: 'customer';
  address: null;
  balance: number;
  created: Unix;
  currency: string | null;
  default_source: null;
  delinquent: boolean;
  description: string | null;
  email: string | null;
  invoice_prefix: string;
  invoice_settings: { custom_fields: null; default_payment_method: string | null; footer: null; rendering_options: null };
  livemode: false;
  metadata: Metadata;
  name: string | null;
  next_invoice_sequence: number;
  phone: string | null;
  preferred_locales: string[];
  shipping: null;
  tax_exempt: 'none';
  test_clock: string | null;
}

export interface CardDetails {
  brand: string;
  display_brand: string;
  checks: { address_line1_check: null; address_postal_code_check: null; cvc_check: 'pass' | 'unchecked' };
  country: string;
  exp_month: number;
  exp_year: number;
  fingerprint: string;
  funding: 'credit' | 'debit';
  last4: string;
  networks: { available: string[]; preferred: null };
  wallet: null;
}

export interface PaymentMethodObject {
  id: string;
  object: 'payment_method';
  allow_redisplay: 'unspecified';
  billing_details: { address: null; email: string | null; name: string | null; phone: null };
  card: CardDetails;
  created: Unix;
  customer: string | null;
  livemode: false;
  metadata: Metadata;
  type: 'card';
}

export type SubscriptionStatus = 'incomplete' | 'incomplete_expired' | 'trialing' | 'active' | 'past_due' | 'canceled' | 'unpaid' | 'paused';
export type MissingPaymentMethodBehaviour = 'cancel' | 'create_invoice' | 'pause';

export interface PlanObject {
  id: string;
  object: 'plan';
  active: boolean;
  amount: number;
  amount_decimal: string;
  billing_scheme: 'per_unit';
  created: Unix;
  currency: string;
  interval: RecurringInterval;
  interval_count: number;
  livemode: false;
  metadata: Metadata;
  nickname: string | null;
  product: string;
  tiers_mode: null;
  transform_usage: null;
  trial_period_days: null;
  usage_type: 'licensed';
}

export interface SubscriptionItemObject {
  id: string;
  object: 'subscription_item';
  billing_thresholds: null;
  created: Unix;
  current_period_end: Unix;
  current_period_start: Unix;
  discounts: string[];
  metadata: Metadata;
  plan: PlanObject;
  price: PriceObject;
  quantity: number;
  subscription: string;
  tax_rates: never[];
}

export interface SubscriptionObject {
  id: string;
  object: 'subscription';
  application: null;
  application_fee_percent: null;
  automatic_tax: { disabled_reason: null; enabled: false; liability: null };
  billing_cycle_anchor: Unix;
  billing_cycle_anchor_config: null;
  billing_thresholds: null;
  cancel_at: Unix | null;
  cancel_at_period_end: boolean;
  canceled_at: Unix | null;
  cancellation_details: { comment: string | null; feedback: string | null; reason: 'cancellation_requested' | 'payment_failed' | 'payment_disputed' | null };
  collection_method: 'charge_automatically';
  created: Unix;
  currency: string;
  customer: string;
  days_until_due: null;
  default_payment_method: string | null;
  default_source: null;
  description: string | null;
  discounts: string[];
  ended_at: Unix | null;
  invoice_settings: { account_tax_ids: null; issuer: { type: 'self' } };
  items: ListObject<SubscriptionItemObject>;
  latest_invoice: string | null;
  livemode: false;
  metadata: Metadata;
  next_pending_invoice_item_invoice: null;
  on_behalf_of: null;
  pause_collection: null;
  payment_settings: { payment_method_options: null; payment_method_types: null; save_default_payment_method: 'off' | 'on_subscription' };
  pending_invoice_item_interval: null;
  pending_setup_intent: null;
  pending_update: null;
  schedule: null;
  start_date: Unix;
  status: SubscriptionStatus;
  test_clock: string | null;
  transfer_data: null;
  trial_end: Unix | null;
  trial_settings: { end_behavior: { missing_payment_method: MissingPaymentMethodBehaviour } };
  trial_start: Unix | null;
}

export type InvoiceStatus = 'draft' | 'open' | 'paid' | 'uncollectible' | 'void';
export type BillingReason = 'subscription_create' | 'subscription_cycle' | 'subscription_update' | 'manual';

export interface InvoiceLineObject {
  id: string;
  object: 'line_item';
  amount: number;
  currency: string;
  description: string;
  discount_amounts: never[];
  discountable: boolean;
  discounts: string[];
  invoice: string;
  livemode: false;
  metadata: Metadata;
  parent: {
    type: 'subscription_item_details';
    invoice_item_details: null;
    subscription_item_details: {
      invoice_item: null;
      proration: boolean;
      proration_details: { credited_items: null };
      subscription: string;
      subscription_item: string;
    };
  };
  period: { start: Unix; end: Unix };
  pretax_credit_amounts: never[];
  pricing: { type: 'price_details'; price_details: { price: string; product: string }; unit_amount_decimal: string };
  quantity: number;
  subscription: string;
  subtotal: number;
  taxes: never[];
}

export interface InvoiceObject {
  id: string;
  object: 'invoice';
  account_country: string;
  account_name: string;
  amount_due: number;
  amount_overpaid: number;
  amount_paid: number;
  amount_remaining: number;
  amount_shipping: number;
  attempt_count: number;
  attempted: boolean;
  auto_advance: boolean;
  automatic_tax: { disabled_reason: null; enabled: false; liability: null; provider: null; status: null };
  automatically_finalizes_at: Unix | null;
  billing_reason: BillingReason;
  collection_method: 'charge_automatically';
  created: Unix;
  currency: string;
  customer: string;
  customer_email: string | null;
  customer_name: string | null;
  default_payment_method: string | null;
  description: string | null;
  discounts: string[];
  due_date: null;
  effective_at: Unix | null;
  ending_balance: number | null;
  footer: null;
  hosted_invoice_url: string | null;
  invoice_pdf: string | null;
  issuer: { type: 'self' };
  last_finalization_error: null;
  lines: ListObject<InvoiceLineObject>;
  livemode: false;
  metadata: Metadata;
  next_payment_attempt: Unix | null;
  number: string | null;
  parent: { type: 'subscription_details'; quote_details: null; subscription_details: { metadata: Metadata; subscription: string } } | null;
  period_end: Unix;
  period_start: Unix;
  receipt_number: null;
  starting_balance: number;
  statement_descriptor: null;
  status: InvoiceStatus;
  status_transitions: { finalized_at: Unix | null; marked_uncollectible_at: Unix | null; paid_at: Unix | null; voided_at: Unix | null };
  subtotal: number;
  subtotal_excluding_tax: number;
  test_clock: string | null;
  total: number;
  total_discount_amounts: never[];
  total_excluding_tax: number;
  total_taxes: never[];
  webhooks_delivered_at: Unix | null;
}

export type CheckoutMode = 'subscription' | 'setup';

export interface CheckoutSessionObject {
  id: string;
  object: 'checkout.session';
  amount_subtotal: number | null;
  amount_total: number | null;
  cancel_url: string | null;
  client_reference_id: string | null;
  created: Unix;
  currency: string | null;
  customer: string | null;
  customer_details: { email: string | null; name: string | null } | null;
  customer_email: string | null;
  expires_at: Unix;
  invoice: string | null;
  livemode: false;
  metadata: Metadata;
  mode: CheckoutMode;
  payment_method_types: string[];
  payment_status: 'paid' | 'unpaid' | 'no_payment_required';
  setup_intent: string | null;
  status: 'open' | 'complete' | 'expired';
  subscription: string | null;
  success_url: string | null;
  ui_mode: 'hosted';
  url: string | null;
}

export interface SetupIntentObject {
  id: string;
  object: 'setup_intent';
  created: Unix;
  customer: string | null;
  livemode: false;
  metadata: Metadata;
  payment_method: string | null;
  payment_method_types: string[];
  status: 'succeeded';
  usage: 'off_session';
}

export interface EventObject {
  id: string;
  object: 'event';
  api_version: string;
  created: Unix;
  data: { object: Record<string, unknown>; previous_attributes?: Record<string, unknown> };
  livemode: false;
  pending_webhooks: number;
  request: { id: string | null; idempotency_key: string | null };
  type: string;
}

/** What Stripe knows about a subscription but does not show on the object. */
export interface SubscriptionBookkeeping {
  /** trial_end for which customer.subscription.trial_will_end was already sent. */
  trialWillEndSentFor: Unix | null;
  /** Proration lines waiting for the next invoice. */
  pendingProrations: PendingLine[];
}

export interface PendingLine {
  description: string;
  amount: number;
  priceId: string;
  productId: string;
  quantity: number;
  subscriptionItemId: string;
  period: { start: Unix; end: Unix };
  proration: boolean;
}

export interface CheckoutBookkeeping {
  lineItems: { price: string; quantity: number }[];
  subscriptionData: {
    trialPeriodDays: number | null;
    trialEnd: Unix | null;
    metadata: Metadata;
    description: string | null;
    missingPaymentMethod: MissingPaymentMethodBehaviour | null;
  };
  setupIntentMetadata: Metadata;
}

export interface IdempotencyRecord {
  method: string;
  path: string;
  fingerprint: string;
  status: number;
  body: string;
  savedAt: number;
}

export interface PendingDelivery {
  /** Delivery sequence number: creation order, used to keep the queue stable. */
  seq: number;
  eventId: string;
  /** Epoch milliseconds at which the next attempt is due. */
  dueAt: number;
  attempts: number;
  /** 0 for the original delivery, 1 for an injected duplicate. */
  copy: 0 | 1;
  delayed: boolean;
  reordered: boolean;
}

export interface SimulatorData {
  version: 1;
  testClocks: Record<string, TestClockObject>;
  products: Record<string, ProductObject>;
  prices: Record<string, PriceObject>;
  customers: Record<string, CustomerObject>;
  paymentMethods: Record<string, PaymentMethodObject>;
  subscriptions: Record<string, SubscriptionObject>;
  invoices: Record<string, InvoiceObject>;
  checkoutSessions: Record<string, CheckoutSessionObject>;
  setupIntents: Record<string, SetupIntentObject>;
  events: EventObject[];
  subscriptionBookkeeping: Record<string, SubscriptionBookkeeping>;
  checkoutBookkeeping: Record<string, CheckoutBookkeeping>;
  idempotency: Record<string, IdempotencyRecord>;
  webhooks: {
    queue: PendingDelivery[];
    held: PendingDelivery[];
    nextSeq: number;
    /** Per event id: whether its webhook reached the endpoint (for `delivery_success`). */
    outcomes: Record<string, 'pending' | 'delivered' | 'failed'>;
  };
}

export interface CatalogueEntry {
  /** The plan key, also the price's lookup_key: `starter`, `pro`, `enterprise`. */
  key: string;
  name: string;
  unitAmount: number;
  currency: string;
  interval: RecurringInterval;
}

/** Brigade's plans, seeded into a fresh simulator. Prices are per month, in minor units. */
export const defaultCatalogue: CatalogueEntry[] = [
  { key: 'starter', name: 'Brigade Starter', unitAmount: 2900, currency: 'eur', interval: 'month' },
  { key: 'pro', name: 'Brigade Pro', unitAmount: 7900, currency: 'eur', interval: 'month' },
  { key: 'enterprise', name: 'Brigade Enterprise', unitAmount: 24900, currency: 'eur', interval: 'month' },
];

const idAlphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** Stripe-looking ids: a type prefix and 24 base62 characters (`cus_…`, `sub_…`, `in_…`). */
export function newId(prefix: string): string {
  const bytes = randomBytes(24);
  let out = '';
  for (const b of bytes) out += idAlphabet[b % idAlphabet.length];
  return `${prefix}_${out}`;
}

export function wallClock(): Unix {
  return Math.floor(Date.now() / 1000);
}

export class SimulatorState {
  readonly data: SimulatorData;
  private saveTimer: NodeJS.Timeout | null = null;
  /** Invoice ids by subscription and by customer; derived from `data`, never saved. */
  private invoiceIndex: { bySubscription: Map<string, Set<string>>; byCustomer: Map<string, Set<string>> } | null = null;

  constructor(
    private readonly statePath: string | undefined,
    catalogue: CatalogueEntry[],
    private readonly readOnly = false,
  ) {
    this.data = (statePath && readStateFile(statePath)) || emptyData();
    seedCatalogue(this.data, catalogue);
  }

  /** "Now" for objects on a test clock is the clock's frozen time; otherwise the wall clock. */
  now(clockId: string | null): Unix {
    if (!clockId) return wallClock();
    const clock = this.data.testClocks[clockId];
    return clock ? clock.frozen_time : wallClock();
  }

  clockOfCustomer(customerId: string): string | null {
    return this.data.customers[customerId]?.test_clock ?? null;
  }

  addInvoice(invoice: InvoiceObject): void {
    this.data.invoices[invoice.id] = invoice;
    this.indexInvoice(this.index(), invoice);
  }

  removeInvoice(id: string): void {
    delete this.data.invoices[id];
    this.invoiceIndex = null;
  }

  invoicesOfSubscription(subscriptionId: string): InvoiceObject[] {
    return this.resolveInvoices(this.index().bySubscription.get(subscriptionId));
  }

  invoicesOfCustomer(customerId: string): InvoiceObject[] {
    return this.resolveInvoices(this.index().byCustomer.get(customerId));
  }

  private resolveInvoices(ids: Set<string> | undefined): InvoiceObject[] {
    if (!ids) return [];
    const invoices: InvoiceObject[] = [];
    for (const id of ids) {
      const invoice = this.data.invoices[id];
      if (invoice) invoices.push(invoice);
    }
    return invoices;
  }

  private index(): NonNullable<SimulatorState['invoiceIndex']> {
    if (!this.invoiceIndex) {
      this.invoiceIndex = { bySubscription: new Map(), byCustomer: new Map() };
      for (const invoice of Object.values(this.data.invoices)) this.indexInvoice(this.invoiceIndex, invoice);
    }
    return this.invoiceIndex;
  }

  private indexInvoice(index: NonNullable<SimulatorState['invoiceIndex']>, invoice: InvoiceObject): void {
    const add = (map: Map<string, Set<string>>, key: string): void => {
      let ids = map.get(key);
      if (!ids) map.set(key, (ids = new Set()));
      ids.add(invoice.id);
    };
    add(index.byCustomer, invoice.customer);
    const subscriptionId = invoice.parent?.subscription_details.subscription;
    if (subscriptionId) add(index.bySubscription, subscriptionId);
  }

  /** Coalesces writes: many changes in one tick become one file write. */
  scheduleSave(): void {
    if (!this.statePath || this.readOnly || this.saveTimer) return;
    this.saveTimer = setTimeout(() => {
      this.saveTimer = null;
      this.saveNow();
    }, 20);
    this.saveTimer.unref();
  }

  saveNow(): void {
    if (this.saveTimer) {
      clearTimeout(this.saveTimer);
      this.saveTimer = null;
    }
    if (!this.statePath || this.readOnly) return;
    mkdirSync(dirname(this.statePath), { recursive: true });
    // Write then rename, so a crash mid-write never leaves half a file behind.
    const temporary = `${this.statePath}.${process.pid}.tmp`;
    writeFileSync(temporary, JSON.stringify(this.data));
    renameSync(temporary, this.statePath);
  }
}

function emptyData(): SimulatorData {
  return {
    version: 1,
    testClocks: {},
    products: {},
    prices: {},
    customers: {},
    paymentMethods: {},
    subscriptions: {},
    invoices: {},
    checkoutSessions: {},
    setupIntents: {},
    events: [],
    subscriptionBookkeeping: {},
    checkoutBookkeeping: {},
    idempotency: {},
    webhooks: { queue: [], held: [], nextSeq: 1, outcomes: {} },
  };
}

function readStateFile(path: string): SimulatorData | null {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
  const parsed = JSON.parse(text) as SimulatorData;
  if (parsed.version !== 1) throw new Error(`Payment simulator state at ${path} has unknown version ${String(parsed.version)}`);
  const empty = emptyData();
  return { ...empty, ...parsed, webhooks: { ...empty.webhooks, ...parsed.webhooks } };
}

function seedCatalogue(data: SimulatorData, catalogue: CatalogueEntry[]): void {
  const created = wallClock();
  for (const entry of catalogue) {
    const productId = `prod_${entry.key}`;
    const priceId = `price_${entry.key}_${entry.interval}ly`;
    if (!data.products[productId]) {
      data.products[productId] = {
        id: productId,
        object: 'product',
        active: true,
        created,
        updated: created,
        default_price: priceId,
        description: null,
        images: [],
        marketing_features: [],
        livemode: false,
        metadata: { plan: entry.key },
        name: entry.name,
        shippable: null,
        statement_descriptor: null,
        tax_code: null,
        type: 'service',
        unit_label: null,
        url: null,
      };
    }
    if (!data.prices[priceId]) {
      data.prices[priceId] = {
        id: priceId,
        object: 'price',
        active: true,
        billing_scheme: 'per_unit',
        created,
        currency: entry.currency,
        custom_unit_amount: null,
        livemode: false,
        lookup_key: entry.key,
        metadata: { plan: entry.key },
        nickname: `${entry.name} (${entry.interval}ly)`,
        product: productId,
        recurring: { interval: entry.interval, interval_count: 1, meter: null, usage_type: 'licensed', trial_period_days: null },
        tax_behavior: 'unspecified',
        tiers_mode: null,
        transform_quantity: null,
        type: 'recurring',
        unit_amount: entry.unitAmount,
        unit_amount_decimal: String(entry.unitAmount),
      };
    }
  }
}
