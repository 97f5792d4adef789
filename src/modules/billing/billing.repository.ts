import { sql, type ColumnType, type Generated, type Selectable } from 'kysely';
import { afterCursor, cursorAt, type PageKey } from '../../platform/http/pagination.ts';
import { compiled, type Tx } from '../../platform/db/index.ts';
import { currentTraceparent } from '../../platform/telemetry.ts';
import type { SubscriptionStatus } from './billing.states.ts';
import type { ProviderEvent, ProviderInvoice } from './billing.provider.ts';

/** Billing's tables (migrations/0400_billing.ts) and the queries over them. */

type Nullable<T> = ColumnType<T | null, T | null | undefined, T | null>;
type Stamp = ColumnType<Date, Date | string | undefined, Date | string>;
type NullableStamp = ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;

export interface PaymentMethodOnFile {
  id: string;
  brand: string;
  last4: string;
  expMonth: number;
  expYear: number;
}

export interface SubscriptionsTable {
  tenant_id: string;
  plan: string;
  status: SubscriptionStatus;
  status_changed_at: Stamp;
  trial_started_at: NullableStamp;
  trial_ends_at: NullableStamp;
  current_period_start: NullableStamp;
  current_period_end: NullableStamp;
  cancel_at_period_end: ColumnType<boolean, boolean | undefined, boolean>;
  canceled_at: NullableStamp;
  ended_at: NullableStamp;
  grace_ends_at: NullableStamp;
  retain_until: NullableStamp;
  converted_at: NullableStamp;
  payment_method: ColumnType<PaymentMethodOnFile | null, string | null | undefined, string | null>;
  provider: Nullable<string>;
  provider_customer_id: Nullable<string>;
  provider_subscription_id: Nullable<string>;
  provider_status: Nullable<string>;
  provider_synced_at: NullableStamp;
  created_at: Generated<Date>;
  updated_at: Stamp;
}

export interface SubscriptionTransitionsTable {
  tenant_id: string;
  id: Generated<string>;
  from_status: SubscriptionStatus | null;
  to_status: SubscriptionStatus;
  reason: string;
  source: TransitionSource;
  provider_event_id: string | null;
  actor_id: string | null;
  at: Generated<Date>;
}

export interface BillingInvoicesTable {
  tenant_id: string;
  id: Generated<string>;
  provider_invoice_id: string;
  provider_subscription_id: string | null;
  number: string | null;
  status: string;
  billing_reason: string | null;
  currency: string;
  amount_due_minor: ColumnType<string, number, number>;
  amount_paid_minor: ColumnType<string, number, number>;
  attempt_count: number;
  period_start: NullableStamp;
  period_end: NullableStamp;
  hosted_invoice_url: string | null;
  invoice_pdf_url: string | null;
  issued_at: Stamp;
  paid_at: NullableStamp;
  next_payment_attempt: NullableStamp;
  updated_at: Stamp;
}

export interface BillingNoticesTable {
  tenant_id: string;
  id: Generated<string>;
  kind: string;
  key: string;
  subject: string;
  body: string;
  data: ColumnType<Record<string, unknown>, string | undefined, string>;
  created_at: Generated<Date>;
}

export interface BillingEventsTable {
  provider_event_id: string;
  provider: string;
  type: string;
  tenant_id: string | null;
  object_id: string | null;
  provider_created_at: Stamp;
  payload: ColumnType<Record<string, unknown>, string, string>;
  received_at: Generated<Date>;
  via: ColumnType<'webhook' | 'catch_up', 'webhook' | 'catch_up' | undefined, never>;
  outcome: ColumnType<EventOutcome, EventOutcome | undefined, EventOutcome>;
  processed_at: NullableStamp;
  attempts: ColumnType<number, number | undefined, number>;
  last_error: Nullable<string>;
  /** When the sweep gave the pending event its job (null: not yet; see sweepEvents). */
  job_queued_at: NullableStamp;
  trace_context: Nullable<string>;
}

