/**
 * A request that fails leaves nothing behind, at the provider or here: bad input is refused
 * before the provider is called, and a change the provider took but Brigade could not record
 * is taken back there. The local failure is real: a trigger in the test database refuses the
 * audit event the change writes.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { bearer, problem, type Session } from '../../../test/harness.ts';
import { billingTestContext, type BillingTestContext } from './billing.fixtures.ts';
import { simulatorWebhookSecret } from './billing.simulator-host.ts';

let t: BillingTestContext;
before(async () => {
  t = await billingTestContext();
});
after(() => t.close());

/** Until the returned function runs, the database refuses audit events of `action`. */
async function refuseAudit(action: string): Promise<() => Promise<void>> {
  const client = new pg.Client({ connectionString: t.ownerUrl });
  await client.connect();
  await client.query(`CREATE FUNCTION refuse_audit() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN IF NEW.action = '${action}' THEN RAISE EXCEPTION 'audit refused by the test'; END IF; RETURN NEW; END $$`);
  await client.query('CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_events FOR EACH ROW EXECUTE FUNCTION refuse_audit()');
  return async () => {
    await client.query('DROP TRIGGER refuse_audit ON audit_events');
    await client.query('DROP FUNCTION refuse_audit()');
    await client.end();
  };
}

const cancel = (session: Session, payload: unknown) => t.app.inject({ method: 'POST', url: '/v1/billing/subscription/cancel', headers: bearer(session), payload: payload as object });

test('a cancellation with a NUL byte in its reason is refused before the provider hears of it', async () => {
  const session = await t.signup('Nul Bistro');
  const { subscriptionId } = await t.providerIds(session.tenant.id);
  for (const reason of ['moving\u0000away', 'moving\ud800away']) {
    const res = await cancel(session, { atPeriodEnd: true, reason });
    assert.equal(res.statusCode, 400);
    assert.deepEqual(problem(res).errors, [{ path: 'reason', message: 'must not contain a NUL character or an unpaired surrogate' }]);
  }
  assert.equal((await t.stripe.subscriptions.retrieve(subscriptionId)).cancel_at_period_end, false);
  assert.equal((await t.getSubscription(session)).cancelAtPeriodEnd, false);
});

test('a cancellation Brigade cannot record is taken back at the provider', async () => {
  const session = await t.signup('Unrecorded Cancel Bistro');
  const { subscriptionId } = await t.providerIds(session.tenant.id);
  const restore = await refuseAudit('billing.cancel');
  try {
    const res = await cancel(session, { atPeriodEnd: true, reason: 'closing' });
    assert.equal(res.statusCode, 500);
  } finally {
    await restore();
  }
  assert.equal((await t.stripe.subscriptions.retrieve(subscriptionId)).cancel_at_period_end, false);
  assert.equal((await t.getSubscription(session)).cancelAtPeriodEnd, false);
});

test('undoing a cancellation Brigade cannot record leaves the cancellation in place at the provider', async () => {
  const session = await t.signup('Unrecorded Undo Bistro');
  const { subscriptionId } = await t.providerIds(session.tenant.id);
  assert.equal((await cancel(session, { atPeriodEnd: true })).statusCode, 200);
  const restore = await refuseAudit('billing.cancel_undone');
  try {
    const res = await t.app.inject({ method: 'POST', url: '/v1/billing/subscription/undo-cancel', headers: bearer(session) });
    assert.equal(res.statusCode, 500);
  } finally {
    await restore();
  }
  assert.equal((await t.stripe.subscriptions.retrieve(subscriptionId)).cancel_at_period_end, true);
  assert.equal((await t.getSubscription(session)).cancelAtPeriodEnd, true);
});

test('a plan change Brigade cannot record is taken back at the provider', async () => {
  const session = await t.signup('Unrecorded Plan Bistro');
  const { subscriptionId } = await t.providerIds(session.tenant.id);
  const planBefore = (await t.stripe.subscriptions.retrieve(subscriptionId)).items.data[0]!.price.lookup_key;
  const restore = await refuseAudit('billing.plan_change');
  try {
    const res = await t.app.inject({ method: 'POST', url: '/v1/billing/subscription/plan', headers: bearer(session), payload: { plan: 'pro' } });
    assert.equal(res.statusCode, 500);
  } finally {
    await restore();
  }
  assert.equal((await t.stripe.subscriptions.retrieve(subscriptionId)).items.data[0]!.price.lookup_key, planBefore);
  assert.equal((await t.getSubscription(session)).plan, 'trial');
});

test('a signed event holding a NUL or an unpaired surrogate is stored (those characters replaced), not refused for days', async () => {
  const id = `evt_nul_${Date.now()}`;
  const payload = JSON.stringify({
    id,
    object: 'event',
    type: 'customer.updated',
    created: Math.floor(Date.now() / 1000),
    data: { object: { id: 'cus_nobody', object: 'customer', name: 'Caf\u0000e \ud800', metadata: {} } },
  });
  const header = t.stripe.webhooks.generateTestHeaderString({ payload, secret: simulatorWebhookSecret });
  const res = await t.app.inject({ method: 'POST', url: '/v1/billing/webhooks/stripe', headers: { 'content-type': 'application/json', 'stripe-signature': header }, payload });
  assert.equal(res.statusCode, 200, res.body);
  const row = await t.platform.tenancy.withSystem('test', (trx) => trx.selectFrom('billing_events').select(['payload']).where('provider_event_id', '=', id).executeTakeFirstOrThrow());
  assert.equal((row.payload as { data: { object: { name: string } } }).data.object.name, 'Caf\ufffde \ufffd');
});
