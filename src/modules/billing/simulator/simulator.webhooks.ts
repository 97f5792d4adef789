import { createHmac } from 'node:crypto';
import type { SimulatorFaults } from './simulator.faults.ts';
import type { SeededRandom } from './simulator.random.ts';
import type { EventObject, PendingDelivery, SimulatorState } from './simulator.state.ts';

/**
 * Webhook delivery as Stripe does it: one POST per event to the endpoint, JSON body, signed
 * with `Stripe-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>" with the endpoint
 * secret>`, retried with exponential backoff until a 2xx. Deliveries go out one at a time in
 * queue order; the faults (drop, duplicate, hold-and-shuffle, delay) bend that order on purpose.
 *
 * Fault decisions are taken when the event is recorded, five draws per event whatever the
 * settings, so a seed and a sequence of API calls always produce the same deliveries.
 */

export interface WebhookDeliveryOptions {
  secret: string;
  /** Attempts per delivery before it is given up (Stripe keeps trying for three days). */
  maxAttempts: number;
  /** First retry delay; doubled at each further attempt. */
  retryBaseMs: number;
  /** false: nothing is sent until `flush()`; for tests that want every delivery on cue. */
  automatic: boolean;
  timeoutMs: number;
}

export interface DeliveryRecord {
  eventId: string;
  type: string;
  attempt: number;
  /** 1 for an injected duplicate. */
  copy: 0 | 1;
  status: number | null;
  ok: boolean;
  error?: string;
  at: string;
}

export interface WebhookStats {
  url: string | null;
  /** Events that were planned for delivery (an endpoint was set when they happened). */
  events: number;
  /** Sending attempts, successful or not. */
  attempts: number;
  /** Deliveries answered with a 2xx (a duplicate counts separately). */
  delivered: number;
  failedAttempts: number;
  /** Deliveries given up after the last attempt. */
  exhausted: number;
  dropped: number;
  duplicated: number;
  reordered: number;
  delayed: number;
  /** Waiting in the queue (due now, delayed, or waiting for a retry). */
  pending: number;
  /** Held back for reordering. */
  held: number;
}

export interface WebhookDispatcher {
  enqueue(event: EventObject): void;
  /**
   * Sends every queued and held delivery now, in queue order, ignoring delays and retry
   * backoff; deliveries that fail stay queued for their next retry. Resolves when done,
   * including deliveries for events recorded while flushing.
   */
  flush(): Promise<void>;
  setUrl(url: string | null): void;
  url(): string | null;
  stats(): WebhookStats;
  log(): DeliveryRecord[];
  deliveryState(eventId: string): 'pending' | 'delivered' | 'failed' | undefined;
  /** Resumes the timer after a restart with persisted deliveries. */
  start(): void;
  close(): Promise<void>;
}

export function signWebhookPayload(payload: string, secret: string, timestamp: number): string {
  const signature = createHmac('sha256', secret).update(`${timestamp}.${payload}`, 'utf8').digest('hex');
  return `t=${timestamp},v1=${signature}`;
}

const maxLogEntries = 10_000;

