import type { Platform } from '../../platform/deps.ts';
import { billingInbox } from './billing.inbox.ts';
import { billingLifecycle } from './billing.lifecycle.ts';
import { billingReconciler } from './billing.reconcile.ts';
import { billingService } from './billing.service.ts';
import { createPaymentProvider } from './billing.simulator-host.ts';
import { subscriptionSync } from './billing.sync.ts';
import { usageMeter } from './billing.usage.ts';
import { billingOps } from './billing.ops.ts';
import { features, limitNames } from './billing.plans.ts';
import type { PaymentProvider } from './billing.provider.ts';

/**
 * Billing, assembled once per platform: the provider adapter, the sync engine and the use cases
 * built on it. The API, the job handlers and the CLI all reach the same instance, so the
 * standing cache a change invalidates is the one requests read.
 */
const instances = new WeakMap<Platform, Billing>();

export function billingModule(platform: Platform, opts: { provider?: PaymentProvider } = {}): Billing {
  const existing = instances.get(platform);
  if (existing) return existing;
  const provider = opts.provider ?? createPaymentProvider(platform.config);
  // The service is created below; the sync engine tells it which tenants changed.
  let invalidate: (tenantId: string) => void = () => undefined;
  const sync = subscriptionSync(platform, provider, (tenantId) => invalidate(tenantId));
  const service = billingService(platform, provider, sync, usageMeter(platform));
  invalidate = service.invalidate;
  const inbox = billingInbox(platform, provider, sync);
  const billing = {
    provider,
    sync,
    service,
    inbox,
    lifecycle: billingLifecycle(platform, sync, service),
    reconciler: billingReconciler(platform, provider, sync, inbox, service),
    ops: billingOps(platform),
    /** Fails at start-up when a route declares an entitlement billing does not know. */
    checkDeclaredEntitlements(routes: { method: string; url: string; access: unknown }[]): void {
      for (const route of routes) {
        const entitlement = (route.access as { entitlement?: { feature?: string; limit?: string } }).entitlement;
        if (!entitlement) continue;
        if (entitlement.feature && !Object.hasOwn(features, entitlement.feature)) {
          throw new Error(`${route.method} ${route.url} declares the unknown feature "${entitlement.feature}" (see billing.plans.ts)`);
        }
        if (entitlement.limit && (!(limitNames as readonly string[]).includes(entitlement.limit) || entitlement.limit === 'apiRatePerSecond')) {
          throw new Error(`${route.method} ${route.url} declares the unknown counted limit "${entitlement.limit}" (see billing.plans.ts)`);
        }
      }
    },
  };
  platform.hooks.tenantCreated.push((trx, tenant) => service.startTrial(trx, tenant));
  platform.hooks.tenantRateLimit = (tenantId) => service.rateLimitOf(tenantId);
  platform.hooks.claimLimit = (trx, tenantId, limit) => service.claimLimit(trx, tenantId, limit);
  instances.set(platform, billing);
  return billing;
}

export type Billing = {
  provider: PaymentProvider;
  sync: ReturnType<typeof subscriptionSync>;
  service: ReturnType<typeof billingService>;
  inbox: ReturnType<typeof billingInbox>;
  lifecycle: ReturnType<typeof billingLifecycle>;
  reconciler: ReturnType<typeof billingReconciler>;
  ops: ReturnType<typeof billingOps>;
  checkDeclaredEntitlements(routes: { method: string; url: string; access: unknown }[]): void;
};
