import { expireCheckoutSession, createCheckoutSession } from './simulator.checkout.ts';
import { advanceTime, latestAdvance } from './simulator.clock.ts';
import { requireCustomer, requireInvoice, requireSubscription, type BillingContext } from './simulator.context.ts';
import { attachPaymentMethod, createCustomer, createPaymentMethod, detachPaymentMethod, updateCustomer, type CustomerUpdate } from './simulator.customers.ts';
import { payInvoice, voidInvoice } from './simulator.invoices.ts';
import {
  cancelSubscription,
  createSubscription,
  resumeSubscription,
  updateSubscription,
  type SubscriptionItemInput,
  type SubscriptionUpdate,
} from './simulator.subscriptions.ts';
import { invalidRequest, resourceMissing } from './simulator.errors.ts';
import type { Params } from './simulator.form.ts';
import { newId, type ListObject, type Metadata, type PriceObject, type ProductObject, type TestClockObject, type Unix } from './simulator.state.ts';

/**
 * The `/v1` endpoints: each one reads and validates its parameters, calls the behaviour
 * (simulator.customers.ts, .subscriptions.ts, .invoices.ts, .checkout.ts, .clock.ts) and answers with the object, expanded as asked.
 */

/** Which events reached the webhook endpoint; undefined for events that had no endpoint to go to. */
export type DeliveryState = (eventId: string) => 'pending' | 'delivered' | 'failed' | undefined;

export interface RouteRequest {
  ctx: BillingContext;
  params: Params;
  path: Record<string, string>;
  deliveryState: DeliveryState;
}

type Handler = (request: RouteRequest) => unknown;

interface Route {
  method: 'GET' | 'POST' | 'DELETE';
  pattern: RegExp;
  names: string[];
  handler: Handler;
}

const routes: Route[] = [];

function route(method: Route['method'], path: string, handler: Handler): void {
  const names: string[] = [];
  const pattern = new RegExp(
    `^${path.replace(/:([a-z_]+)/g, (_, name: string) => {
      names.push(name);
      return '([^/]+)';
    })}$`,
  );
  routes.push({ method, pattern, names, handler });
}

export function findRoute(method: string, pathname: string): { handler: Handler; path: Record<string, string> } | 'method_not_allowed' | null {
  let pathMatched = false;
  for (const r of routes) {
    const match = r.pattern.exec(pathname);
    if (!match) continue;
    pathMatched = true;
    if (r.method !== method) continue;
    const path: Record<string, string> = {};
    r.names.forEach((name, i) => (path[name] = decodeURIComponent(match[i + 1] as string)));
    return { handler: r.handler, path };
  }
  return pathMatched ? 'method_not_allowed' : null;
}

// ---------------------------------------------------------------------------------------------
// Lists, expansion, search

function listParams(params: Params, filters: readonly string[]): { limit: number; startingAfter?: string; endingBefore?: string } {
  params.allowOnly(['limit', 'starting_after', 'ending_before', ...filters]);
  const startingAfter = params.string('starting_after');
  const endingBefore = params.string('ending_before');
  if (startingAfter && endingBefore) throw invalidRequest('You may only specify one of these parameters: ending_before, starting_after.', { code: 'parameters_exclusive' });
  return {
    limit: params.integer('limit', { min: 1, max: 100 }) ?? 10,
    ...(startingAfter ? { startingAfter } : {}),
    ...(endingBefore ? { endingBefore } : {}),
  };
}

/** Newest first, as Stripe lists; objects created in the same second keep reverse insertion order. */
function newestFirst<T extends { created: Unix }>(items: T[]): T[] {
  return items
    .map((item, index) => ({ item, index }))
    .sort((a, b) => b.item.created - a.item.created || b.index - a.index)
    .map(({ item }) => item);
}

function paginate<T extends { id: string; created: Unix }>(items: T[], params: Params, url: string, filters: readonly string[] = []): ListObject<T> {
  const { limit, startingAfter, endingBefore } = listParams(params, filters);
  const sorted = newestFirst(items);
  let start = 0;
  let end = sorted.length;
  if (startingAfter) {
    const index = sorted.findIndex((item) => item.id === startingAfter);
    if (index === -1) throw resourceMissing('object', startingAfter, 'starting_after');
    start = index + 1;
  }
  if (endingBefore) {
    const index = sorted.findIndex((item) => item.id === endingBefore);
    if (index === -1) throw resourceMissing('object', endingBefore, 'ending_before');
    end = index;
    start = Math.max(0, end - limit);
  }
  const page = sorted.slice(start, Math.min(end, start + limit));
  const hasMore = endingBefore ? start > 0 : start + limit < end;
  return { object: 'list', data: page, has_more: hasMore, url };
}

