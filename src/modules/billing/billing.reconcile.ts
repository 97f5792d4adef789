import { sql } from 'kysely';
import type { Platform } from '../../platform/deps.ts';
import { enqueueLater } from '../../platform/jobs/outbox.ts';
import { raiseAlert, resolveAlertOf, unresolvedOf } from '../alerts/index.ts';
import { WEBHOOK_JOB } from './billing.inbox.ts';
import { ProviderUnavailableError, type PaymentProvider, type ProviderSubscription } from './billing.provider.ts';
import type { BillingInbox } from './billing.inbox.ts';
import type { BillingService } from './billing.service.ts';
import type { SubscriptionSync } from './billing.sync.ts';
import { differences, pickSubscription, truthOf, type FieldDifference } from './billing.truth.ts';
import type { SubscriptionStatus } from './billing.states.ts';

/**
 * Reconciliation: webhooks keep Brigade and the provider in step, this catches what they miss.
 * One pass: take in the events the provider could not deliver, read every subscription on both
 * sides (one query here, one paged listing there), compare them field by field, repair each
 * difference from the provider's truth (re-read under the tenant's lock, so a newer webhook is
 * never overwritten by the listing), record every divergence, and alert when divergences
 * persist across runs or a run finds more than the threshold.
 */

export interface ReconcileOptions {
  tenantId?: string;
  trigger: 'schedule' | 'cli' | 'operator' | 'test' | 'bench';
  /** How far back undelivered events are taken in (full runs only). Default 3 days. */
  catchUpDays?: number;
  /** Repairs running at once. Default 4. */
  concurrency?: number;
  /** A stored event not processed after this long is queued again (full runs only). Default 15. */
  stuckAfterMinutes?: number;
}

export interface ReconcileSummary {
  runId: string;
  tenantsChecked: number;
  divergences: number;
  repaired: number;
  eventsCaughtUp: number;
  /** Stored events whose processing job died or was lost, queued again. */
  eventsRetried: number;
  errors: number;
  persistent: number;
  durationMs: number;
}

interface LocalRow {
  tenant_id: string;
  plan: string;
  status: SubscriptionStatus;
  converted_at: Date | null;
  trial_ends_at: Date | null;
  current_period_end: Date | null;
  cancel_at_period_end: boolean;
  provider_customer_id: string | null;
  provider_subscription_id: string | null;
  created_at: Date;
}

interface Found {
  tenantId: string;
  field: string;
  local: unknown;
  provider: unknown;
  repaired: boolean;
  note: string | null;
}

/** A business created this recently may simply not be provisioned yet. */
const PROVISIONING_GRACE_MS = 10 * 60_000;

