/**
 * The billing module's door. For now: the bundled payment-provider simulator, which the process
 * entry starts when no STRIPE_SECRET_KEY is configured.
 */
export { startPaymentSimulator } from './simulator/simulator.server.ts';
export type { PaymentSimulator, PaymentSimulatorOptions, SimulatorLogger } from './simulator/simulator.server.ts';
export type { FaultsInput, SimulatorFaults } from './simulator/simulator.faults.ts';
export type { DeliveryRecord, WebhookStats } from './simulator/simulator.webhooks.ts';
export type { CatalogueEntry } from './simulator/simulator.state.ts';
export type { DunningPolicy } from './simulator/simulator.context.ts';