/** `created`, `created[gt]`, `created[gte]`, `created[lt]`, `created[lte]`. */
function createdFilter(params: Params): (item: { created: Unix }) => boolean {
  if (!params.has('created')) return () => true;
  const raw = params.raw.created;
  if (typeof raw === 'string') {
    const exact = params.integer('created');
    return (item) => item.created === exact;
  }
  const range = params.object('created').allowOnly(['gt', 'gte', 'lt', 'lte']);
  const gt = range.integer('gt');
  const gte = range.integer('gte');
  const lt = range.integer('lt');
  const lte = range.integer('lte');
  return (item) =>
    (gt === undefined || item.created > gt) &&
    (gte === undefined || item.created >= gte) &&
    (lt === undefined || item.created < lt) &&
    (lte === undefined || item.created <= lte);
}

const collectionsByPrefix: [string, keyof BillingContext['state']['data']][] = [
  ['cus_', 'customers'],
  ['sub_', 'subscriptions'],
  ['in_', 'invoices'],
  ['pm_', 'paymentMethods'],
  ['price_', 'prices'],
  ['prod_', 'products'],
  ['cs_', 'checkoutSessions'],
  ['seti_', 'setupIntents'],
  ['clock_', 'testClocks'],
];

function lookup(ctx: BillingContext, id: string): unknown {
  for (const [prefix, collection] of collectionsByPrefix) {
    if (id.startsWith(prefix)) return (ctx.state.data[collection] as Record<string, unknown>)[id];
  }
  return undefined;
}

/**
 * Stripe's `expand[]`: replaces ids with the objects they name, along dotted paths
 * (`latest_invoice`, `items.data.price.product`, `data.customer` in lists), at most four deep.
 */
function expand<T>(ctx: BillingContext, value: T, paths: string[]): T {
  if (paths.length === 0) return value;
  const copy = structuredClone(value) as unknown;
  for (const path of paths) {
    const segments = path.split('.');
    if (segments.length > 4) throw invalidRequest(`You cannot expand more than 4 levels of a property. Property: ${path}`, { param: 'expand' });
    expandAlong(ctx, copy, segments, path);
  }
  return copy as T;
}

function expandAlong(ctx: BillingContext, node: unknown, segments: string[], path: string): void {
  if (node === null || typeof node !== 'object') return;
  const [head, ...rest] = segments as [string, ...string[]];
  if (Array.isArray(node)) {
    for (const item of node) expandAlong(ctx, item, segments, path);
    return;
  }
  const record = node as Record<string, unknown>;
  if (!(head in record)) throw invalidRequest(`This property cannot be expanded (${path}).`, { param: 'expand' });
  const current = record[head];
  if (rest.length > 0) {
    expandAlong(ctx, current, rest, path);
    return;
  }
  if (current === null || typeof current === 'object') return;
  if (typeof current !== 'string') throw invalidRequest(`This property cannot be expanded (${path}).`, { param: 'expand' });
  const target = lookup(ctx, current);
  if (target !== undefined) record[head] = structuredClone(target);
}

function respond<T>(request: RouteRequest, value: T): T {
  return expand(request.ctx, value, request.params.strings('expand'));
}

/**
 * A small part of Stripe's search query language: clauses joined by AND, each
 * `field:'value'` or `metadata['key']:'value'`.
 */
function searchPredicate(query: string): (object: { metadata: Metadata } & Record<string, unknown>) => boolean {
  const clauses = query.split(/\s+AND\s+/i).map((clause) => {
    const match = /^\s*(?:metadata\[['"]([^'"]+)['"]\]|([a-z_]+))\s*:\s*['"]([^'"]*)['"]\s*$/.exec(clause);
    if (!match) throw invalidRequest(`The simulator understands search clauses like metadata['key']:'value' or email:'value', joined by AND; got: ${clause}`, { param: 'query' });
    return { metadataKey: match[1], field: match[2], value: match[3] as string };
  });
  return (object) =>
    clauses.every((clause) => (clause.metadataKey ? object.metadata[clause.metadataKey] === clause.value : String(object[clause.field as string] ?? '') === clause.value));
}

function searchResult<T extends { id: string; created: Unix }>(items: T[], params: Params, url: string): Record<string, unknown> {
  params.allowOnly(['query', 'limit', 'page']);
  const limit = params.integer('limit', { min: 1, max: 100 }) ?? 10;
  const sorted = newestFirst(items);
  return { object: 'search_result', data: sorted.slice(0, limit), has_more: sorted.length > limit, next_page: null, url };
}

// ---------------------------------------------------------------------------------------------
// Customers

const customerFields = ['email', 'name', 'description', 'phone', 'metadata', 'payment_method', 'invoice_settings', 'test_clock'] as const;