export function billingReconciler(platform: Platform, provider: PaymentProvider, sync: SubscriptionSync, inbox: BillingInbox, service: BillingService) {
  const { tenancy, config, log } = platform;

  async function localRows(tenantId: string | undefined): Promise<LocalRow[]> {
    return tenancy.withSystem('billing: reconciliation reads every subscription', (trx) => {
      let q = trx
        .selectFrom('subscriptions')
        .select([
          'tenant_id',
          'plan',
          'status',
          'converted_at',
          'trial_ends_at',
          'current_period_end',
          'cancel_at_period_end',
          'provider_customer_id',
          'provider_subscription_id',
          'created_at',
        ]);
      if (tenantId) q = q.where('tenant_id', '=', tenantId);
      return q.orderBy('tenant_id').execute();
    });
  }

  /** Provider subscriptions by id and by the tenant named in their metadata. */
  async function providerIndex(rows: LocalRow[], tenantId: string | undefined) {
    const byId = new Map<string, ProviderSubscription>();
    const byTenant = new Map<string, ProviderSubscription[]>();
    const add = (s: ProviderSubscription) => {
      byId.set(s.id, s);
      if (s.tenantId) byTenant.set(s.tenantId, [...(byTenant.get(s.tenantId) ?? []), s]);
    };
    if (tenantId) {
      const row = rows[0];
      if (row?.provider_subscription_id) {
        const s = await provider.retrieveSubscription(row.provider_subscription_id);
        if (s) add(s);
      }
      if (row?.provider_customer_id) for (const s of await provider.subscriptionsOfCustomer(row.provider_customer_id)) add(s);
    } else {
      for await (const s of provider.listSubscriptions()) add(s);
    }
    return { byId, byTenant };
  }

  async function catchUp(days: number): Promise<number> {
    let stored = 0;
    for await (const event of provider.undeliveredEvents(new Date(Date.now() - days * 86_400_000))) {
      const receipt = await inbox.store(event, 'catch_up');
      if (!receipt.duplicate) stored++;
    }
    return stored;
  }

  /** Events stored but never processed (their job is dead or was lost): queue them again; processing is idempotent. */
  async function redriveStuckEvents(olderThanMinutes: number): Promise<number> {
    return tenancy.withSystem('billing: re-drive stuck webhook events', async (trx) => {
      const stuck = await trx
        .selectFrom('billing_events')
        .select(['provider_event_id', 'tenant_id'])
        .where('outcome', 'in', ['pending', 'failed'])
        .where('tenant_id', 'is not', null)
        // An event can outlive its business until the deletion's second pass (no foreign key, 0691).
        .where(({ exists, selectFrom }) => exists(selectFrom('tenants').select('tenants.id').whereRef('tenants.id', '=', 'billing_events.tenant_id')))
        .where('received_at', '<', new Date(Date.now() - olderThanMinutes * 60_000))
        .orderBy('received_at')
        .limit(1_000)
        .execute();
      for (const e of stuck) await enqueueLater(trx, e.tenant_id!, WEBHOOK_JOB, { eventId: e.provider_event_id });
      return stuck.length;
    });
  }

  async function repair(row: LocalRow, diffs: FieldDifference[], chosen: ProviderSubscription): Promise<Found[]> {
    const result = await sync.syncTenant(row.tenant_id, { source: 'reconcile', reason: 'reconciliation repair', hintSubscriptionId: chosen.id });
    service.invalidate(row.tenant_id);
    const refused = result.outcome?.refused ?? null;
    return diffs.map((d) => ({
      tenantId: row.tenant_id,
      field: d.field,
      local: d.local,
      provider: d.provider,
      repaired: result.found && !(d.field === 'status' && refused),
      note: d.field === 'status' && refused ? `transition ${refused.from} → ${refused.to} is not allowed` : null,
    }));
  }

  async function missingAtProvider(row: LocalRow): Promise<Found | null> {
    if (row.status === 'canceled' || row.status === 'expired') return null;
    if (Date.now() - row.created_at.getTime() < PROVISIONING_GRACE_MS) return null;
    const found: Found = { tenantId: row.tenant_id, field: 'providerSubscriptionId', local: row.provider_subscription_id, provider: null, repaired: false, note: null };
    if (row.provider_subscription_id) {
      found.note = 'the followed subscription does not exist at the provider';
      return found;
    }
    const result = await service.provision(row.tenant_id);
    found.repaired = result === 'provisioned';
    found.note = found.repaired ? 'provisioned at the provider' : 'not provisioned (the trial has ended; the lifecycle sweep handles it)';
    return found;
  }

  /**
   * Alerts on what this run found, and resolves what it no longer finds: a business whose
   * subscription matched the provider in this run has no persistent divergence any more.
   */
  async function alertOn(runId: string, found: Found[], checked: string[] | 'all'): Promise<number> {
    const tenants = [...new Set(found.map((f) => f.tenantId))];
    const earlier = tenants.length
      ? await tenancy.withSystem('billing: earlier divergences', (trx) =>
          trx
            .selectFrom('billing_divergences')
            .select(['tenant_id', 'field', sql<number>`count(*)::int`.as('times')])
            .where('run_id', '<>', runId)
            .where('detected_at', '>', new Date(Date.now() - 86_400_000))
            .where('tenant_id', 'in', tenants)
            .groupBy(['tenant_id', 'field'])
            .execute(),
        )
      : [];
    const seen = new Map(earlier.map((e) => [`${e.tenant_id}:${e.field}`, e.times]));
    const persistent = found.filter((f) => seen.has(`${f.tenantId}:${f.field}`));
    await tenancy.withSystem('billing: divergence alerts', async (trx) => {
      // One alert per business: the fields that keep differing are in its details.
      for (const [tenantId, fields] of groupByTenant(persistent)) {
        const times = Math.max(...fields.map((f) => (seen.get(`${f.tenantId}:${f.field}`) ?? 0) + 1));
        await raiseAlert(trx, config, {
          rule: 'billing.divergence_persistent',
          tenantId,
          source: 'billing: reconciliation',
          summary: `${fields.map((f) => f.field).join(', ')} of this business ${fields.length > 1 ? 'have' : 'has'} differed from the payment provider in ${times} reconciliations within a day.`,
          observed: times,
          expected: 1,
          details: { runId, fields: fields.map((f) => ({ field: f.field, local: f.local, provider: f.provider, repaired: f.repaired, note: f.note })) },
        });
      }
      for (const open of await unresolvedOf(trx, ['billing.divergence_persistent'])) {
        const wasChecked = checked === 'all' || checked.includes(open.subject);
        if (wasChecked && !persistent.some((f) => f.tenantId === open.subject)) {
          await resolveAlertOf(trx, config, { rule: 'billing.divergence_persistent', subject: open.subject, note: `Reconciliation ${runId} found this business in step with the payment provider.` });
        }
      }
      if (found.length >= config.BRIGADE_RECONCILE_ALERT_THRESHOLD) {
        await raiseAlert(trx, config, {
          rule: 'billing.divergence_threshold',
          source: 'billing: reconciliation',
          summary: `A reconciliation found ${found.length} divergences (threshold ${config.BRIGADE_RECONCILE_ALERT_THRESHOLD}): webhooks may not be arriving.`,
          observed: found.length,
          expected: config.BRIGADE_RECONCILE_ALERT_THRESHOLD,
          details: { runId, divergences: found.length, tenants: tenants.length },
        });
      } else if (checked === 'all') {
        await resolveAlertOf(trx, config, { rule: 'billing.divergence_threshold', subject: 'platform', note: `Reconciliation ${runId} found ${found.length} divergences, under the threshold.` });
      }
    });
    return persistent.length;
  }

  return {
    async reconcile(opts: ReconcileOptions): Promise<ReconcileSummary> {
      const started = Date.now();
      const run = await tenancy.withSystem('billing: start reconciliation', (trx) =>
        trx.insertInto('billing_reconcile_runs').values({ trigger: opts.trigger, tenant_id: opts.tenantId ?? null }).returning('id').executeTakeFirstOrThrow(),
      );
      const summary: ReconcileSummary = { runId: run.id, tenantsChecked: 0, divergences: 0, repaired: 0, eventsCaughtUp: 0, eventsRetried: 0, errors: 0, persistent: 0, durationMs: 0 };
      const found: Found[] = [];
      let failure: Error | null = null;
      try {
        if (!opts.tenantId) {
          summary.eventsCaughtUp = await catchUp(opts.catchUpDays ?? 3);
          summary.eventsRetried = await redriveStuckEvents(opts.stuckAfterMinutes ?? 15);
        }
        const rows = await localRows(opts.tenantId);
        const { byId, byTenant } = await providerIndex(rows, opts.tenantId);
        summary.tenantsChecked = rows.length;

        const work: (() => Promise<void>)[] = [];
        for (const row of rows) {
          const candidates = [...(byTenant.get(row.tenant_id) ?? [])];
          const followed = row.provider_subscription_id ? byId.get(row.provider_subscription_id) : undefined;
          if (followed && !candidates.includes(followed)) candidates.push(followed);
          const chosen = pickSubscription(candidates, row.provider_subscription_id);
          if (!chosen) {
            work.push(async () => {
              const f = await missingAtProvider(row);
              if (f) found.push(f);
            });
            continue;
          }
          const facts = { status: row.status, plan: row.plan, convertedAt: row.converted_at };
          const diffs = differences(
            { ...facts, trialEndsAt: row.trial_ends_at, currentPeriodEnd: row.current_period_end, cancelAtPeriodEnd: row.cancel_at_period_end, providerSubscriptionId: row.provider_subscription_id },
            truthOf(chosen, facts),
          );
          if (diffs.length > 0) work.push(async () => void found.push(...(await repair(row, diffs, chosen))));
        }

        let next = 0;
        const worker = async () => {
          while (next < work.length) {
            const job = work[next++]!;
            try {
              await job();
            } catch (err) {
              summary.errors++;
              if (!(err instanceof ProviderUnavailableError)) log.error({ err }, 'billing: reconciliation repair failed');
            }
          }
        };
        await Promise.all(Array.from({ length: Math.max(1, opts.concurrency ?? 4) }, worker));

        if (found.length > 0) {
          await tenancy.withSystem('billing: record divergences', async (trx) => {
            for (let i = 0; i < found.length; i += 500) {
              await trx
                .insertInto('billing_divergences')
                .values(
                  found.slice(i, i + 500).map((f) => ({
                    run_id: run.id,
                    tenant_id: f.tenantId,
                    field: f.field,
                    local_value: JSON.stringify(f.local ?? null),
                    provider_value: JSON.stringify(f.provider ?? null),
                    repaired: f.repaired,
                    note: f.note,
                  })),
                )
                .execute();
            }
          });
        }
        summary.divergences = found.length;
        summary.repaired = found.filter((f) => f.repaired).length;
        summary.persistent = await alertOn(run.id, found, opts.tenantId ? [opts.tenantId] : 'all');
      } catch (err) {
        failure = err as Error;
        summary.errors++;
      }
      summary.durationMs = Date.now() - started;
      await tenancy.withSystem('billing: finish reconciliation', async (trx) => {
        await trx
          .updateTable('billing_reconcile_runs')
          .set({
            finished_at: new Date(),
            tenants_checked: summary.tenantsChecked,
            divergences: summary.divergences,
            repaired: summary.repaired,
            events_caught_up: summary.eventsCaughtUp,
            events_retried: summary.eventsRetried,
            errors: summary.errors,
            error: failure ? failure.message.slice(0, 500) : null,
          })
          .where('id', '=', run.id)
          .execute();
        if (failure) {
          await raiseAlert(trx, config, {
            rule: 'billing.reconciliation_failed',
            tenantId: opts.tenantId ?? null,
            source: 'billing: reconciliation',
            summary: `Billing reconciliation could not run: ${failure.message.slice(0, 200)}`,
            details: { runId: run.id },
          });
        } else {
          await resolveAlertOf(trx, config, { rule: 'billing.reconciliation_failed', subject: opts.tenantId ?? 'platform', note: `Reconciliation ${run.id} ran.` });
        }
      });
      log.info({ ...summary, trigger: opts.trigger, tenantId: opts.tenantId ?? null }, 'billing: reconciliation finished');
      if (failure) throw failure;
      return summary;
    },
  };
}

export type BillingReconciler = ReturnType<typeof billingReconciler>;

function groupByTenant<T extends { tenantId: string }>(items: T[]): Map<string, T[]> {
  const out = new Map<string, T[]>();
  for (const item of items) out.set(item.tenantId, [...(out.get(item.tenantId) ?? []), item]);
  return out;
}
