import { Type, type Static } from 'typebox';
import { subscriptionStatuses, type SubscriptionStatus } from './billing.states.ts';
import { paidPlans, type PaidPlanKey } from './billing.plans.ts';
import { AlertViewSchema } from '../alerts/index.ts';
import { Uuid } from '../../platform/http/schemas.ts';

const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(schema: T) => Type.Union([schema, Type.Null()]);
const Timestamp = Type.String({ format: 'date-time', maxLength: 40 });
const PaidPlan = Type.Unsafe<PaidPlanKey>({ type: 'string', enum: [...paidPlans], description: 'A paid plan: starter, pro or enterprise' });
const HttpUrl = Type.String({ format: 'uri', pattern: '^https?://', maxLength: 2000 });

const Limits = Type.Object({
  branches: Nullable(Type.Integer()),
  members: Nullable(Type.Integer()),
  ordersPerMonth: Nullable(Type.Integer()),
  scheduledReports: Nullable(Type.Integer()),
  apiRatePerSecond: Nullable(Type.Integer()),
}, { description: 'null: unlimited' });

const Usage = Type.Object({
  branches: Type.Integer(),
  members: Type.Integer(),
  ordersPerMonth: Type.Integer({ description: 'Orders created in the current usage period' }),
  scheduledReports: Type.Integer(),
});

export const SubscriptionView = Type.Object({
  plan: Type.String({ description: 'trial, starter, pro or enterprise' }),
  planName: Type.String(),
  status: Type.Unsafe<SubscriptionStatus>({ type: 'string', enum: [...subscriptionStatuses] }),
  trialEndsAt: Nullable(Timestamp),
  currentPeriodStart: Nullable(Timestamp),
  currentPeriodEnd: Nullable(Timestamp),
  cancelAtPeriodEnd: Type.Boolean(),
  graceEndsAt: Nullable(Timestamp),
  retainUntil: Nullable(Timestamp),
  readOnly: Type.Boolean({ description: 'Writes are refused until the subscription is paid' }),
  paymentMethod: Nullable(Type.Object({ brand: Type.String(), last4: Type.String(), expMonth: Type.Integer(), expYear: Type.Integer() })),
  entitlements: Type.Object({
    features: Type.Array(Type.String()),
    limits: Limits,
    usage: Usage,
  }),
  usagePeriod: Type.Object({ start: Timestamp, end: Nullable(Timestamp) }),
  overLimit: Type.Array(Type.Object({ limit: Type.String(), current: Type.Integer(), allowed: Type.Integer() }), {
    description: 'Limits of the plan this business is over (after a plan change): nothing is removed, no more can be added',
  }),
  warnings: Type.Array(Type.Object({ code: Type.String(), message: Type.String() })),
});

export const PlanCatalogueView = Type.Object({
  data: Type.Array(
    Type.Object({
      key: Type.String({ description: 'trial, starter, pro or enterprise' }),
      name: Type.String(),
      priceMinor: Type.Integer({ description: 'Price per interval in the currency\'s minor unit' }),
      currency: Type.String(),
      interval: Type.String({ description: 'month' }),
      features: Type.Array(Type.String()),
      limits: Limits,
    }),
  ),
  features: Type.Record(Type.String(), Type.String(), { description: 'Every feature key with what it gives, in words' }),
});

export const BillingHistoryView = Type.Object({
  transitions: Type.Array(
    Type.Object({
      id: Type.String({ format: 'uuid' }),
      at: Timestamp,
      from: Nullable(Type.String()),
      to: Type.String(),
      reason: Type.String(),
      source: Type.String({ description: 'webhook, reconcile, lifecycle, owner, operator, ...' }),
      providerEventId: Nullable(Type.String()),
    }),
    { description: 'Newest first' },
  ),
  notices: Type.Array(
    Type.Object({ id: Type.String({ format: 'uuid' }), at: Timestamp, kind: Type.String(), subject: Type.String(), body: Type.String() }),
    { description: 'What the owner was told (mailed through jobs), newest first' },
  ),
});

export const ChangePlanBody = Type.Object({ plan: PaidPlan }, { additionalProperties: false });

export const CancelBody = Type.Object(
  {
    atPeriodEnd: Type.Optional(Type.Boolean({ description: 'true (default): at the end of the paid period; false: now' })),
    reason: Type.Optional(Type.String({ maxLength: 500 })),
  },
  { additionalProperties: false },
);
export type CancelInput = Static<typeof CancelBody>;

export const CheckoutBody = Type.Object(
  {
    plan: Type.Optional(PaidPlan),
    successUrl: Type.Optional(HttpUrl),
    cancelUrl: Type.Optional(HttpUrl),
  },
  { additionalProperties: false },
);

export const PaymentMethodBody = Type.Object({ successUrl: Type.Optional(HttpUrl), cancelUrl: Type.Optional(HttpUrl) }, { additionalProperties: false });

export const CheckoutView = Type.Object({
  id: Type.String(),
  url: Type.String({ description: 'Send the user here: the provider\'s hosted payment page' }),
  mode: Type.Union([Type.Literal('subscription'), Type.Literal('setup')]),
  plan: Type.String({ description: 'The plan the business is on once the page is completed' }),
  currentPlan: Type.String({ description: 'The plan until then: opening the page changes nothing' }),
});

