/**
 * The billing module's door: plans and entitlements, the subscription's state machine, the
 * payment-provider port (Stripe, or the bundled simulator), the webhook inbox, reconciliation
 * and the lifecycle jobs.
 */
export { billingModule, type Billing } from './billing.module.ts';
export { billingRoutes } from './billing.routes.ts';
export { hostPaymentSimulator, createPaymentProvider, webhookUrlOf, simulatorSecretKey, simulatorWebhookSecret, type HostedSimulator } from './billing.simulator-host.ts';
export {
  billingJobs,
  provisionJob,
  webhookEventJob,
  billingNoticeMailJob,
  lifecycleJob,
  reconcileJob,
  sendBillingNotice,
  runBillingOutbox,
  LIFECYCLE_EVERY_MS,
  RECONCILE_CRON,
} from './billing.jobs.ts';
export { plans, paidPlans, features, limitNames, planOf, limitsExceeded, type PlanKey, type PaidPlanKey, type Feature, type LimitName } from './billing.plans.ts';
export { subscriptionStatuses, allowedTransitions, canTransition, transitionPath, statusRules, type SubscriptionStatus } from './billing.states.ts';
export type { PaymentProvider, ProviderSubscription, ProviderInvoice, ProviderEvent } from './billing.provider.ts';

export { startPaymentSimulator } from './simulator/simulator.server.ts';
export type { PaymentSimulator, PaymentSimulatorOptions, SimulatorLogger } from './simulator/simulator.server.ts';
export type { FaultsInput, SimulatorFaults } from './simulator/simulator.faults.ts';
export type { DeliveryRecord, WebhookStats } from './simulator/simulator.webhooks.ts';
export type { CatalogueEntry } from './simulator/simulator.state.ts';
export type { DunningPolicy } from './simulator/simulator.context.ts';