route('POST', '/v1/customers', (request) => {
  const { params, ctx } = request;
  params.allowOnly(customerFields);
  const invoiceSettings = params.object('invoice_settings').allowOnly(['default_payment_method']);
  const email = params.string('email');
  const name = params.string('name');
  const description = params.string('description');
  const phone = params.string('phone');
  const paymentMethod = params.string('payment_method');
  const defaultPaymentMethod = invoiceSettings.string('default_payment_method');
  const testClock = params.string('test_clock');
  const customer = createCustomer(ctx, {
    ...(email ? { email } : {}),
    ...(name ? { name } : {}),
    ...(description ? { description } : {}),
    ...(phone ? { phone } : {}),
    ...(paymentMethod ? { paymentMethod } : {}),
    ...(defaultPaymentMethod ? { defaultPaymentMethod } : {}),
    ...(testClock ? { testClock } : {}),
    metadata: params.metadata('metadata'),
  });
  return respond(request, customer);
});

route('GET', '/v1/customers/search', (request) => {
  const { params, ctx } = request;
  const matches = searchPredicate(params.requiredString('query'));
  return searchResult(
    Object.values(ctx.state.data.customers).filter((c) => matches(c as never)),
    params,
    '/v1/customers/search',
  );
});

route('GET', '/v1/customers', (request) => {
  const { params, ctx } = request;
  const email = params.string('email');
  const clock = params.string('test_clock');
  const inRange = createdFilter(params);
  const customers = Object.values(ctx.state.data.customers).filter(
    (c) => (!email || c.email === email) && (!clock || c.test_clock === clock) && inRange(c),
  );
  return respond(request, paginate(customers, params, '/v1/customers', ['email', 'test_clock', 'created']));
});

route('GET', '/v1/customers/:id', (request) => {
  request.params.allowOnly([]);
  return respond(request, requireCustomer(request.ctx, request.path.id as string, 'id'));
});

route('POST', '/v1/customers/:id', (request) => {
  const { params, ctx } = request;
  params.allowOnly(['email', 'name', 'description', 'phone', 'metadata', 'invoice_settings']);
  const customer = requireCustomer(ctx, request.path.id as string, 'id');
  const invoiceSettings = params.object('invoice_settings').allowOnly(['default_payment_method']);
  const nullable = (p: Params, key: string): string | null | undefined => (p.isEmpty(key) ? null : p.string(key));
  const update: CustomerUpdate = {};
  for (const key of ['email', 'name', 'description', 'phone'] as const) {
    const value = nullable(params, key);
    if (value !== undefined) update[key] = value;
  }
  if (params.has('metadata')) update.metadata = params.metadata('metadata', customer.metadata);
  const defaultPaymentMethod = nullable(invoiceSettings, 'default_payment_method');
  if (defaultPaymentMethod !== undefined) update.defaultPaymentMethod = defaultPaymentMethod;
  return respond(request, updateCustomer(ctx, customer.id, update));
});

route('GET', '/v1/customers/:id/payment_methods', (request) => {
  const { params, ctx } = request;
  const customer = requireCustomer(ctx, request.path.id as string, 'id');
  params.choice('type', ['card']);
  const methods = Object.values(ctx.state.data.paymentMethods).filter((m) => m.customer === customer.id);
  return respond(request, paginate(methods, params, `/v1/customers/${customer.id}/payment_methods`, ['type']));
});

// ---------------------------------------------------------------------------------------------
// Products and prices

route('GET', '/v1/products', (request) => {
  const { params, ctx } = request;
  const active = params.boolean('active');
  const products = Object.values(ctx.state.data.products).filter((p) => active === undefined || p.active === active);
  return respond(request, paginate(products, params, '/v1/products', ['active']));
});

route('GET', '/v1/products/:id', (request) => {
  request.params.allowOnly([]);
  const product = request.ctx.state.data.products[request.path.id as string];
  if (!product) throw resourceMissing('product', request.path.id as string);
  return respond(request, product);
});

route('POST', '/v1/products', (request) => {
  const { params, ctx } = request;
  params.allowOnly(['id', 'name', 'description', 'metadata', 'active']);
  const at = ctx.state.now(null);
  const id = params.string('id') ?? newId('prod');
  if (ctx.state.data.products[id]) throw invalidRequest(`Product already exists.`, { code: 'resource_already_exists', param: 'id' });
  const product: ProductObject = {
    id,
    object: 'product',
    active: params.boolean('active') ?? true,
    created: at,
    updated: at,
    default_price: null,
    description: params.string('description') ?? null,
    images: [],
    marketing_features: [],
    livemode: false,
    metadata: params.metadata('metadata'),
    name: params.requiredString('name'),
    shippable: null,
    statement_descriptor: null,
    tax_code: null,
    type: 'service',
    unit_label: null,
    url: null,
  };
  ctx.state.data.products[id] = product;
  return respond(request, product);
});

route('GET', '/v1/prices', (request) => {
  const { params, ctx } = request;
  const lookupKeys = params.strings('lookup_keys');
  const product = params.string('product');
  const active = params.boolean('active');
  const type = params.choice('type', ['recurring', 'one_time']);
  const prices = Object.values(ctx.state.data.prices).filter(
    (p) =>
      (lookupKeys.length === 0 || (p.lookup_key !== null && lookupKeys.includes(p.lookup_key))) &&
      (!product || p.product === product) &&
      (active === undefined || p.active === active) &&
      (!type || p.type === type),
  );
  return respond(request, paginate(prices, params, '/v1/prices', ['lookup_keys', 'product', 'active', 'type', 'currency']));
});

