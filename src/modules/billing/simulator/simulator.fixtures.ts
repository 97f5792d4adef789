import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import Stripe from 'stripe';
import { startPaymentSimulator, type PaymentSimulator, type PaymentSimulatorOptions } from './simulator.server.ts';

/** Test fixtures: a simulator, the real SDK pointed at it, and a local webhook receiver. */

export interface ReceivedWebhook {
  rawBody: string;
  signature: string;
  event: Stripe.Event;
}

export interface WebhookReceiver {
  url: string;
  received: ReceivedWebhook[];
  /** Status codes to answer with, one per delivery in turn; 200 once they run out. */
  answerWith(...statuses: number[]): void;
  /** Resolves once `count` deliveries have been received (an event to wait on, not a poll). */
  receivedCount(count: number): Promise<void>;
  close(): Promise<void>;
}

export async function startWebhookReceiver(): Promise<WebhookReceiver> {
  const received: ReceivedWebhook[] = [];
  const scripted: number[] = [];
  const waiting: { count: number; resolve: () => void }[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const rawBody = Buffer.concat(chunks).toString('utf8');
      received.push({ rawBody, signature: String(req.headers['stripe-signature'] ?? ''), event: JSON.parse(rawBody) as Stripe.Event });
      res.writeHead(scripted.shift() ?? 200, { 'content-type': 'application/json' });
      res.end('{"received":true}');
      for (const w of waiting.filter((w) => received.length >= w.count)) {
        waiting.splice(waiting.indexOf(w), 1);
        w.resolve();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/webhooks/stripe`,
    received,
    answerWith: (...statuses) => scripted.push(...statuses),
    receivedCount: (count) => (received.length >= count ? Promise.resolve() : new Promise<void>((resolve) => waiting.push({ count, resolve }))),
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

export const testSecretKey = 'sk_test_brigade_simulator_0123456789';
export const testWebhookSecret = 'whsec_brigade_simulator_test_secret';

export interface SimulatorHarness {
  simulator: PaymentSimulator;
  stripe: Stripe;
  receiver: WebhookReceiver;
  close(): Promise<void>;
}

/**
 * A simulator whose webhooks go to a fresh receiver and are sent only on `flush()`, so tests
 * decide when deliveries happen instead of waiting for them.
 */
export async function startHarness(options: Partial<PaymentSimulatorOptions> = {}): Promise<SimulatorHarness> {
  const receiver = await startWebhookReceiver();
  const simulator = await startPaymentSimulator({
    secretKey: testSecretKey,
    webhookSecret: testWebhookSecret,
    webhookUrl: receiver.url,
    seed: 42,
    clockTickMs: 0,
    ...options,
    webhookDelivery: { automatic: false, ...options.webhookDelivery },
  });
  const stripe = stripeFor(simulator);
  return {
    simulator,
    stripe,
    receiver,
    async close() {
      await simulator.close();
      await receiver.close();
    },
  };
}

export function stripeFor(simulator: PaymentSimulator, maxNetworkRetries = 0): Stripe {
  return new Stripe(simulator.secretKey, { host: simulator.host, port: simulator.port, protocol: 'http', maxNetworkRetries });
}

export const dayInSeconds = 86_400;

/** A test clock at a fixed instant, so dates in assertions do not depend on today. */
export const clockStart = Date.UTC(2030, 0, 15, 9, 0, 0) / 1000;

export async function controlRequest(simulator: PaymentSimulator, method: string, path: string, body?: unknown, key = simulator.secretKey): Promise<{ status: number; body: any }> {
  const response = await fetch(`${simulator.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  return { status: response.status, body: text ? (JSON.parse(text) as unknown) : null };
}
