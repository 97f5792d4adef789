import path from 'node:path';
import Stripe from 'stripe';
import type { Config } from '../../config.ts';
import type { Logger } from '../../platform/log.ts';
import { stripeAdapter } from './billing.stripe.ts';
import type { PaymentProvider } from './billing.provider.ts';
import { startPaymentSimulator, type PaymentSimulator } from './simulator/simulator.server.ts';

/**
 * Which payment provider a process talks to, and who hosts the bundled simulator.
 *
 * With STRIPE_SECRET_KEY set: Stripe. Otherwise the simulator on 127.0.0.1:BRIGADE_SIMULATOR_PORT,
 * with fixed local keys. The first Brigade process that starts (start, serve, worker or a CLI
 * command) hosts it, keeping its state in BRIGADE_DATA_DIR/simulator.json; the others find the
 * port taken and talk to it as clients. Its webhooks go to this machine's API on PORT.
 */

/** Local-only keys of the bundled simulator (it listens on loopback). */
export const simulatorSecretKey = 'sk_test_brigade_local_simulator';
export const simulatorWebhookSecret = 'whsec_brigade_local_simulator';

export function createPaymentProvider(config: Config): PaymentProvider {
  const common = { maxNetworkRetries: config.STRIPE_MAX_NETWORK_RETRIES, timeout: 15_000 };
  if (config.STRIPE_SECRET_KEY && config.STRIPE_WEBHOOK_SECRET) {
    return stripeAdapter(new Stripe(config.STRIPE_SECRET_KEY, { ...common, appInfo: { name: 'Brigade' } }), { name: 'stripe', webhookSecret: config.STRIPE_WEBHOOK_SECRET });
  }
  const stripe = new Stripe(simulatorSecretKey, { ...common, host: '127.0.0.1', port: config.BRIGADE_SIMULATOR_PORT, protocol: 'http' });
  return stripeAdapter(stripe, { name: 'simulator', webhookSecret: simulatorWebhookSecret });
}

export function webhookUrlOf(config: Config): string {
  const host = config.HOST === '0.0.0.0' || config.HOST === '::' ? '127.0.0.1' : config.HOST.includes(':') ? `[${config.HOST}]` : config.HOST;
  return `http://${host}:${config.PORT}/v1/billing/webhooks/stripe`;
}

export interface HostedSimulator {
  /** Null when another process hosts it (or Stripe is configured). */
  simulator: PaymentSimulator | null;
  close(): Promise<void>;
}

/** Starts the bundled simulator in this process unless Stripe is configured or another process hosts it. */
export async function hostPaymentSimulator(config: Config, log: Logger): Promise<HostedSimulator> {
  if (config.STRIPE_SECRET_KEY) return { simulator: null, close: async () => undefined };
  const simLog = log.child({ component: 'payment-simulator' });
  try {
    const simulator = await startPaymentSimulator({
      port: config.BRIGADE_SIMULATOR_PORT,
      host: '127.0.0.1',
      secretKey: simulatorSecretKey,
      webhookSecret: simulatorWebhookSecret,
      webhookUrl: webhookUrlOf(config),
      statePath: path.join(config.BRIGADE_DATA_DIR, 'simulator.json'),
      log: {
        debug: (fields, message) => simLog.debug(fields, message),
        info: (fields, message) => simLog.info(fields, message),
        warn: (fields, message) => simLog.warn(fields, message),
        error: (fields, message) => simLog.error(fields, message),
      },
    });
    return { simulator, close: () => simulator.close() };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') {
      simLog.info({ port: config.BRIGADE_SIMULATOR_PORT }, 'payment simulator already hosted by another process; using it');
      return { simulator: null, close: async () => undefined };
    }
    throw err;
  }
}
