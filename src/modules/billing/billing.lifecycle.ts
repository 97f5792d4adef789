import type { Platform } from '../../platform/deps.ts';
import { raiseAlert } from '../alerts/index.ts';
import { ProviderUnavailableError } from './billing.provider.ts';
import { DisallowedTransitionError, type SubscriptionSync } from './billing.sync.ts';
import type { BillingService } from './billing.service.ts';

/**
 * The time-driven part of the subscription's life, run by the `billing.lifecycle` job every
 * few minutes: trial reminders, the end of a trial, the end of grace and past_due periods, and
 * the end of the retention period. The provider is asked before anything is taken away: a
 * business that paid while a webhook was lost is never suspended for it, and while the provider
 * cannot be reached nobody loses access.
 */

const DAY = 86_400_000;

export interface LifecycleSummary {
  reminders: number;
  synced: number;
  suspended: number;
  graced: number;
  retentionAlerts: number;
  deferred: number;
}

export function billingLifecycle(platform: Platform, sync: SubscriptionSync, service: BillingService) {
  const { tenancy, log } = platform;

  return {
    async sweep(now = new Date()): Promise<LifecycleSummary> {
      const summary: LifecycleSummary = { reminders: 0, synced: 0, suspended: 0, graced: 0, retentionAlerts: 0, deferred: 0 };
      const due = await tenancy.withSystem('billing: lifecycle candidates', (trx) =>
        trx
          .selectFrom('subscriptions')
          .select(['tenant_id', 'status', 'trial_ends_at', 'grace_ends_at', 'retain_until', 'provider_subscription_id', 'provider_customer_id'])
          .where((eb) =>
            eb.or([
              eb.and([eb('status', '=', 'trialing'), eb('trial_ends_at', '<=', new Date(now.getTime() + 7 * DAY))]),
              eb.and([eb('status', 'in', ['grace', 'past_due']), eb('grace_ends_at', '<=', now)]),
              eb.and([eb('status', 'in', ['canceled', 'expired']), eb('retain_until', '<=', now)]),
            ]),
          )
          .orderBy('tenant_id')
          .execute(),
      );

      for (const row of due) {
        const tenantId = row.tenant_id;
        try {
          if (row.status === 'trialing' && row.trial_ends_at && row.trial_ends_at > now) {
            if (await service.remindTrial(tenantId, now)) summary.reminders++;
          } else if (row.status === 'trialing') {
            if (!row.provider_subscription_id) {
              await service.endTrialLocally(tenantId);
              summary.graced++;
            } else {
              // The provider ends the trial; its answer says grace, past_due or active.
              await sync.syncTenant(tenantId, { source: 'lifecycle', reason: 'trial end', now });
              summary.synced++;
            }
          } else if (row.status === 'grace' || row.status === 'past_due') {
            const result = row.provider_subscription_id ? await sync.syncTenant(tenantId, { source: 'lifecycle', reason: `${row.status} period ended`, now }) : null;
            const stillUnpaid = result?.outcome ? result.outcome.status === row.status : true;
            if (stillUnpaid) {
              await sync.changeStatus(tenantId, 'suspended', { source: 'lifecycle', reason: `${row.status === 'grace' ? 'grace' : 'past-due'} period ended unpaid`, now });
              summary.suspended++;
            }
          } else {
            await tenancy.withSystem('billing: retention alert', (trx) =>
              raiseAlert(trx, platform.config, {
                rule: 'billing.retention_elapsed',
                tenantId,
                source: 'billing: lifecycle',
                summary: `The retention period of this ${row.status} business ended on ${row.retain_until?.toISOString().slice(0, 10)}; its data may now be removed.`,
                details: { status: row.status, retainUntil: row.retain_until?.toISOString() ?? null },
              }),
            );
            summary.retentionAlerts++;
          }
          service.invalidate(tenantId);
        } catch (err) {
          if (err instanceof ProviderUnavailableError) {
            summary.deferred++;
            continue;
          }
          if (err instanceof DisallowedTransitionError) continue;
          log.error({ err, tenantId }, 'billing: lifecycle step failed');
          summary.deferred++;
        }
      }
      return summary;
    },
  };
}

export type BillingLifecycle = ReturnType<typeof billingLifecycle>;