export function createWebhookDispatcher(deps: {
  state: SimulatorState;
  options: WebhookDeliveryOptions;
  initialUrl: string | null;
  faults: () => SimulatorFaults;
  random: () => SeededRandom;
  warn: (fields: Record<string, unknown>, message: string) => void;
}): WebhookDispatcher {
  const { state, options } = deps;
  const store = state.data.webhooks;
  let endpoint = deps.initialUrl;
  let timer: NodeJS.Timeout | null = null;
  let running: Promise<void> | null = null;
  let closed = false;
  let flushing = 0;
  /** Deliveries a flush must send regardless of their due time. */
  const forced = new Set<number>();
  const records: DeliveryRecord[] = [];
  const closing = new AbortController();
  const outcomes = store.outcomes;
  const counters = { events: 0, attempts: 0, delivered: 0, failedAttempts: 0, exhausted: 0, dropped: 0, duplicated: 0, reordered: 0, delayed: 0 };
  const eventsById = new Map<string, EventObject>();
  for (const event of state.data.events) eventsById.set(event.id, event);

  function insertSorted(delivery: PendingDelivery): void {
    let i = store.queue.length;
    while (i > 0) {
      const before = store.queue[i - 1] as PendingDelivery;
      if (before.dueAt < delivery.dueAt || (before.dueAt === delivery.dueAt && before.seq < delivery.seq)) break;
      i -= 1;
    }
    store.queue.splice(i, 0, delivery);
  }

  function releaseHeld(): void {
    if (store.held.length === 0) return;
    const batch = deps.random().shuffle(store.held.splice(0));
    const now = Date.now();
    for (const delivery of batch) {
      // Released deliveries go behind everything already queued.
      delivery.seq = store.nextSeq++;
      delivery.dueAt = Math.max(delivery.dueAt, now);
      if (flushing > 0) forced.add(delivery.seq);
      insertSorted(delivery);
    }
  }

  function pendingFor(eventId: string): number {
    return store.queue.filter((d) => d.eventId === eventId).length + store.held.filter((d) => d.eventId === eventId).length;
  }

  function schedule(): void {
    if (closed || running || !options.automatic) return;
    if (timer) clearTimeout(timer);
    timer = null;
    const next = store.queue[0];
    if (!next) return;
    timer = setTimeout(() => {
      timer = null;
      void kick();
    }, Math.max(0, next.dueAt - Date.now()));
    timer.unref();
  }

  function kick(): Promise<void> {
    running ??= pump().finally(() => {
      running = null;
      schedule();
    });
    return running;
  }

  async function pump(): Promise<void> {
    for (;;) {
      if (closed) return;
      const now = Date.now();
      const index = store.queue.findIndex((d) => forced.has(d.seq) || (options.automatic && d.dueAt <= now));
      if (index === -1) return;
      const [delivery] = store.queue.splice(index, 1) as [PendingDelivery];
      forced.delete(delivery.seq);
      await attempt(delivery);
    }
  }

  async function attempt(delivery: PendingDelivery): Promise<void> {
    const event = eventsById.get(delivery.eventId);
    const url = endpoint;
    if (!event || !url) {
      settle(delivery.eventId, 'failed');
      return;
    }
    delivery.attempts += 1;
    counters.attempts += 1;
    const payload = JSON.stringify({ ...event, pending_webhooks: 1 }, null, 2);
    const timestamp = Math.floor(Date.now() / 1000);
    let status: number | null = null;
    let error: string | undefined;
    try {
      const response = await fetch(url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json; charset=utf-8',
          'user-agent': 'Stripe/1.0 (+https://stripe.com/docs/webhooks)',
          'stripe-signature': signWebhookPayload(payload, options.secret, timestamp),
        },
        body: payload,
        // Closing the simulator cuts a delivery short; it is retried after the next start.
        signal: AbortSignal.any([AbortSignal.timeout(options.timeoutMs), closing.signal]),
      });
      status = response.status;
      await response.arrayBuffer();
    } catch (e) {
      error = e instanceof Error ? e.message : String(e);
    }
    const ok = status !== null && status >= 200 && status < 300;
    records.push({ eventId: event.id, type: event.type, attempt: delivery.attempts, copy: delivery.copy, status, ok, ...(error ? { error } : {}), at: new Date().toISOString() });
    if (records.length > maxLogEntries) records.splice(0, records.length - maxLogEntries);
    if (ok) {
      counters.delivered += 1;
      settle(event.id, 'delivered');
    } else {
      counters.failedAttempts += 1;
      if (delivery.attempts >= options.maxAttempts) {
        counters.exhausted += 1;
        deps.warn({ eventId: event.id, type: event.type, attempts: delivery.attempts, status, error }, 'webhook delivery given up');
        settle(event.id, 'failed');
      } else {
        delivery.dueAt = Date.now() + options.retryBaseMs * 2 ** (delivery.attempts - 1);
        insertSorted(delivery);
      }
    }
    state.scheduleSave();
  }

  /** An event is delivered once any copy got a 2xx; failed once none is left to try. */
  function settle(eventId: string, result: 'delivered' | 'failed'): void {
    const event = eventsById.get(eventId);
    if (result === 'delivered' || outcomes[eventId] !== 'delivered') {
      const stillPending = pendingFor(eventId) > 0;
      outcomes[eventId] = result === 'delivered' ? 'delivered' : stillPending ? 'pending' : 'failed';
    }
    if (event) {
      event.pending_webhooks = outcomes[eventId] === 'pending' ? 1 : 0;
      if (outcomes[eventId] === 'delivered') {
        const object = event.data.object;
        if (object.object === 'invoice' && typeof object.id === 'string') {
          const invoice = state.data.invoices[object.id];
          if (invoice && invoice.webhooks_delivered_at === null) invoice.webhooks_delivered_at = Math.floor(Date.now() / 1000);
        }
      }
    }
  }

  return {
    enqueue(event) {
      eventsById.set(event.id, event);
      if (!endpoint || closed) return;
      const faults = deps.faults();
      const random = deps.random();
      const [dropRoll, duplicateRoll, reorderRoll, duplicateReorderRoll, delayRoll] = [random.next(), random.next(), random.next(), random.next(), random.next()];
      counters.events += 1;
      if (dropRoll < faults.dropRate) {
        counters.dropped += 1;
        outcomes[event.id] = 'failed';
        return;
      }
      const copies: (0 | 1)[] = duplicateRoll < faults.duplicateRate ? [0, 1] : [0];
      if (copies.length > 1) counters.duplicated += 1;
      const delayed = faults.delayMs > 0 && delayRoll < faults.delayRate;
      if (delayed) counters.delayed += 1;
      outcomes[event.id] = 'pending';
      event.pending_webhooks = 1;
      for (const copy of copies) {
        const reordered = (copy === 0 ? reorderRoll : duplicateReorderRoll) < faults.reorderRate;
        const delivery: PendingDelivery = {
          seq: store.nextSeq++,
          eventId: event.id,
          dueAt: Date.now() + (delayed ? faults.delayMs : 0),
          attempts: 0,
          copy,
          delayed,
          reordered,
        };
        if (reordered) {
          counters.reordered += 1;
          store.held.push(delivery);
        } else {
          if (flushing > 0) forced.add(delivery.seq);
          insertSorted(delivery);
        }
      }
      if (store.held.length >= faults.reorderBatchSize) releaseHeld();
      state.scheduleSave();
      schedule();
    },

    async flush() {
      flushing += 1;
      try {
        releaseHeld();
        for (const delivery of store.queue) forced.add(delivery.seq);
        // Events recorded meanwhile (the receiver may call the API) are forced as they come;
        // go round again while any are left or held.
        for (let round = 0; round < 1000 && !closed; round++) {
          await kick();
          if (store.held.length > 0) releaseHeld();
          else if (!store.queue.some((d) => forced.has(d.seq))) break;
        }
      } finally {
        flushing -= 1;
        forced.clear();
        schedule();
      }
    },

    setUrl(url) {
      endpoint = url;
      schedule();
    },

    url: () => endpoint,

    stats() {
      return { url: endpoint, ...counters, pending: store.queue.length, held: store.held.length };
    },

    log: () => records.slice(),

    deliveryState: (eventId) => outcomes[eventId],

    start() {
      schedule();
    },

    async close() {
      closed = true;
      closing.abort();
      if (timer) clearTimeout(timer);
      timer = null;
      await running;
    },
  };
}