route('GET', '/v1/prices/:id', (request) => {
  request.params.allowOnly([]);
  const price = request.ctx.state.data.prices[request.path.id as string];
  if (!price) throw resourceMissing('price', request.path.id as string);
  return respond(request, price);
});

route('POST', '/v1/prices', (request) => {
  const { params, ctx } = request;
  params.allowOnly(['currency', 'unit_amount', 'product', 'recurring', 'lookup_key', 'nickname', 'metadata', 'active', 'transfer_lookup_key']);
  const productId = params.requiredString('product');
  if (!ctx.state.data.products[productId]) throw resourceMissing('product', productId, 'product');
  const recurringParams = params.object('recurring').allowOnly(['interval', 'interval_count']);
  const interval = recurringParams.choice('interval', ['day', 'week', 'month', 'year']);
  const unitAmount = params.integer('unit_amount', { min: 0 });
  if (unitAmount === undefined) throw invalidRequest('Missing required param: unit_amount.', { code: 'parameter_missing', param: 'unit_amount' });
  const lookupKey = params.string('lookup_key') ?? null;
  const at = ctx.state.now(null);
  if (lookupKey) {
    const holder = Object.values(ctx.state.data.prices).find((p) => p.lookup_key === lookupKey);
    if (holder && params.boolean('transfer_lookup_key') !== true) {
      throw invalidRequest(`A price (\`${holder.id}\`) already uses that lookup key.`, { param: 'lookup_key' });
    }
    if (holder) holder.lookup_key = null;
  }
  const price: PriceObject = {
    id: newId('price'),
    object: 'price',
    active: params.boolean('active') ?? true,
    billing_scheme: 'per_unit',
    created: at,
    currency: params.requiredString('currency').toLowerCase(),
    custom_unit_amount: null,
    livemode: false,
    lookup_key: lookupKey,
    metadata: params.metadata('metadata'),
    nickname: params.string('nickname') ?? null,
    product: productId,
    recurring: interval
      ? { interval, interval_count: recurringParams.integer('interval_count', { min: 1 }) ?? 1, meter: null, usage_type: 'licensed', trial_period_days: null }
      : null,
    tax_behavior: 'unspecified',
    tiers_mode: null,
    transform_quantity: null,
    type: interval ? 'recurring' : 'one_time',
    unit_amount: unitAmount,
    unit_amount_decimal: String(unitAmount),
  };
  ctx.state.data.prices[price.id] = price;
  return respond(request, price);
});

// ---------------------------------------------------------------------------------------------
// Payment methods

route('POST', '/v1/payment_methods', (request) => {
  const { params, ctx } = request;
  params.allowOnly(['type', 'card', 'metadata', 'billing_details']);
  if (params.requiredString('type') !== 'card') throw invalidRequest('The simulator supports card payment methods only.', { param: 'type' });
  const card = params.object('card').allowOnly(['token']);
  return respond(request, createPaymentMethod(ctx, card.requiredString('token'), params.metadata('metadata')));
});

route('GET', '/v1/payment_methods', (request) => {
  const { params, ctx } = request;
  const customer = params.string('customer');
  params.choice('type', ['card']);
  const methods = Object.values(ctx.state.data.paymentMethods).filter((m) => !customer || m.customer === customer);
  return respond(request, paginate(methods, params, '/v1/payment_methods', ['customer', 'type']));
});

route('GET', '/v1/payment_methods/:id', (request) => {
  request.params.allowOnly([]);
  const method = request.ctx.state.data.paymentMethods[request.path.id as string];
  if (!method) throw resourceMissing('PaymentMethod', request.path.id as string);
  return respond(request, method);
});

route('POST', '/v1/payment_methods/:id/attach', (request) => {
  const { params, ctx } = request;
  params.allowOnly(['customer']);
  return respond(request, attachPaymentMethod(ctx, request.path.id as string, params.requiredString('customer')));
});

route('POST', '/v1/payment_methods/:id/detach', (request) => {
  request.params.allowOnly([]);
  return respond(request, detachPaymentMethod(request.ctx, request.path.id as string));
});

// ---------------------------------------------------------------------------------------------
// Subscriptions

function itemInputs(params: Params): SubscriptionItemInput[] {
  return params.list('items').map((item) => {
    item.allowOnly(['id', 'price', 'quantity', 'metadata', 'deleted']);
    const id = item.string('id');
    const price = item.string('price');
    const quantity = item.integer('quantity', { min: 1 });
    const deleted = item.boolean('deleted');
    return {
      ...(id ? { id } : {}),
      ...(price ? { price } : {}),
      ...(quantity !== undefined ? { quantity } : {}),
      ...(item.has('metadata') ? { metadata: item.metadata('metadata') } : {}),
      ...(deleted !== undefined ? { deleted } : {}),
    };
  });
}