export const InvoiceView = Type.Object({
  id: Uuid,
  providerInvoiceId: Type.String(),
  number: Nullable(Type.String()),
  status: Type.String(),
  billingReason: Nullable(Type.String()),
  currency: Type.String(),
  amountDueMinor: Type.Integer(),
  amountPaidMinor: Type.Integer(),
  attemptCount: Type.Integer(),
  periodStart: Nullable(Timestamp),
  periodEnd: Nullable(Timestamp),
  hostedInvoiceUrl: Nullable(Type.String({ description: 'The invoice as a web page the customer can open' })),
  invoicePdfUrl: Nullable(Type.String()),
  issuedAt: Timestamp,
  paidAt: Nullable(Timestamp),
  nextPaymentAttempt: Nullable(Timestamp),
});

export const InvoicePage = Type.Object({ data: Type.Array(InvoiceView), nextCursor: Nullable(Type.String()) });

export const PageQuery = Type.Object(
  {
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200 })),
    cursor: Type.Optional(Type.String({ maxLength: 500 })),
  },
  { additionalProperties: false },
);

export const OpsListQuery = Type.Object(
  {
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200 })),
    cursor: Type.Optional(Type.String({ maxLength: 500 })),
    tenantId: Type.Optional(Uuid),
    open: Type.Optional(Type.Boolean()),
    runId: Type.Optional(Uuid),
  },
  { additionalProperties: false },
);

export const OpsInvoicesQuery = Type.Object(
  {
    tenantId: Uuid,
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200 })),
    cursor: Type.Optional(Type.String({ maxLength: 500 })),
  },
  { additionalProperties: false },
);

export const ReconcileBody = Type.Object({ tenantId: Type.Optional(Uuid) }, { additionalProperties: false });

export const IdParams = Type.Object({ id: Uuid });

// What operators read of billing (the ops API): pages of runs, divergences, alerts and events.
const TenantName = Nullable(Type.String({ description: 'The business\'s name beside its id' }));
const opsPage = <T extends Parameters<typeof Type.Array>[0]>(item: T) => Type.Object({ data: Type.Array(item), nextCursor: Nullable(Type.String()) });

export const ReconcileSummaryView = Type.Object({
  runId: Uuid,
  tenantsChecked: Type.Integer(),
  divergences: Type.Integer({ description: 'Differences found between Brigade and the provider' }),
  repaired: Type.Integer({ description: 'Of those, repaired from the provider' }),
  eventsCaughtUp: Type.Integer({ description: 'Provider events fetched that had not arrived as webhooks' }),
  eventsRetried: Type.Integer({ description: 'Stored events that were stuck and were queued again' }),
  errors: Type.Integer(),
  persistent: Type.Integer({ description: 'Divergences seen in the previous run as well (alerted)' }),
  durationMs: Type.Integer(),
});

export const ReconcileRunPage = opsPage(
  Type.Object({
    id: Uuid,
    trigger: Type.String({ description: 'schedule, operator or cli' }),
    tenantId: Nullable(Type.String({ format: 'uuid', maxLength: 36, description: 'null: every business' })),
    tenantName: TenantName,
    startedAt: Timestamp,
    finishedAt: Nullable(Timestamp),
    tenantsChecked: Type.Integer(),
    divergences: Type.Integer(),
    repaired: Type.Integer(),
    eventsCaughtUp: Type.Integer(),
    eventsRetried: Type.Integer(),
    errors: Type.Integer(),
    error: Nullable(Type.String()),
  }),
);

export const DivergencePage = opsPage(
  Type.Object({
    id: Uuid,
    runId: Uuid,
    tenantId: Uuid,
    tenantName: TenantName,
    field: Type.String({ description: 'status, plan, currentPeriodEnd, ...' }),
    local: Type.Unknown({ description: 'What Brigade had' }),
    provider: Type.Unknown({ description: 'What the provider says' }),
    repaired: Type.Boolean(),
    note: Nullable(Type.String()),
    detectedAt: Timestamp,
  }),
);

/** Billing's alerts are the billing.* alerts of the one alert model (modules/alerts). */
export const BillingAlertPage = opsPage(AlertViewSchema);

export const ResolvedAlertView = Type.Object({ id: Uuid, resolvedAt: Timestamp, resolvedBy: Nullable(Type.String()) });

export const WebhookEventPage = opsPage(
  Type.Object({
    id: Type.String({ description: 'The provider\'s event id' }),
    provider: Type.String(),
    type: Type.String(),
    tenantId: Nullable(Uuid),
    tenantName: TenantName,
    objectId: Nullable(Type.String()),
    createdAt: Timestamp,
    receivedAt: Timestamp,
    via: Type.Unsafe<'webhook' | 'catch_up'>({ type: 'string', enum: ['webhook', 'catch_up'] }),
    outcome: Type.Unsafe<'pending' | 'applied' | 'ignored' | 'unmatched' | 'failed'>({
      type: 'string',
      enum: ['pending', 'applied', 'ignored', 'unmatched', 'failed'],
      description: 'pending: stored, its job not yet done; applied; ignored (a type Brigade does not act on); unmatched (no business); failed',
    }),
    processedAt: Nullable(Timestamp),
    attempts: Type.Integer(),
    lastError: Nullable(Type.String()),
  }),
);
