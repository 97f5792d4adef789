import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import Stripe from 'stripe';
import { problem } from '../../../test/harness.ts';
import { billingTestContext, type BillingTestContext } from './billing.fixtures.ts';
import { simulatorWebhookSecret } from './billing.simulator-host.ts';
import { runBillingOutbox } from './billing.jobs.ts';
import { WEBHOOK_JOB } from './billing.inbox.ts';
import { storeEvent, sweepEvents } from './billing.repository.ts';
import { describeEvent } from './billing.stripe.ts';

let t: BillingTestContext;
const signer = new Stripe('sk_test_unused');
const url = '/v1/billing/webhooks/stripe';

before(async () => {
  t = await billingTestContext();
});
after(() => t.close());

function signed(payload: string, opts: { secret?: string; timestamp?: number } = {}): string {
  return signer.webhooks.generateTestHeaderString({ payload, secret: opts.secret ?? simulatorWebhookSecret, ...(opts.timestamp ? { timestamp: opts.timestamp } : {}) });
}

function anEvent(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    id: `evt_test_${Math.random().toString(36).slice(2)}`,
    object: 'event',
    api_version: Stripe.API_VERSION,
    created: Math.floor(Date.now() / 1000),
    livemode: false,
    pending_webhooks: 1,
    request: { id: null, idempotency_key: null },
    type: 'customer.updated',
    data: { object: { id: 'cus_unknown', object: 'customer', metadata: {} } },
    ...overrides,
  };
}

async function post(body: string, signature: string | null, contentType = 'application/json') {
  return t.app.inject({
    method: 'POST',
    url,
    headers: { 'content-type': contentType, ...(signature === null ? {} : { 'stripe-signature': signature }) },
    payload: body,
  });
}

const inboxRow = (id: string) => t.platform.tenancy.withSystem('test', (trx) => trx.selectFrom('billing_events').selectAll().where('provider_event_id', '=', id).executeTakeFirst());

describe('the webhook endpoint refuses what it cannot trust', () => {
  test('a missing, malformed or wrong signature is a 400 invalid_signature and nothing is stored', async () => {
    const event = anEvent();
    const body = JSON.stringify(event);
    for (const [signature, reason] of [
      [null, 'missing_signature'],
      ['nonsense', 'malformed_signature'],
      [signed(body, { secret: 'whsec_someone_else' }), 'signature_mismatch'],
      [signed(body.replace('cus_unknown', 'cus_tampered')), 'signature_mismatch'],
    ] as const) {
      const res = await post(body, signature);
      assert.equal(res.statusCode, 400, `${reason}: ${res.body}`);
      const p = problem(res);
      assert.equal(p.code, 'invalid_signature');
      assert.equal(p.reason, reason);
    }
    assert.equal(await inboxRow(event.id as string), undefined);
  });

  test('a timestamp older than five minutes, or from the future, is refused even with a valid signature', async () => {
    const event = anEvent();
    const body = JSON.stringify(event);
    const stale = await post(body, signed(body, { timestamp: Math.floor(Date.now() / 1000) - 301 }));
    assert.equal(stale.statusCode, 400);
    assert.equal(problem(stale).reason, 'timestamp_outside_tolerance');
    const future = await post(body, signed(body, { timestamp: Math.floor(Date.now() / 1000) + 600 }));
    assert.equal(problem(future).reason, 'timestamp_outside_tolerance');
    assert.equal(await inboxRow(event.id as string), undefined);
  });

  test('a correctly signed body that is not an event is a 400 invalid_event', async () => {
    for (const body of ['{not json', JSON.stringify({ hello: 'world' }), JSON.stringify({ id: 'evt_1', type: 'x', created: 'yesterday', data: {} })]) {
      const res = await post(body, signed(body));
      assert.equal(res.statusCode, 400, res.body);
      assert.equal(problem(res).code, 'invalid_event');
    }
  });

  test('the signature is checked against the exact bytes, whatever the content type says', async () => {
    const event = anEvent();
    // Spacing a JSON parser would normalise away: only the raw body verifies.
    const body = JSON.stringify(event, null, 3);
    const res = await post(body, signed(body), 'text/plain');
    assert.equal(res.statusCode, 200, res.body);
  });

  test('the signature never reaches the log', async () => {
    const lines: string[] = [];
    const { createLogger } = await import('../../platform/log.ts');
    const { Writable } = await import('node:stream');
    const log = createLogger('debug', new Writable({ write: (chunk, _enc, done) => (lines.push(String(chunk)), done()) }));
    const { createTestContext } = await import('../../../test/harness.ts');
    const own = await createTestContext({ BRIGADE_SIMULATOR_PORT: String(t.sim.port) }, { log });
    try {
      const body = JSON.stringify(anEvent());
      const signature = signed(body, { secret: 'whsec_wrong' });
      const res = await own.app.inject({ method: 'POST', url, headers: { 'content-type': 'application/json', 'stripe-signature': signature }, payload: body });
      assert.equal(res.statusCode, 400);
      const all = lines.join('');
      assert.match(all, /webhook refused/);
      assert.ok(!all.includes(signature.split('v1=')[1]!), 'the signature was logged');
      assert.ok(!all.includes(simulatorWebhookSecret));
    } finally {
      await own.close();
    }
  });
});