function missingPaymentMethodSetting(params: Params): 'cancel' | 'create_invoice' | 'pause' | undefined {
  if (!params.has('trial_settings')) return undefined;
  const endBehavior = params.object('trial_settings').allowOnly(['end_behavior']).object('end_behavior').allowOnly(['missing_payment_method']);
  return endBehavior.choice('missing_payment_method', ['cancel', 'create_invoice', 'pause']);
}

const paymentBehaviors = ['allow_incomplete', 'default_incomplete', 'error_if_incomplete', 'pending_if_incomplete'] as const;

route('POST', '/v1/subscriptions', (request) => {
  const { params, ctx } = request;
  params.allowOnly([
    'customer',
    'items',
    'trial_period_days',
    'trial_end',
    'trial_from_plan',
    'trial_settings',
    'default_payment_method',
    'payment_behavior',
    'cancel_at_period_end',
    'cancel_at',
    'metadata',
    'description',
    'collection_method',
    'proration_behavior',
    'off_session',
    'payment_settings',
  ]);
  if (params.has('collection_method') && params.string('collection_method') !== 'charge_automatically') {
    throw invalidRequest('The simulator supports collection_method=charge_automatically only.', { param: 'collection_method' });
  }
  const behavior = params.choice('payment_behavior', paymentBehaviors);
  if (behavior === 'pending_if_incomplete') throw invalidRequest('payment_behavior=pending_if_incomplete is only supported when updating a subscription.', { param: 'payment_behavior' });
  const trialPeriodDays = params.integer('trial_period_days', { min: 0, max: 730 });
  const trialEnd = params.timestampOrNow('trial_end');
  const defaultPaymentMethod = params.string('default_payment_method');
  const cancelAtPeriodEnd = params.boolean('cancel_at_period_end');
  const cancelAt = params.integer('cancel_at');
  const description = params.string('description');
  const missingPaymentMethod = missingPaymentMethodSetting(params);
  const subscription = createSubscription(ctx, {
    customer: params.requiredString('customer'),
    items: itemInputs(params),
    ...(trialPeriodDays !== undefined ? { trialPeriodDays } : {}),
    ...(trialEnd !== undefined ? { trialEnd } : {}),
    ...(defaultPaymentMethod ? { defaultPaymentMethod } : {}),
    ...(behavior ? { paymentBehavior: behavior } : {}),
    ...(missingPaymentMethod ? { missingPaymentMethod } : {}),
    ...(cancelAtPeriodEnd !== undefined ? { cancelAtPeriodEnd } : {}),
    ...(cancelAt !== undefined ? { cancelAt } : {}),
    ...(description ? { description } : {}),
    metadata: params.metadata('metadata'),
  });
  return respond(request, subscription);
});

route('GET', '/v1/subscriptions', (request) => {
  const { params, ctx } = request;
  const customer = params.string('customer');
  const price = params.string('price');
  const clock = params.string('test_clock');
  const status = params.choice('status', ['active', 'all', 'canceled', 'ended', 'incomplete', 'incomplete_expired', 'past_due', 'paused', 'trialing', 'unpaid']);
  const inRange = createdFilter(params);
  // Without a status filter Stripe leaves canceled subscriptions out.
  const statusMatches = (s: string): boolean =>
    status === 'all' ? true : status === 'ended' ? s === 'canceled' || s === 'incomplete_expired' : status ? s === status : s !== 'canceled' && s !== 'incomplete_expired';
  const subscriptions = Object.values(ctx.state.data.subscriptions).filter(
    (s) =>
      (!customer || s.customer === customer) &&
      (!price || s.items.data.some((item) => item.price.id === price)) &&
      (!clock || s.test_clock === clock) &&
      statusMatches(s.status) &&
      inRange(s),
  );
  return respond(request, paginate(subscriptions, params, '/v1/subscriptions', ['customer', 'price', 'status', 'test_clock', 'created', 'collection_method']));
});

route('GET', '/v1/subscriptions/search', (request) => {
  const { params, ctx } = request;
  const matches = searchPredicate(params.requiredString('query'));
  return searchResult(
    Object.values(ctx.state.data.subscriptions).filter((s) => matches(s as never)),
    params,
    '/v1/subscriptions/search',
  );
});

route('GET', '/v1/subscriptions/:id', (request) => {
  request.params.allowOnly([]);
  return respond(request, requireSubscription(request.ctx, request.path.id as string));
});

