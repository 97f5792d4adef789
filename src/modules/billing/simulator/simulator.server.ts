import { randomInt, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { completeCheckoutSession } from './simulator.checkout.ts';
import { advanceTime } from './simulator.clock.ts';
import { defaultDunning, type BillingContext, type DunningPolicy } from './simulator.context.ts';
import { SimulatedApiError, invalidRequest } from './simulator.errors.ts';
import { createEventRecorder } from './simulator.events.ts';
import { FaultsInputError, noFaults, parseFaults, takeOutage, type FaultsInput, type SimulatorFaults } from './simulator.faults.ts';
import { Params, parseStripeForm } from './simulator.form.ts';
import { renderCheckoutError, renderCheckoutPage, renderInvoicePage, renderInvoicePdf } from './simulator.pages.ts';
import { createSeededRandom, deriveSeed, type SeededRandom } from './simulator.random.ts';
import { findRoute } from './simulator.routes.ts';
import { SimulatorState, defaultCatalogue, newId, wallClock, type CatalogueEntry } from './simulator.state.ts';
import { createWebhookDispatcher, type DeliveryRecord, type WebhookDeliveryOptions, type WebhookStats } from './simulator.webhooks.ts';

/**
 * A local payment provider that speaks the part of Stripe's HTTP API Brigade uses, so the
 * official `stripe` SDK works against it unchanged:
 *
 *   const sim = await startPaymentSimulator({ secretKey, webhookSecret, webhookUrl });
 *   const stripe = new Stripe(sim.secretKey, { host: '127.0.0.1', port: sim.port, protocol: 'http' });
 *
 * `/v1/...` is the Stripe API. `/_sim/...` is the simulator's own: hosted checkout and invoice
 * pages (no key needed, like Stripe's hosted pages) and the control API (faults, webhook
 * delivery; Bearer secret key), all JSON.
 */

export interface SimulatorLogger {
  debug(fields: object, message?: string): void;
  info(fields: object, message?: string): void;
  warn(fields: object, message?: string): void;
  error(fields: object, message?: string): void;
}

export interface PaymentSimulatorOptions {
  /** 0 (the default) picks a free port. */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** The key clients must send as `Authorization: Bearer <key>`. */
  secretKey: string;
  /** The endpoint secret webhooks are signed with (`whsec_...`). */
  webhookSecret: string;
  /** Where events are delivered; none when unset (events are still listed by GET /v1/events). */
  webhookUrl?: string | null;
  /** A JSON file that keeps the state across restarts; in memory only when unset. */
  statePath?: string;
  /** Start from the file at statePath but never write it back (benchmarks seed large states). */
  readOnlyState?: boolean;
  /** Seeds every fault decision; random (and reported by `faults()`) when unset. */
  seed?: number;
  log?: SimulatorLogger;
  faults?: FaultsInput;
  /** The plan catalogue seeded into a fresh state (default: starter, pro, enterprise per month). */
  catalogue?: CatalogueEntry[];
  dunning?: Partial<DunningPolicy>;
  webhookDelivery?: Partial<Omit<WebhookDeliveryOptions, 'secret'>>;
  /** How often objects on the wall clock (no test clock) are moved forward; 0 turns it off. Default 1000 ms. */
  clockTickMs?: number;
  /** The seller named on invoices. */
  accountName?: string;
}

export interface PaymentSimulator {
  /** Base URL, e.g. http://127.0.0.1:41234 */
  url: string;
  host: string;
  port: number;
  secretKey: string;
  webhookSecret: string;
  /** The seed fault decisions draw from (the last one set). */
  seed(): number;
  setWebhookUrl(url: string | null): void;
  /** Replaces the fault set; omitted fields mean no fault. Throws on invalid input. */
  setFaults(faults: FaultsInput): void;
  faults(): SimulatorFaults;
  /** Delivers every pending webhook now (see WebhookDispatcher.flush). */
  flush(): Promise<void>;
  webhookStats(): WebhookStats;
  /** The most recent delivery attempts, oldest first. */
  deliveries(): DeliveryRecord[];
  close(): Promise<void>;
}

const maxBodyBytes = 1_000_000;
const idempotencyLifetimeMs = 24 * 3600 * 1000;
const maxIdempotencyRecords = 5_000;

class HttpProblem extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export async function startPaymentSimulator(options: PaymentSimulatorOptions): Promise<PaymentSimulator> {
  if (!options.secretKey) throw new Error('payment simulator: secretKey is required');
  if (!options.webhookSecret) throw new Error('payment simulator: webhookSecret is required');
  const log = options.log;
  const host = options.host ?? '127.0.0.1';
  const state = new SimulatorState(options.statePath, options.catalogue ?? defaultCatalogue, options.readOnlyState ?? false);

  let seed = options.seed ?? randomInt(0, 2 ** 31);
  let deliveryRandom: SeededRandom = createSeededRandom(deriveSeed(seed, 'deliveries'));
  let chargeRandom: SeededRandom = createSeededRandom(deriveSeed(seed, 'charges'));
  let faults: SimulatorFaults = { ...noFaults };
  const applyFaults = (input: FaultsInput): void => {
    const parsed = parseFaults(input, Date.now());
    faults = parsed.faults;
    if (parsed.seed !== undefined) {
      seed = parsed.seed;
      deliveryRandom = createSeededRandom(deriveSeed(seed, 'deliveries'));
      chargeRandom = createSeededRandom(deriveSeed(seed, 'charges'));
    }
  };
  if (options.faults) applyFaults(options.faults);

  const dispatcher = createWebhookDispatcher({
    state,
    initialUrl: options.webhookUrl ?? null,
    options: {
      secret: options.webhookSecret,
      maxAttempts: options.webhookDelivery?.maxAttempts ?? 8,
      retryBaseMs: options.webhookDelivery?.retryBaseMs ?? 1000,
      automatic: options.webhookDelivery?.automatic ?? true,
      timeoutMs: options.webhookDelivery?.timeoutMs ?? 10_000,
    },
    faults: () => faults,
    random: () => deliveryRandom,
    warn: (fields, message) => log?.warn(fields, message),
  });

  let baseUrl = '';
  const ctx: BillingContext = {
    state,
    events: createEventRecorder(state, (event) => dispatcher.enqueue(event)),
    chargeRandom: () => chargeRandom,
    declineRate: () => faults.declineRate,
    baseUrl: () => baseUrl,
    dunning: { ...defaultDunning, ...options.dunning },
    accountName: options.accountName ?? 'Brigade (payment simulator)',
  };

  /**
   * Objects on no test clock follow the wall clock: trials end and periods renew in real time.
   * Transitions are whole seconds apart, so once per second is enough.
   */
  let caughtUpTo = 0;
  const catchUpWallClock = (): void => {
    const now = wallClock();
    if (now === caughtUpTo) return;
    caughtUpTo = now;
    if (advanceTime(ctx, null, now) > 0) state.scheduleSave();
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      log?.error({ err: error, method: req.method, url: req.url }, 'payment simulator: unhandled error');
      if (!res.headersSent) sendJson(res, 500, { error: { type: 'api_error', message: 'An unexpected error occurred in the payment simulator.' } });
      else res.destroy();
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://simulator');
    const requestId = newId('req');
    res.setHeader('request-id', requestId);
    let body: string;
    try {
      body = await readBody(req);
    } catch (error) {
      if (error instanceof HttpProblem) return sendJson(res, error.status, { error: { type: 'invalid_request_error', message: error.message } });
      throw error;
    }
    if (url.pathname.startsWith('/v1/')) return handleApi(req, res, url, body, requestId);
    if (url.pathname === '/_sim' || url.pathname.startsWith('/_sim/')) return handleSimulator(req, res, url, body, requestId);
    sendJson(res, 404, { error: { type: 'invalid_request_error', message: `Unrecognized request URL (${req.method}: ${url.pathname}).` } });
  }

  function handleApi(req: IncomingMessage, res: ServerResponse, url: URL, body: string, requestId: string): void {
    const outage = takeOutage(faults, Date.now());
    if (outage === 'reset') {
      req.socket.destroy();
      return;
    }
    if (outage === 'unavailable') {
      res.setHeader('stripe-should-retry', 'true');
      return sendJson(res, 503, { error: { type: 'api_error', message: 'The payment provider is temporarily unavailable (simulated outage). Please retry.' } });
    }
    const authError = checkApiKey(req.headers.authorization, options.secretKey);
    if (authError) return sendJson(res, 401, { error: { type: 'invalid_request_error', message: authError } });

    const method = req.method ?? 'GET';
    const stripeVersion = req.headers['stripe-version'];
    if (typeof stripeVersion === 'string') res.setHeader('stripe-version', stripeVersion);
    const idempotencyKey = method === 'POST' ? headerValue(req.headers['idempotency-key']) : null;
    const rawParams = method === 'POST' ? body : url.search.slice(1);
    const fingerprint = `${method} ${url.pathname}\n${rawParams}`;

    if (idempotencyKey) {
      res.setHeader('idempotency-key', idempotencyKey);
      const saved = state.data.idempotency[idempotencyKey];
      if (saved && Date.now() - saved.savedAt < idempotencyLifetimeMs) {
        if (saved.fingerprint !== fingerprint) {
          return sendJson(res, 400, {
            error: {
              type: 'idempotency_error',
              message: `Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '${idempotencyKey}' if you meant to execute a different request.`,
            },
          });
        }
        res.setHeader('idempotent-replayed', 'true');
        res.writeHead(saved.status, { 'content-type': 'application/json' });
        res.end(saved.body);
        return;
      }
    }

    let status = 200;
    let payload: unknown;
    try {
      if (method === 'POST' && body && !/application\/x-www-form-urlencoded/.test(req.headers['content-type'] ?? '')) {
        throw invalidRequest('Request bodies must be form-encoded (Content-Type: application/x-www-form-urlencoded), as Stripe expects.');
      }
      const found = findRoute(method, url.pathname);
      if (found === null || found === 'method_not_allowed') {
        throw new SimulatedApiError(404, 'invalid_request_error', `Unrecognized request URL (${method}: ${url.pathname}). The payment simulator implements the part of Stripe's API that Brigade uses.`);
      }
      const params = new Params(parseStripeForm(rawParams));
      catchUpWallClock();
      payload = ctx.events.withRequest({ id: requestId, idempotency_key: idempotencyKey }, () =>
        found.handler({ ctx, params, path: found.path, deliveryState: dispatcher.deliveryState }),
      );
    } catch (error) {
      if (!(error instanceof SimulatedApiError)) throw error;
      status = error.status;
      payload = error.toBody();
    }
    const text = JSON.stringify(payload, null, 2);
    // Like Stripe, keep the result of a request that ran (success or card decline), not of one refused up front.
    if (idempotencyKey && (status < 300 || status === 402)) rememberIdempotent(idempotencyKey, { method, path: url.pathname, fingerprint, status, body: text, savedAt: Date.now() });
    state.scheduleSave();
    log?.debug({ method, path: url.pathname, status, requestId }, 'payment simulator request');
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(text);
  }

  function rememberIdempotent(key: string, record: (typeof state.data.idempotency)[string]): void {
    const records = state.data.idempotency;
    records[key] = record;
    const keys = Object.keys(records);
    if (keys.length <= maxIdempotencyRecords) return;
    const cutoff = Date.now() - idempotencyLifetimeMs;
    for (const k of keys) if ((records[k]?.savedAt ?? 0) < cutoff) delete records[k];
    const remaining = Object.keys(records);
    for (const k of remaining.slice(0, Math.max(0, remaining.length - maxIdempotencyRecords))) delete records[k];
  }

  async function handleSimulator(req: IncomingMessage, res: ServerResponse, url: URL, body: string, requestId: string): Promise<void> {
    const method = req.method ?? 'GET';
    const path = url.pathname;

    // Hosted pages: public, like Stripe's, protected by their unguessable ids.
    const checkoutPage = /^\/_sim\/checkout\/([^/]+)$/.exec(path);
    if (checkoutPage && method === 'GET') {
      catchUpWallClock();
      const id = decodeURIComponent(checkoutPage[1] as string);
      const session = state.data.checkoutSessions[id];
      const books = state.data.checkoutBookkeeping[id];
      if (!session || !books) return sendText(res, 404, 'text/plain', 'No such checkout session');
      return sendText(res, 200, 'text/html; charset=utf-8', renderCheckoutPage(session, books, state.data.prices, state.data.products));
    }
    const checkoutComplete = /^\/_sim\/checkout\/([^/]+)\/complete$/.exec(path);
    if (checkoutComplete && method === 'POST') return completeCheckout(req, res, decodeURIComponent(checkoutComplete[1] as string), body, requestId);
    const invoicePage = /^\/_sim\/invoices\/([^/]+?)(\/pdf)?$/.exec(path);
    if (invoicePage && method === 'GET') {
      const invoice = state.data.invoices[decodeURIComponent(invoicePage[1] as string)];
      if (!invoice) return sendText(res, 404, 'text/plain', 'No such invoice');
      const customer = state.data.customers[invoice.customer];
      if (invoicePage[2]) {
        res.writeHead(200, { 'content-type': 'application/pdf', 'content-disposition': `inline; filename="${invoice.number ?? invoice.id}.pdf"` });
        res.end(renderInvoicePdf(invoice, customer));
        return;
      }
      return sendText(res, 200, 'text/html; charset=utf-8', renderInvoicePage(invoice, customer));
    }

    // Control API: the secret key is required.
    const authError = checkApiKey(req.headers.authorization, options.secretKey);
    if (authError) return sendJson(res, 401, { error: { type: 'invalid_request_error', message: authError } });
    const json = (): unknown => {
      if (!body) return {};
      try {
        return JSON.parse(body) as unknown;
      } catch {
        throw new HttpProblem(400, 'The body must be JSON.');
      }
    };
    try {
      if (path === '/_sim' && method === 'GET') return sendJson(res, 200, { url: baseUrl, seed, faults, webhooks: dispatcher.stats() });
      if (path === '/_sim/faults' && method === 'GET') return sendJson(res, 200, { seed, faults });
      if (path === '/_sim/faults' && method === 'POST') {
        try {
          applyFaults(json() as FaultsInput);
        } catch (error) {
          if (error instanceof FaultsInputError) throw new HttpProblem(400, error.message);
          throw error;
        }
        log?.info({ faults, seed }, 'payment simulator faults set');
        return sendJson(res, 200, { seed, faults });
      }
      if (path === '/_sim/webhooks' && method === 'GET') return sendJson(res, 200, dispatcher.stats());
      if (path === '/_sim/webhooks/flush' && method === 'POST') {
        await dispatcher.flush();
        return sendJson(res, 200, dispatcher.stats());
      }
      if (path === '/_sim/webhooks/deliveries' && method === 'GET') return sendJson(res, 200, { object: 'list', data: dispatcher.log() });
      if (path === '/_sim/webhooks/endpoint' && method === 'POST') {
        const { url: endpoint } = json() as { url?: unknown };
        if (endpoint !== null && typeof endpoint !== 'string') throw new HttpProblem(400, 'url must be a string or null');
        dispatcher.setUrl(endpoint);
        return sendJson(res, 200, dispatcher.stats());
      }
    } catch (error) {
      if (error instanceof HttpProblem) return sendJson(res, error.status, { error: { type: 'invalid_request_error', message: error.message } });
      throw error;
    }
    sendJson(res, 404, { error: { type: 'invalid_request_error', message: `Unrecognized simulator URL (${method}: ${path}).` } });
  }

  /**
   * The hosted checkout page posts a form here and is redirected to success_url; a test can
   * post JSON (`{"payment_method": "pm_card_visa"}`) and gets the session back.
   */
  function completeCheckout(req: IncomingMessage, res: ServerResponse, id: string, body: string, requestId: string): void {
    const fromBrowser = /application\/x-www-form-urlencoded/.test(req.headers['content-type'] ?? '');
    let input: { payment_method?: unknown; email?: unknown; name?: unknown };
    try {
      input = fromBrowser ? parseStripeForm(body) : body ? (JSON.parse(body) as typeof input) : {};
    } catch {
      return sendJson(res, 400, { error: { type: 'invalid_request_error', message: 'The body must be JSON or form-encoded.' } });
    }
    const text = (v: unknown): string | undefined => (typeof v === 'string' && v ? v : undefined);
    catchUpWallClock();
    try {
      const email = text(input.email);
      const name = text(input.name);
      const session = ctx.events.withRequest({ id: requestId, idempotency_key: null }, () =>
        completeCheckoutSession(ctx, id, { paymentMethod: text(input.payment_method) ?? 'pm_card_visa', ...(email ? { email } : {}), ...(name ? { name } : {}) }),
      );
      state.scheduleSave();
      if (!fromBrowser) return sendJson(res, 200, session);
      if (session.success_url) {
        res.writeHead(303, { location: session.success_url.replace('{CHECKOUT_SESSION_ID}', session.id) });
        res.end();
        return;
      }
      return sendText(res, 200, 'text/html; charset=utf-8', '<!doctype html><p>Payment complete. You can close this page.</p>');
    } catch (error) {
      if (!(error instanceof SimulatedApiError)) throw error;
      state.scheduleSave();
      const session = state.data.checkoutSessions[id];
      if (fromBrowser && session) return sendText(res, error.status, 'text/html; charset=utf-8', renderCheckoutError(session, error.message));
      return sendJson(res, error.status, error.toBody());
    }
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const urlHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  baseUrl = `http://${urlHost}:${port}`;

  const tickMs = options.clockTickMs ?? 1000;
  const ticker =
    tickMs > 0
      ? setInterval(() => {
          try {
            catchUpWallClock();
          } catch (error) {
            log?.error({ err: error }, 'payment simulator: wall-clock tick failed');
          }
        }, tickMs)
      : null;
  ticker?.unref();
  dispatcher.start();
  log?.info({ url: baseUrl, webhookUrl: dispatcher.url(), seed, statePath: options.statePath ?? null }, 'payment simulator listening');

  let closing: Promise<void> | null = null;
  return {
    url: baseUrl,
    host: urlHost,
    port,
    secretKey: options.secretKey,
    webhookSecret: options.webhookSecret,
    seed: () => seed,
    setWebhookUrl: (url) => dispatcher.setUrl(url),
    setFaults: applyFaults,
    faults: () => faults,
    flush: () => dispatcher.flush(),
    webhookStats: () => dispatcher.stats(),
    deliveries: () => dispatcher.log(),
    close() {
      closing ??= (async () => {
        if (ticker) clearInterval(ticker);
        await dispatcher.close();
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections();
        });
        state.saveNow();
      })();
      return closing;
    },
  };
}