describe('the inbox', () => {
  test('an event is stored under its id before the 200, and a duplicate is acknowledged and ignored', async () => {
    const session = await t.signup('Inbox Bistro');
    const { customerId } = await t.providerIds(session.tenant.id);
    const event = anEvent({ type: 'customer.updated', data: { object: { id: customerId, object: 'customer', metadata: { tenantId: session.tenant.id } } } });
    const body = JSON.stringify(event);
    const first = await post(body, signed(body));
    assert.equal(first.statusCode, 200);
    assert.deepEqual(first.json(), { received: true, id: event.id, duplicate: false });
    const stored = await inboxRow(event.id as string);
    assert.equal(stored?.tenant_id, session.tenant.id);
    assert.equal(stored?.outcome, 'pending');
    const second = await post(body, signed(body));
    assert.equal(second.json().duplicate, true);
    await t.billing.inbox.sweep();
    const jobs = await t.platform.tenancy.withSystem('test', (trx) =>
      trx.selectFrom('outbox').select('payload').where('type', '=', 'billing.webhook_event').where('tenant_id', '=', session.tenant.id).execute(),
    );
    assert.equal(jobs.filter((j) => (j.payload as { eventId: string }).eventId === event.id).length, 1);
    await runBillingOutbox(t.platform);
    assert.equal((await inboxRow(event.id as string))?.outcome, 'applied');
  });

  test('an unknown event type is stored and ignored, with no job', async () => {
    const event = anEvent({ type: 'radar.early_fraud_warning.created', data: { object: { id: 'issfr_1', object: 'radar.early_fraud_warning' } } });
    const body = JSON.stringify(event);
    assert.equal((await post(body, signed(body))).statusCode, 200);
    const row = await inboxRow(event.id as string);
    assert.equal(row?.outcome, 'ignored');
    assert.equal(row?.type, 'radar.early_fraud_warning.created');
  });

  test('an event whose JSON escapes a NUL or a lone surrogate is stored with those replaced; one without is stored as it came', async () => {
    const escaped = anEvent({ data: { object: { id: 'cus_escapes', object: 'customer', metadata: { note: 'a\u0000b', half: 'c\ud800d' } } } });
    // JSON.stringify writes the NUL as \u0000 and the lone half as \ud800: the escapes a provider would send.
    const escapedBody = JSON.stringify(escaped);
    assert.match(escapedBody, /\\u0000/);
    assert.equal((await post(escapedBody, signed(escapedBody))).statusCode, 200);
    const stored = await inboxRow(escaped.id as string);
    const metadata = (stored?.payload as { data: { object: { metadata: Record<string, string> } } }).data.object.metadata;
    assert.deepEqual(metadata, { note: 'a\ufffdb', half: 'c\ufffdd' });

    const plain = anEvent({ data: { object: { id: 'cus_plain', object: 'customer', metadata: { note: 'café ☕ "quoted" \\ back' } } } });
    const plainBody = JSON.stringify(plain);
    assert.equal((await post(plainBody, signed(plainBody))).statusCode, 200);
    assert.deepEqual((await inboxRow(plain.id as string))?.payload, plain);
  });

  test('an event about nobody Brigade knows is stored as unmatched', async () => {
    const event = anEvent({ type: 'customer.subscription.updated', data: { object: { id: 'sub_nobody', object: 'subscription', customer: 'cus_nobody', metadata: {} } } });
    const body = JSON.stringify(event);
    assert.equal((await post(body, signed(body))).statusCode, 200);
    assert.equal((await inboxRow(event.id as string))?.outcome, 'unmatched');
  });

  test('a stale snapshot never wins: processing re-reads the provider', async () => {
    const session = await t.signup('Stale Bistro');
    const { subscriptionId } = await t.providerIds(session.tenant.id);
    const current = await t.stripe.subscriptions.retrieve(subscriptionId);
    // A forged-by-the-provider, old snapshot claiming the subscription is canceled.
    const event = anEvent({
      type: 'customer.subscription.deleted',
      created: current.created - 3600,
      data: { object: { ...current, status: 'canceled', metadata: { tenantId: session.tenant.id } } },
    });
    const body = JSON.stringify(event);
    assert.equal((await post(body, signed(body))).statusCode, 200);
    await runBillingOutbox(t.platform);
    assert.equal((await t.getSubscription(session)).status, 'trialing');
    assert.equal((await inboxRow(event.id as string))?.outcome, 'applied');
  });

  test('events delivered by the simulator are processed once each, whatever their number of copies', async () => {
    t.sim.setFaults({ duplicateRate: 1 });
    try {
      const session = await t.signup('Copies Bistro');
      const { subscriptionId } = await t.providerIds(session.tenant.id);
      await t.stripe.subscriptions.update(subscriptionId, { cancel_at_period_end: true });
      await t.settle();
      assert.equal((await t.getSubscription(session)).cancelAtPeriodEnd, true);
      const deliveries = t.sim.deliveries().filter((d) => d.status === 200);
      const ids = new Set(deliveries.map((d) => d.eventId));
      assert.ok(deliveries.length > ids.size, 'no duplicate was delivered');
      const stored = await t.platform.tenancy.withSystem('test', (trx) =>
        trx.selectFrom('billing_events').select(['provider_event_id']).where('provider_event_id', 'in', [...ids]).execute(),
      );
      assert.equal(stored.length, ids.size);
    } finally {
      t.sim.setFaults({});
    }
  });
});