route('POST', '/v1/subscriptions/:id', (request) => {
  const { params, ctx } = request;
  params.allowOnly([
    'items',
    'proration_behavior',
    'payment_behavior',
    'cancel_at_period_end',
    'cancel_at',
    'trial_end',
    'trial_settings',
    'default_payment_method',
    'metadata',
    'description',
    'cancellation_details',
    'off_session',
  ]);
  const subscription = requireSubscription(ctx, request.path.id as string);
  const update: SubscriptionUpdate = {};
  if (params.has('items')) update.items = itemInputs(params);
  const proration = params.choice('proration_behavior', ['create_prorations', 'none', 'always_invoice']);
  if (proration) update.prorationBehavior = proration;
  const behavior = params.choice('payment_behavior', paymentBehaviors);
  if (behavior) update.paymentBehavior = behavior;
  const cancelAtPeriodEnd = params.boolean('cancel_at_period_end');
  if (cancelAtPeriodEnd !== undefined) update.cancelAtPeriodEnd = cancelAtPeriodEnd;
  if (params.has('cancel_at')) update.cancelAt = params.isEmpty('cancel_at') ? null : (params.integer('cancel_at') as number);
  const trialEnd = params.timestampOrNow('trial_end');
  if (trialEnd !== undefined) update.trialEnd = trialEnd;
  const missingPaymentMethod = missingPaymentMethodSetting(params);
  if (missingPaymentMethod) update.missingPaymentMethod = missingPaymentMethod;
  if (params.has('default_payment_method')) update.defaultPaymentMethod = params.isEmpty('default_payment_method') ? null : (params.string('default_payment_method') as string);
  if (params.has('metadata')) update.metadata = params.metadata('metadata', subscription.metadata);
  if (params.has('description')) update.description = params.isEmpty('description') ? null : (params.string('description') as string);
  if (params.has('cancellation_details')) {
    const details = params.object('cancellation_details').allowOnly(['comment', 'feedback']);
    if (details.has('comment')) update.cancellationComment = details.isEmpty('comment') ? null : (details.string('comment') as string);
  }
  return respond(request, updateSubscription(ctx, subscription.id, update));
});

route('DELETE', '/v1/subscriptions/:id', (request) => {
  const { params, ctx } = request;
  // invoice_now and prorate are accepted; the simulator issues no final invoice.
  params.allowOnly(['invoice_now', 'prorate', 'cancellation_details']);
  params.boolean('invoice_now');
  params.boolean('prorate');
  const details = params.object('cancellation_details').allowOnly(['comment', 'feedback']);
  const comment = details.string('comment');
  const feedback = details.string('feedback');
  return respond(request, cancelSubscription(ctx, request.path.id as string, { ...(comment ? { comment } : {}), ...(feedback ? { feedback } : {}) }));
});

route('POST', '/v1/subscriptions/:id/resume', (request) => {
  request.params.allowOnly(['billing_cycle_anchor', 'proration_behavior']);
  return respond(request, resumeSubscription(request.ctx, request.path.id as string));
});

// ---------------------------------------------------------------------------------------------
// Invoices

route('GET', '/v1/invoices', (request) => {
  const { params, ctx } = request;
  const customer = params.string('customer');
  const subscription = params.string('subscription');
  const status = params.choice('status', ['draft', 'open', 'paid', 'uncollectible', 'void']);
  const inRange = createdFilter(params);
  const invoices = Object.values(ctx.state.data.invoices).filter(
    (i) =>
      (!customer || i.customer === customer) &&
      (!subscription || i.parent?.subscription_details.subscription === subscription) &&
      (!status || i.status === status) &&
      inRange(i),
  );
  return respond(request, paginate(invoices, params, '/v1/invoices', ['customer', 'subscription', 'status', 'created', 'collection_method']));
});

route('GET', '/v1/invoices/:id', (request) => {
  request.params.allowOnly([]);
  return respond(request, requireInvoice(request.ctx, request.path.id as string));
});

route('GET', '/v1/invoices/:id/lines', (request) => {
  const invoice = requireInvoice(request.ctx, request.path.id as string);
  return respond(request, paginate(invoice.lines.data.map((line) => ({ ...line, created: invoice.created })), request.params, invoice.lines.url));
});

route('POST', '/v1/invoices/:id/pay', (request) => {
  const { params, ctx } = request;
  params.allowOnly(['payment_method', 'off_session']);
  const paymentMethod = params.string('payment_method');
  return respond(request, payInvoice(ctx, request.path.id as string, paymentMethod));
});

route('POST', '/v1/invoices/:id/void', (request) => {
  request.params.allowOnly([]);
  return respond(request, voidInvoice(request.ctx, request.path.id as string));
});

// ---------------------------------------------------------------------------------------------
// Checkout