export interface BillingReconcileRunsTable {
  id: Generated<string>;
  trigger: string;
  tenant_id: string | null;
  started_at: Generated<Date>;
  finished_at: NullableStamp;
  tenants_checked: ColumnType<number, number | undefined, number>;
  divergences: ColumnType<number, number | undefined, number>;
  repaired: ColumnType<number, number | undefined, number>;
  events_caught_up: ColumnType<number, number | undefined, number>;
  events_retried: ColumnType<number, number | undefined, number>;
  errors: ColumnType<number, number | undefined, number>;
  error: Nullable<string>;
}

export interface BillingDivergencesTable {
  id: Generated<string>;
  run_id: string;
  tenant_id: string;
  field: string;
  local_value: ColumnType<unknown, string, never>;
  provider_value: ColumnType<unknown, string, never>;
  repaired: boolean;
  note: string | null;
  detected_at: Generated<Date>;
}

declare module '../../platform/db/schema.ts' {
  interface Database {
    subscriptions: SubscriptionsTable;
    subscription_transitions: SubscriptionTransitionsTable;
    billing_invoices: BillingInvoicesTable;
    billing_notices: BillingNoticesTable;
    billing_events: BillingEventsTable;
    billing_reconcile_runs: BillingReconcileRunsTable;
    billing_divergences: BillingDivergencesTable;
  }
}

export type TransitionSource = 'signup' | 'api' | 'webhook' | 'reconcile' | 'lifecycle' | 'operator' | 'migration';
export type EventOutcome = 'pending' | 'applied' | 'ignored' | 'unmatched' | 'failed';
export type SubscriptionRow = Selectable<SubscriptionsTable>;
export type InvoiceRow = Selectable<BillingInvoicesTable>;
export type DivergenceRow = Selectable<BillingDivergencesTable>;
export type EventRow = Selectable<BillingEventsTable>;

// ---------------------------------------------------------------------------------------------
// Tenant tables (inside withTenant / readAsTenant)

export function subscriptionOf(trx: Tx, tenantId: string) {
  return trx.selectFrom('subscriptions').selectAll().where('tenant_id', '=', tenantId).executeTakeFirst();
}

/** The row, locked until the transaction ends: one writer per tenant's subscription at a time. */
export function lockSubscription(trx: Tx, tenantId: string) {
  return trx.selectFrom('subscriptions').selectAll().where('tenant_id', '=', tenantId).forUpdate().executeTakeFirst();
}

export async function updateSubscription(trx: Tx, tenantId: string, patch: Record<string, unknown>): Promise<void> {
  await trx
    .updateTable('subscriptions')
    .set({ ...(patch as object), updated_at: new Date() })
    .where('tenant_id', '=', tenantId)
    .execute();
}

