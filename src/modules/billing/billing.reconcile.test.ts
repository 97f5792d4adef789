import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { aTenant, bearer } from '../../../test/harness.ts';
import { operatorsService } from '../identity/index.ts';
import { billingTestContext, type BillingTestContext } from './billing.fixtures.ts';

let t: BillingTestContext;
let opToken: string;

before(async () => {
  t = await billingTestContext({ env: { BRIGADE_RECONCILE_ALERT_THRESHOLD: '3' } });
  await operatorsService(t.platform).createOperator({ email: 'ops@brigade.test', password: 'correct horse battery' });
  opToken = (await t.app.inject({ method: 'POST', url: '/ops/api/login', payload: { email: 'ops@brigade.test', password: 'correct horse battery' } })).json().token;
});
after(() => t.close());

const reconcile = (tenantId?: string) => t.billing.reconciler.reconcile({ trigger: 'test', ...(tenantId ? { tenantId } : {}) });

async function divergencesOf(runId: string) {
  return t.platform.tenancy.withSystem('test', (trx) => trx.selectFrom('billing_divergences').selectAll().where('run_id', '=', runId).execute());
}

/** Changes something at the provider while every webhook about it is lost. */
async function behindBrigadesBack(fn: () => Promise<unknown>): Promise<void> {
  t.sim.setFaults({ dropRate: 1 });
  try {
    await fn();
    await t.settle();
  } finally {
    t.sim.setFaults({});
  }
}