route('POST', '/v1/checkout/sessions', (request) => {
  const { params, ctx } = request;
  params.allowOnly([
    'mode',
    'line_items',
    'customer',
    'customer_email',
    'client_reference_id',
    'success_url',
    'cancel_url',
    'metadata',
    'subscription_data',
    'setup_intent_data',
    'currency',
    'expires_at',
    'payment_method_types',
    'allow_promotion_codes',
    'billing_address_collection',
    'locale',
    'ui_mode',
  ]);
  const mode = params.choice('mode', ['subscription', 'setup', 'payment']);
  if (!mode) throw invalidRequest('Missing required param: mode.', { code: 'parameter_missing', param: 'mode' });
  if (mode === 'payment') throw invalidRequest('The simulator supports Checkout in subscription and setup mode only.', { param: 'mode' });
  const lineItems = params.list('line_items').map((item) => {
    item.allowOnly(['price', 'quantity']);
    return { price: item.requiredString('price'), quantity: item.integer('quantity', { min: 1 }) ?? 1 };
  });
  const subscriptionData = params.object('subscription_data').allowOnly(['trial_period_days', 'trial_end', 'metadata', 'description', 'trial_settings']);
  const setupIntentData = params.object('setup_intent_data').allowOnly(['metadata', 'description']);
  const trialPeriodDays = subscriptionData.integer('trial_period_days', { min: 1, max: 730 });
  const trialEnd = subscriptionData.integer('trial_end');
  const description = subscriptionData.string('description');
  const missingPaymentMethod = missingPaymentMethodSetting(subscriptionData);
  const optional = (key: string): string | undefined => params.string(key) || undefined;
  const customer = optional('customer');
  const customerEmail = optional('customer_email');
  const clientReferenceId = optional('client_reference_id');
  const successUrl = optional('success_url');
  const cancelUrl = optional('cancel_url');
  const currency = optional('currency');
  const expiresAt = params.integer('expires_at');
  const session = createCheckoutSession(ctx, {
    mode,
    lineItems,
    metadata: params.metadata('metadata'),
    ...(customer ? { customer } : {}),
    ...(customerEmail ? { customerEmail } : {}),
    ...(clientReferenceId ? { clientReferenceId } : {}),
    ...(successUrl ? { successUrl } : {}),
    ...(cancelUrl ? { cancelUrl } : {}),
    ...(currency ? { currency: currency.toLowerCase() } : {}),
    ...(expiresAt !== undefined ? { expiresAt } : {}),
    subscriptionData: {
      metadata: subscriptionData.metadata('metadata'),
      ...(trialPeriodDays !== undefined ? { trialPeriodDays } : {}),
      ...(trialEnd !== undefined ? { trialEnd } : {}),
      ...(description ? { description } : {}),
      ...(missingPaymentMethod ? { missingPaymentMethod } : {}),
    },
    setupIntentMetadata: setupIntentData.metadata('metadata'),
  });
  return respond(request, session);
});

route('GET', '/v1/checkout/sessions', (request) => {
  const { params, ctx } = request;
  const customer = params.string('customer');
  const subscription = params.string('subscription');
  const status = params.choice('status', ['open', 'complete', 'expired']);
  const sessions = Object.values(ctx.state.data.checkoutSessions).filter(
    (s) => (!customer || s.customer === customer) && (!subscription || s.subscription === subscription) && (!status || s.status === status),
  );
  return respond(request, paginate(sessions, params, '/v1/checkout/sessions', ['customer', 'subscription', 'status']));
});

route('GET', '/v1/checkout/sessions/:id', (request) => {
  request.params.allowOnly([]);
  const session = request.ctx.state.data.checkoutSessions[request.path.id as string];
  if (!session) throw resourceMissing('checkout.session', request.path.id as string);
  return respond(request, session);
});

route('POST', '/v1/checkout/sessions/:id/expire', (request) => {
  request.params.allowOnly([]);
  return respond(request, expireCheckoutSession(request.ctx, request.path.id as string));
});

route('GET', '/v1/setup_intents/:id', (request) => {
  request.params.allowOnly([]);
  const intent = request.ctx.state.data.setupIntents[request.path.id as string];
  if (!intent) throw resourceMissing('setup_intent', request.path.id as string);
  return respond(request, intent);
});

// ---------------------------------------------------------------------------------------------
// Test clocks

function requireClock(ctx: BillingContext, id: string): TestClockObject {
  const clock = ctx.state.data.testClocks[id];
  if (!clock) throw resourceMissing('test_helpers.test_clock', id);
  return clock;
}

route('POST', '/v1/test_helpers/test_clocks', (request) => {
  const { params, ctx } = request;
  params.allowOnly(['frozen_time', 'name', 'customer']);
  const frozenTime = params.integer('frozen_time', { min: 0 });
  if (frozenTime === undefined) throw invalidRequest('Missing required param: frozen_time.', { code: 'parameter_missing', param: 'frozen_time' });
  const customerId = params.string('customer');
  const customer = customerId ? requireCustomer(ctx, customerId) : null;
  if (customer?.test_clock) throw invalidRequest('This customer is already attached to a test clock.', { param: 'customer' });
  const created = ctx.state.now(null);
  const clock: TestClockObject = {
    id: newId('clock'),
    object: 'test_helpers.test_clock',
    created,
    deletes_after: created + 30 * 86_400,
    frozen_time: frozenTime,
    livemode: false,
    name: params.string('name') ?? null,
    status: 'ready',
    status_details: {},
  };
  ctx.state.data.testClocks[clock.id] = clock;
  if (customer) {
    // Everything the customer has moves onto the clock with it.
    customer.test_clock = clock.id;
    for (const s of Object.values(ctx.state.data.subscriptions)) if (s.customer === customer.id) s.test_clock = clock.id;
    for (const i of Object.values(ctx.state.data.invoices)) if (i.customer === customer.id) i.test_clock = clock.id;
  }
  ctx.events.record('test_helpers.test_clock.created', clock, frozenTime);
  return respond(request, clock);
});