export async function insertTransition(
  trx: Tx,
  t: { tenantId: string; from: SubscriptionStatus | null; to: SubscriptionStatus; reason: string; source: TransitionSource; providerEventId?: string | null; actorId?: string | null },
): Promise<string> {
  const row = await trx
    .insertInto('subscription_transitions')
    .values({
      tenant_id: t.tenantId,
      from_status: t.from,
      to_status: t.to,
      reason: t.reason,
      source: t.source,
      provider_event_id: t.providerEventId ?? null,
      actor_id: t.actorId ?? null,
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  return row.id;
}

export function transitionsOf(trx: Tx, tenantId: string, limit = 50) {
  return trx.selectFrom('subscription_transitions').selectAll().where('tenant_id', '=', tenantId).orderBy('at', 'desc').orderBy('id', 'desc').limit(limit).execute();
}

export async function upsertInvoice(trx: Tx, tenantId: string, i: ProviderInvoice): Promise<void> {
  const values = {
    provider_subscription_id: i.subscriptionId,
    number: i.number,
    status: i.status,
    billing_reason: i.billingReason,
    currency: i.currency,
    amount_due_minor: i.amountDueMinor,
    amount_paid_minor: i.amountPaidMinor,
    attempt_count: i.attemptCount,
    period_start: i.periodStart,
    period_end: i.periodEnd,
    hosted_invoice_url: i.hostedInvoiceUrl,
    invoice_pdf_url: i.invoicePdfUrl,
    issued_at: i.created,
    paid_at: i.paidAt,
    next_payment_attempt: i.nextPaymentAttempt,
    updated_at: new Date(),
  };
  await trx
    .insertInto('billing_invoices')
    .values({ tenant_id: tenantId, provider_invoice_id: i.id, ...values })
    .onConflict((oc) => oc.columns(['tenant_id', 'provider_invoice_id']).doUpdateSet(values))
    .execute();
}

export function invoicePage(trx: Tx, tenantId: string, limit: number, after: PageKey | null) {
  let q = trx.selectFrom('billing_invoices').selectAll().select(cursorAt('issued_at').as('cursor_at')).where('tenant_id', '=', tenantId);
  if (after) q = q.where(afterCursor('issued_at', 'id', after, 'desc'));
  return q.orderBy('issued_at', 'desc').orderBy('id', 'desc').limit(limit + 1).execute();
}

/** Inserts the notice once per key; returns its id, or null when it was already given. */
export async function insertNotice(trx: Tx, tenantId: string, n: { kind: string; key: string; subject: string; body: string; data?: Record<string, unknown> }): Promise<string | null> {
  const row = await trx
    .insertInto('billing_notices')
    .values({ tenant_id: tenantId, kind: n.kind, key: n.key, subject: n.subject, body: n.body, data: JSON.stringify(n.data ?? {}) })
    .onConflict((oc) => oc.columns(['tenant_id', 'key']).doNothing())
    .returning('id')
    .executeTakeFirst();
  return row?.id ?? null;
}

export function noticesOf(trx: Tx, tenantId: string, limit = 50) {
  return trx.selectFrom('billing_notices').selectAll().where('tenant_id', '=', tenantId).orderBy('created_at', 'desc').limit(limit).execute();
}

export function noticeById(trx: Tx, tenantId: string, id: string) {
  return trx.selectFrom('billing_notices').selectAll().where('tenant_id', '=', tenantId).where('id', '=', id).executeTakeFirst();
}

/** Who billing mail goes to: the business's active owners. */
export function billingRecipients(trx: Tx, tenantId: string) {
  return trx
    .selectFrom('users as u')
    .innerJoin('role_assignments as ra', (j) => j.onRef('ra.tenant_id', '=', 'u.tenant_id').onRef('ra.user_id', '=', 'u.id'))
    .select(['u.id', 'u.email', 'u.name'])
    .where('u.tenant_id', '=', tenantId)
    .where('ra.role_key', '=', 'owner')
    .where('ra.branch_id', 'is', null)
    .where('u.status', '=', 'active')
    .orderBy('u.created_at')
    .execute();
}

export function tenantById(trx: Tx, tenantId: string) {
  return trx.selectFrom('tenants').select(['id', 'name', 'slug', 'currency', 'timezone']).where('id', '=', tenantId).executeTakeFirst();
}

// ---------------------------------------------------------------------------------------------
// Platform tables (inside withSystem)

/**
 * Stores the event once, in one statement: the business is the one named in our metadata if it
 * exists, else the owner of the provider ids. A pending event (a known business, a handled type)
 * is stored without its job: `sweepEvents` gives it one (billing_events_unsettled). Returns
 * whether this call stored it (false: a duplicate) and what it decided. `chosen` is
 * materialised: inlined, its lookups ran once for each of its three uses. No foreign key checks
 * the business (it would lock its tenants row for every event): the lookup found it, and a
 * business's deletion removes its events after its tenants row as well as before.
 */
// The webhook inbox's hot statement, compiled once (see compiled()).
const storeEventStatement = compiled(
  (
    _db,
    a: {
      metadataTenantId: string | null;
      subscriptionId: string | null;
      customerId: string | null;
      eventId: string;
      provider: string;
      type: string;
      objectId: string | null;
      created: Date;
      payload: string;
      via: 'webhook' | 'catch_up';
      handled: boolean;
      traceparent: string | null;
    },
  ) => sql<{ tenant_id: string | null; outcome: EventOutcome }>`
    WITH by_metadata AS (
      SELECT id AS tenant_id FROM tenants WHERE id = ${a.metadataTenantId}::uuid
    ), by_ids AS (
      SELECT tenant_id FROM subscriptions
      WHERE provider_subscription_id = ${a.subscriptionId} OR provider_customer_id = ${a.customerId}
      ORDER BY (provider_subscription_id = ${a.subscriptionId}) DESC NULLS LAST
      LIMIT 1
    ), chosen AS MATERIALIZED (
      SELECT coalesce((SELECT tenant_id FROM by_metadata), (SELECT tenant_id FROM by_ids)) AS tenant_id
    ), stored AS (
      INSERT INTO billing_events (provider_event_id, provider, type, tenant_id, object_id, provider_created_at, payload, via, outcome, processed_at, trace_context)
      SELECT ${a.eventId}, ${a.provider}, ${a.type}, chosen.tenant_id, ${a.objectId}, ${a.created}, ${a.payload}::jsonb, ${a.via},
             CASE WHEN NOT ${a.handled} THEN 'ignored' WHEN chosen.tenant_id IS NULL THEN 'unmatched' ELSE 'pending' END,
             CASE WHEN ${a.handled} AND chosen.tenant_id IS NOT NULL THEN NULL ELSE now() END,
             ${a.traceparent}::text
      FROM chosen
      ON CONFLICT (provider_event_id) DO NOTHING
      RETURNING tenant_id, outcome
    )
    SELECT tenant_id, outcome FROM stored
  `,
);

export async function storeEvent(
  trx: Tx,
  input: {
    provider: string;
    event: ProviderEvent;
    /** The event's JSON as received (default: `event.raw` serialised). */
    rawJson?: string;
    metadataTenantId: string | null;
    handled: boolean;
    via: 'webhook' | 'catch_up';
  },
): Promise<{ stored: boolean; tenantId: string | null; outcome: EventOutcome | null }> {
  const e = input.event;
  const [row] = await storeEventStatement(trx, {
    metadataTenantId: input.metadataTenantId,
    subscriptionId: e.subscriptionId,
    customerId: e.customerId,
    eventId: e.id,
    provider: input.provider,
    type: e.type,
    objectId: e.objectId,
    created: e.created,
    payload: input.rawJson ?? JSON.stringify(e.raw),
    via: input.via,
    handled: input.handled,
    traceparent: currentTraceparent(),
  });
  return row ? { stored: true, tenantId: row.tenant_id, outcome: row.outcome } : { stored: false, tenantId: null, outcome: null };
}

/**
 * Gives up to `limit` pending events stored without a job their job (an outbox row, as
 * enqueueLater writes it) and marks them queued, oldest first, in one statement. The rows are
 * taken FOR UPDATE SKIP LOCKED and re-checked once locked, so sweepers running side by side
 * (several processes) never queue an event twice; an event whose business was deleted since is
 * marked with no job. The order is billing_events_unsettled's (every row here has a null
 * job_queued_at, so oldest first). Returns how many it marked.
 */
export async function sweepEvents(db: Tx, jobType: string, limit: number): Promise<number> {
  const { rows } = await sql<{ n: number }>`
    WITH due AS (
      SELECT provider_event_id FROM billing_events
      WHERE outcome = 'pending' AND job_queued_at IS NULL
      ORDER BY job_queued_at NULLS FIRST, received_at
      LIMIT ${limit}
      FOR UPDATE SKIP LOCKED
    ), marked AS (
      UPDATE billing_events e SET job_queued_at = now()
      FROM due WHERE e.provider_event_id = due.provider_event_id
      RETURNING e.provider_event_id, e.tenant_id, e.trace_context
    ), jobs AS (
      INSERT INTO outbox (tenant_id, type, payload, trace_context)
      SELECT tenant_id, ${jobType}, jsonb_build_object('eventId', provider_event_id, 'tenantId', tenant_id), trace_context
      FROM marked WHERE tenant_id IS NOT NULL AND EXISTS (SELECT 1 FROM tenants t WHERE t.id = marked.tenant_id)
      RETURNING id
    )
    SELECT count(*)::int AS n FROM marked
  `.execute(db);
  return rows[0]?.n ?? 0;
}

export function eventById(trx: Tx, id: string) {
  return trx.selectFrom('billing_events').selectAll().where('provider_event_id', '=', id).executeTakeFirst();
}

export async function settleEvent(trx: Tx, id: string, outcome: EventOutcome, error: string | null): Promise<void> {
  await trx
    .updateTable('billing_events')
    .set((eb) => ({ outcome, last_error: error, attempts: eb('attempts', '+', 1), processed_at: outcome === 'failed' ? null : new Date() }))
    .where('provider_event_id', '=', id)
    .execute();
}