describe('reconciliation', () => {
  test('finds what a lost webhook left behind, repairs it from the provider, records it, and then finds nothing', async () => {
    const session = await t.signup('Lost Hook Bistro');
    const { subscriptionId } = await t.providerIds(session.tenant.id);
    await behindBrigadesBack(() => t.stripe.subscriptions.update(subscriptionId, { cancel_at_period_end: true }));
    assert.equal((await t.getSubscription(session)).cancelAtPeriodEnd, false);

    const first = await reconcile();
    assert.ok(first.eventsCaughtUp >= 1, 'the undelivered event was not taken in');
    const found = await divergencesOf(first.runId);
    assert.deepEqual(
      found.map((d) => [d.tenant_id, d.field, d.local_value, d.provider_value, d.repaired]),
      [[session.tenant.id, 'cancelAtPeriodEnd', false, true, true]],
    );
    assert.equal((await t.getSubscription(session)).cancelAtPeriodEnd, true);
    const caught = await t.platform.tenancy.withSystem('test', (trx) => trx.selectFrom('billing_events').select(['via', 'type']).where('tenant_id', '=', session.tenant.id).where('via', '=', 'catch_up').execute());
    assert.ok(caught.some((e) => e.type === 'customer.subscription.updated'));

    await t.settle();
    const second = await reconcile();
    assert.equal(second.divergences, 0);
  });

  test('an event whose processing job died is queued again and processed', async () => {
    const session = await t.signup('Dead Job Bistro');
    const { subscriptionId } = await t.providerIds(session.tenant.id);
    await t.stripe.subscriptions.update(subscriptionId, { cancel_at_period_end: true });
    await t.sim.flush();
    // The job of the delivered event died: its outbox row is gone from the queue, the event is failed.
    const event = await t.platform.tenancy.withSystem('test', async (trx) => {
      const e = await trx.selectFrom('billing_events').select('provider_event_id').where('tenant_id', '=', session.tenant.id).where('outcome', '=', 'pending').executeTakeFirstOrThrow();
      await trx.updateTable('outbox').set({ relayed_at: new Date() }).where('tenant_id', '=', session.tenant.id).where('type', '=', 'billing.webhook_event').execute();
      await trx.updateTable('billing_events').set({ outcome: 'failed', received_at: new Date(Date.now() - 3600_000) }).where('tenant_id', '=', session.tenant.id).where('outcome', '=', 'pending').execute();
      return e.provider_event_id;
    });
    const summary = await t.billing.reconciler.reconcile({ trigger: 'test' });
    assert.ok(summary.eventsRetried >= 1);
    await t.settle();
    const row = await t.platform.tenancy.withSystem('test', (trx) => trx.selectFrom('billing_events').select('outcome').where('provider_event_id', '=', event).executeTakeFirstOrThrow());
    assert.equal(row.outcome, 'applied');
  });

  test('a stuck event whose business was deleted meanwhile is not queued again, and the others are', async () => {
    const session = await t.signup('Stuck Beside Bistro');
    const hourAgo = new Date(Date.now() - 3600_000);
    const stuck = (id: string, tenantId: string) => ({ provider_event_id: id, provider: 'stripe', type: 'customer.subscription.updated', tenant_id: tenantId, object_id: 'sub_stuck', provider_created_at: hourAgo, received_at: hourAgo, payload: '{}', via: 'webhook' as const, outcome: 'failed' as const });
    const gone = `evt_test_gone_${Math.random().toString(36).slice(2)}`;
    const kept = `evt_test_kept_${Math.random().toString(36).slice(2)}`;
    const goneTenant = crypto.randomUUID();
    await t.platform.tenancy.withSystem('test: old failed events, one of a deleted business', (trx) =>
      trx.insertInto('billing_events').values([stuck(gone, goneTenant), stuck(kept, session.tenant.id)]).execute(),
    );
    const summary = await t.billing.reconciler.reconcile({ trigger: 'test' });
    assert.equal(summary.errors, 0);
    assert.ok(summary.eventsRetried >= 1);
    const jobsFor = (tenantId: string) =>
      t.platform.tenancy.withSystem('test', (trx) => trx.selectFrom('outbox').select('payload').where('tenant_id', '=', tenantId).where('type', '=', 'billing.webhook_event').execute());
    assert.deepEqual(await jobsFor(goneTenant), []);
    assert.ok((await jobsFor(session.tenant.id)).some((j) => (j.payload as { eventId: string }).eventId === kept), 'the live business\'s stuck event is queued again');
  });

  test('--tenant reconciles that business alone', async () => {
    const session = await t.signup('Single Bistro');
    const summary = await reconcile(session.tenant.id);
    assert.equal(summary.tenantsChecked, 1);
    assert.equal(summary.divergences, 0);
  });

  test('a business never provisioned at the provider is provisioned by reconciliation', async () => {
    const session = await aTenant(t.app, 'Forgotten Bistro');
    // The provisioning job was lost, and long enough ago not to be merely in flight.
    await t.platform.tenancy.withSystem('test', async (trx) => {
      await trx.updateTable('outbox').set({ relayed_at: new Date() }).where('tenant_id', '=', session.tenant.id).execute();
      await trx.updateTable('subscriptions').set({ created_at: new Date(Date.now() - 3600_000) } as never).where('tenant_id', '=', session.tenant.id).execute();
    });
    const summary = await reconcile();
    const found = (await divergencesOf(summary.runId)).filter((d) => d.tenant_id === session.tenant.id);
    assert.equal(found.length, 1);
    assert.equal(found[0]!.field, 'providerSubscriptionId');
    assert.equal(found[0]!.repaired, true);
    const { subscriptionId } = await t.providerIds(session.tenant.id);
    assert.equal((await t.stripe.subscriptions.retrieve(subscriptionId)).status, 'trialing');
  });

  test('a difference the state machine cannot repair is recorded unrepaired, alerted, and alerted again as persistent', async () => {
    const session = await t.signup('Impossible Bistro');
    // Brigade believes the business paid; the provider says it is still on trial. No transition leads back.
    await t.platform.tenancy.withSystem('test', (trx) => trx.updateTable('subscriptions').set({ status: 'active' }).where('tenant_id', '=', session.tenant.id).execute());
    const first = await reconcile(session.tenant.id);
    const [d] = await divergencesOf(first.runId);
    assert.equal(d?.field, 'status');
    assert.equal(d?.repaired, false);
    assert.match(d?.note ?? '', /active → trialing is not allowed/);
    await reconcile(session.tenant.id);
    const alerts = await t.platform.tenancy.withSystem('test', (trx) =>
      trx.selectFrom('alerts').select(['rule']).where('tenant_id', '=', session.tenant.id).where('state', '<>', 'resolved').execute(),
    );
    assert.deepEqual(alerts.map((a) => a.rule).sort(), ['billing.disallowed_transition', 'billing.divergence_persistent']);
    await t.platform.tenancy.withSystem('test', (trx) => trx.updateTable('subscriptions').set({ status: 'trialing' }).where('tenant_id', '=', session.tenant.id).execute());
  });

  test('more divergences in one run than the threshold raise an alert', async () => {
    const sessions: Awaited<ReturnType<typeof t.signup>>[] = [];
    for (let i = 0; i < 3; i++) sessions.push(await t.signup(`Threshold Bistro ${i}`));
    await behindBrigadesBack(async () => {
      for (const s of sessions) await t.stripe.subscriptions.update((await t.providerIds(s.tenant.id)).subscriptionId, { cancel_at_period_end: true });
    });
    const summary = await reconcile();
    assert.ok(summary.divergences >= 3);
    const alert = await t.platform.tenancy.withSystem('test', (trx) => trx.selectFrom('alerts').selectAll().where('rule', '=', 'billing.divergence_threshold').where('state', '<>', 'resolved').executeTakeFirst());
    assert.ok(alert);
    assert.equal(alert.subject, 'platform');
    assert.ok(alert.observed! >= 3);
  });

  test('operators see divergences, runs and alerts in the ops API and can start a run', async () => {
    const divergences = await t.app.inject({ method: 'GET', url: '/ops/api/billing/divergences?limit=2', headers: bearer(opToken) });
    assert.equal(divergences.statusCode, 200);
    const page = divergences.json();
    assert.equal(page.data.length, 2);
    assert.ok(page.nextCursor);
    for (const key of ['id', 'runId', 'tenantId', 'field', 'local', 'provider', 'repaired', 'detectedAt']) assert.ok(key in page.data[0], key);
    const next = await t.app.inject({ method: 'GET', url: `/ops/api/billing/divergences?limit=2&cursor=${page.nextCursor}`, headers: bearer(opToken) });
    assert.notEqual(next.json().data[0].id, page.data[0].id);

    const started = await t.app.inject({ method: 'POST', url: '/ops/api/billing/reconcile', headers: bearer(opToken), payload: {} });
    assert.equal(started.statusCode, 200, started.body);
    assert.ok(started.json().tenantsChecked >= 5);
    const runs = await t.app.inject({ method: 'GET', url: '/ops/api/billing/reconciliations', headers: bearer(opToken) });
    assert.equal(runs.json().data[0].id, started.json().runId);
    assert.equal(runs.json().data[0].trigger, 'operator');
    assert.ok(page.data.every((d: { tenantName: string | null }) => typeof d.tenantName === 'string'), 'divergences name their business');

    // A bare POST reconciles every business, as the README says: no body at all, or a JSON
    // content type with nothing in it (what many HTTP clients send).
    const bare = await t.app.inject({ method: 'POST', url: '/ops/api/billing/reconcile', headers: bearer(opToken) });
    assert.equal(bare.statusCode, 200, bare.body);
    assert.ok(bare.json().tenantsChecked >= 5);
    const emptyJson = await t.app.inject({ method: 'POST', url: '/ops/api/billing/reconcile', headers: { ...bearer(opToken), 'content-type': 'application/json' } });
    assert.equal(emptyJson.statusCode, 200, emptyJson.body);
    assert.equal(emptyJson.json().tenantsChecked, bare.json().tenantsChecked);
    const oneTenant = await t.app.inject({ method: 'GET', url: `/ops/api/billing/reconciliations?runId=${emptyJson.json().runId}`, headers: bearer(opToken) });
    assert.deepEqual(oneTenant.json().data.map((r: { id: string }) => r.id), [emptyJson.json().runId], 'a run is found by its id');

    const events = await t.app.inject({ method: 'GET', url: '/ops/api/billing/events?outcome=applied&limit=5', headers: bearer(opToken) });
    assert.equal(events.statusCode, 200);
    assert.ok(events.json().data.every((e: { outcome: string }) => e.outcome === 'applied'));

    const owner = await aTenant(t.app, 'Nosy Bistro');
    assert.equal((await t.app.inject({ method: 'GET', url: '/ops/api/billing/divergences', headers: bearer(owner) })).statusCode, 401);
  });

  test('brigade billing reconcile --tenant T runs from the command line', async () => {
    const session = await t.signup('Command Line Bistro');
    const run = promisify(execFile);
    const { stdout } = await run(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'billing', 'reconcile', '--tenant', session.tenant.id], {
      env: {
        ...process.env,
        DATABASE_URL: t.ownerUrl,
        BRIGADE_SIMULATOR_PORT: String(t.sim.port),
        BRIGADE_QUEUE_PREFIX: t.platform.config.BRIGADE_QUEUE_PREFIX,
        LOG_LEVEL: 'silent',
      },
      timeout: 60_000,
    });
    const summary = JSON.parse(stdout);
    assert.equal(summary.tenantsChecked, 1);
    assert.equal(summary.divergences, 0);
    const runs = await t.platform.tenancy.withSystem('test', (trx) => trx.selectFrom('billing_reconcile_runs').select(['trigger', 'tenant_id']).where('id', '=', summary.runId).execute());
    assert.deepEqual(runs, [{ trigger: 'cli', tenant_id: session.tenant.id }]);
  });
});