route('GET', '/v1/test_helpers/test_clocks', (request) => {
  return respond(request, paginate(Object.values(request.ctx.state.data.testClocks), request.params, '/v1/test_helpers/test_clocks'));
});

route('GET', '/v1/test_helpers/test_clocks/:id', (request) => {
  request.params.allowOnly([]);
  return respond(request, requireClock(request.ctx, request.path.id as string));
});

/**
 * Stripe advances asynchronously and answers `status: advancing`; the simulator does the work
 * within the request and answers `ready`, which a client that polls until `ready` also accepts.
 */
route('POST', '/v1/test_helpers/test_clocks/:id/advance', (request) => {
  const { params, ctx } = request;
  params.allowOnly(['frozen_time']);
  const clock = requireClock(ctx, request.path.id as string);
  const to = params.integer('frozen_time');
  if (to === undefined) throw invalidRequest('Missing required param: frozen_time.', { code: 'parameter_missing', param: 'frozen_time' });
  if (to <= clock.frozen_time) throw invalidRequest('The test clock can only be advanced to a time after its current frozen_time.', { param: 'frozen_time' });
  const limit = latestAdvance(ctx, clock.id, clock.frozen_time);
  if (to > limit) {
    throw invalidRequest(`Cannot advance the test clock more than two intervals past the shortest subscription interval on it (at most to ${limit}).`, { param: 'frozen_time' });
  }
  clock.status = 'advancing';
  ctx.events.record('test_helpers.test_clock.advancing', { ...clock, status_details: { advancing: { target_frozen_time: to } } }, clock.frozen_time);
  // What happens as time passes is Stripe's doing, not the request's: those events name no request.
  ctx.events.withRequest({ id: null, idempotency_key: null }, () => advanceTime(ctx, clock.id, to));
  clock.status = 'ready';
  ctx.events.record('test_helpers.test_clock.ready', clock, to);
  return respond(request, clock);
});

route('DELETE', '/v1/test_helpers/test_clocks/:id', (request) => {
  request.params.allowOnly([]);
  const { ctx } = request;
  const clock = requireClock(ctx, request.path.id as string);
  // Deleting a clock deletes the objects on it, as Stripe does.
  const data = ctx.state.data;
  for (const [id, customer] of Object.entries(data.customers)) {
    if (customer.test_clock !== clock.id) continue;
    delete data.customers[id];
    for (const [pmId, method] of Object.entries(data.paymentMethods)) if (method.customer === id) delete data.paymentMethods[pmId];
  }
  for (const [id, s] of Object.entries(data.subscriptions)) {
    if (s.test_clock !== clock.id) continue;
    delete data.subscriptions[id];
    delete data.subscriptionBookkeeping[id];
  }
  for (const [id, invoice] of Object.entries(data.invoices)) if (invoice.test_clock === clock.id) ctx.state.removeInvoice(id);
  delete data.testClocks[clock.id];
  return { id: clock.id, object: 'test_helpers.test_clock', deleted: true };
});

// ---------------------------------------------------------------------------------------------
// Events

route('GET', '/v1/events', (request) => {
  const { params, ctx } = request;
  const type = params.string('type');
  const types = params.strings('types');
  const deliverySuccess = params.boolean('delivery_success');
  if (type && types.length > 0) throw invalidRequest('You may only specify one of these parameters: type, types.', { code: 'parameters_exclusive' });
  const matchesType = (t: string): boolean => {
    if (type) return type.endsWith('*') ? t.startsWith(type.slice(0, -1)) : t === type;
    return types.length === 0 || types.includes(t);
  };
  const inRange = createdFilter(params);
  const events = ctx.state.data.events.filter((event) => {
    if (!matchesType(event.type) || !inRange(event)) return false;
    if (deliverySuccess === undefined) return true;
    const delivery = request.deliveryState(event.id);
    return delivery !== undefined && (delivery === 'delivered') === deliverySuccess;
  });
  return respond(request, paginate(events, params, '/v1/events', ['type', 'types', 'created', 'delivery_success']));
});

route('GET', '/v1/events/:id', (request) => {
  request.params.allowOnly([]);
  const event = request.ctx.state.data.events.find((e) => e.id === request.path.id);
  if (!event) throw resourceMissing('event', request.path.id as string);
  return respond(request, event);
});