function headerValue(value: string | string[] | undefined): string | null {
  if (Array.isArray(value)) return value[0] ?? null;
  return value ?? null;
}

/** Stripe accepts the key as a Bearer token or as the Basic-auth user name. */
function checkApiKey(authorization: string | undefined, secretKey: string): string | null {
  if (!authorization) return 'You did not provide an API key. You need to provide your API key in the Authorization header, using Bearer auth (e.g. \'Authorization: Bearer YOUR_SECRET_KEY\').';
  let presented = '';
  if (/^Bearer /i.test(authorization)) presented = authorization.slice(7).trim();
  else if (/^Basic /i.test(authorization)) presented = Buffer.from(authorization.slice(6), 'base64').toString('utf8').split(':')[0] ?? '';
  const a = Buffer.from(presented);
  const b = Buffer.from(secretKey);
  if (a.length === b.length && timingSafeEqual(a, b)) return null;
  const shown = presented.length > 8 ? `${presented.slice(0, 8)}${'*'.repeat(Math.max(0, presented.length - 12))}${presented.slice(-4)}` : '****';
  return `Invalid API Key provided: ${shown}`;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBodyBytes) {
        reject(new HttpProblem(413, 'Request body too large.'));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body, null, 2));
}

function sendText(res: ServerResponse, status: number, contentType: string, text: string): void {
  res.writeHead(status, { 'content-type': contentType });
  res.end(text);
}