describe('the sweep gives every stored event its job, once', () => {
  /** Stores the event as the inbox does, and nothing more: the process died right after its 200. */
  async function storedOnly(tenantId: string, subscriptionId: string): Promise<string> {
    const event = anEvent({ type: 'customer.subscription.updated', data: { object: { id: subscriptionId, object: 'subscription', metadata: { tenantId } } } });
    const e = describeEvent(event);
    const r = await t.platform.tenancy.statementAsSystem('test', (db) =>
      storeEvent(db, { provider: t.billing.provider.name, event: e, metadataTenantId: tenantId, handled: true, via: 'webhook' }),
    );
    assert.equal(r.outcome, 'pending');
    return e.id;
  }
  const jobsOf = async (ids: string[]) => {
    const rows = await t.platform.tenancy.withSystem('test', (trx) => trx.selectFrom('outbox').select('payload').where('type', '=', WEBHOOK_JOB).execute());
    const wanted = new Set(ids);
    const per = new Map<string, number>();
    for (const r of rows) {
      const id = (r.payload as { eventId: string }).eventId;
      if (wanted.has(id)) per.set(id, (per.get(id) ?? 0) + 1);
    }
    return per;
  };

  test('an event stored and acknowledged without a job (a crash in between) gets its job from the periodic sweep and is processed', async () => {
    const session = await t.signup('Crashed Ack Bistro');
    const { subscriptionId } = await t.providerIds(session.tenant.id);
    await t.stripe.subscriptions.update(subscriptionId, { cancel_at_period_end: true });
    await t.billing.inbox.idle();
    const id = await storedOnly(session.tenant.id, subscriptionId);
    assert.equal((await jobsOf([id])).get(id), undefined);
    assert.equal((await inboxRow(id))?.job_queued_at, null);
    assert.ok((await t.billing.inbox.sweep()) >= 1);
    assert.equal((await jobsOf([id])).get(id), 1);
    assert.ok((await inboxRow(id))?.job_queued_at instanceof Date);
    assert.equal(await t.billing.inbox.sweep(), 0, 'a second sweep queues nothing');
    await runBillingOutbox(t.platform);
    assert.equal((await inboxRow(id))?.outcome, 'applied');
    assert.equal((await t.getSubscription(session)).cancelAtPeriodEnd, true);
  });

  test('a sweeper skips the events another is queueing, and sweepers side by side queue each event once', async () => {
    const session = await t.signup('Two Sweepers Bistro');
    const { subscriptionId } = await t.providerIds(session.tenant.id);
    await t.billing.inbox.idle();
    await t.billing.inbox.sweep();
    const first = await Promise.all(Array.from({ length: 20 }, () => storedOnly(session.tenant.id, subscriptionId)));
    // One sweeper holds the rows it took (its transaction still open): another takes none of them.
    await t.platform.tenancy.withSystem('test: slow sweeper', async (trx) => {
      assert.equal(await sweepEvents(trx, WEBHOOK_JOB, 500), 20);
      const other = await t.platform.tenancy.statementAsSystem('test: second sweeper', (db) => sweepEvents(db, WEBHOOK_JOB, 500));
      assert.equal(other, 0);
    });
    assert.equal(await t.billing.inbox.sweep(), 0, 'committed: nothing left to queue');
    // Many sweepers at once, in small batches, over many events: one job each.
    const second = await Promise.all(Array.from({ length: 300 }, () => storedOnly(session.tenant.id, subscriptionId)));
    const sweeper = async () => {
      let n = 0;
      for (;;) {
        const k = await t.platform.tenancy.statementAsSystem('test: sweeper', (db) => sweepEvents(db, WEBHOOK_JOB, 7));
        n += k;
        if (k === 0) return n;
      }
    };
    const counts = await Promise.all([sweeper(), sweeper(), sweeper(), sweeper()]);
    assert.equal(counts.reduce((a, b) => a + b, 0), 300);
    const per = await jobsOf([...first, ...second]);
    assert.equal(per.size, 320);
    assert.deepEqual([...per.values()].filter((n) => n !== 1), []);
  });

  test('an event whose business was deleted after it was stored is marked without a job, and the sweep still queues the others', async () => {
    // No foreign key ties an event to its business (docs/decisions/0691): an event stored while
    // its business's deletion ran can outlive the tenants row until the deletion's second pass.
    const session = await t.signup('Still Here Bistro');
    const { subscriptionId } = await t.providerIds(session.tenant.id);
    await t.billing.inbox.idle();
    await t.billing.inbox.sweep();
    const gone = `evt_test_gone_${Math.random().toString(36).slice(2)}`;
    await t.platform.tenancy.withSystem('test: an event of a deleted business', (trx) =>
      trx
        .insertInto('billing_events')
        .values({ provider_event_id: gone, provider: t.billing.provider.name, type: 'customer.subscription.updated', tenant_id: crypto.randomUUID(), object_id: 'sub_gone', provider_created_at: new Date(Date.now() - 60_000), payload: '{}', via: 'webhook' })
        .execute(),
    );
    const kept = await storedOnly(session.tenant.id, subscriptionId);
    assert.equal(await t.billing.inbox.sweep(), 2);
    const jobs = await jobsOf([gone, kept]);
    assert.equal(jobs.get(kept), 1);
    assert.equal(jobs.get(gone), undefined);
    assert.ok((await inboxRow(gone))?.job_queued_at instanceof Date, 'marked, so no sweep takes it again');
    assert.equal(await t.billing.inbox.sweep(), 0);
  });

  test('a webhook acknowledged by the API gets its job within milliseconds, with nobody sweeping', async () => {
    const session = await t.signup('Quick Wake Bistro');
    const { subscriptionId } = await t.providerIds(session.tenant.id);
    await t.billing.inbox.sweep();
    const event = anEvent({ type: 'customer.subscription.updated', data: { object: { id: subscriptionId, object: 'subscription', metadata: { tenantId: session.tenant.id } } } });
    const id = event.id as string;
    // The sweep's outbox rows wake the relay (NOTIFY brigade_outbox): wait for that, not for a time.
    let notified = 0;
    let wake: () => void = () => undefined;
    const unsubscribe = t.platform.db.notifications.subscribe('brigade_outbox', () => (notified++, wake()), () => (notified++, wake()));
    let deadline: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => (deadline = setTimeout(() => reject(new Error('no job 5 s after the 200')), 5_000)));
    try {
      const body = JSON.stringify(event);
      assert.equal((await post(body, signed(body))).statusCode, 200);
      for (;;) {
        const seen = notified;
        if ((await jobsOf([id])).get(id) === 1) break;
        if (notified === seen) await Promise.race([new Promise<void>((resolve) => (wake = resolve)), late]);
      }
    } finally {
      clearTimeout(deadline);
      unsubscribe();
    }
  });
});
