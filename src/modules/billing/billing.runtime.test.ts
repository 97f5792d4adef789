import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { aTenant, bearer, eventually } from '../../../test/harness.ts';
import { startJobs, type JobsRuntime } from '../../platform/jobs/index.ts';
import { jobRegistry } from '../../jobs.ts';
import { billingTestContext, DAY_SECONDS, type BillingTestContext } from './billing.fixtures.ts';

/**
 * The whole loop as it runs in production: the simulator delivers webhooks as they happen, the
 * outbox relay and the workers run billing's jobs, mail goes to the built-in catcher.
 */
let t: BillingTestContext;
let jobs: JobsRuntime;

before(async () => {
  t = await billingTestContext({ simulator: { webhookDelivery: { automatic: true, retryBaseMs: 50 } } });
  jobs = await startJobs(t.platform, jobRegistry(), { schedulers: false, pollMs: 100 });
});
after(async () => {
  await jobs.close();
  await t.close();
});

/** The job runtime works in the background: the harness's wait, up to a minute, for what it does. */
const waitFor = <T>(what: string, probe: () => Promise<T | null | undefined | false>) => eventually(probe, what, 60_000, 100);

test('signup, provisioning, a card, conversion at the trial end and the mails, all through the job runtime', async () => {
  const owner = await aTenant(t.app, 'Runtime Bistro');
  const subscription = async () => t.platform.tenancy.withSystem('test', (trx) => trx.selectFrom('subscriptions').selectAll().where('tenant_id', '=', owner.tenant.id).executeTakeFirstOrThrow());
  await waitFor('provisioned by the billing.provision job', async () => (await subscription()).provider_subscription_id);

  const clock = await t.onClock(owner.tenant.id);
  const setup = await t.app.inject({ method: 'POST', url: '/v1/billing/payment-method', headers: bearer(owner), payload: {} });
  await fetch(`${t.sim.url}/_sim/checkout/${setup.json().id}/complete`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ payment_method: 'pm_card_visa' }) });
  await waitFor('the card recorded by the webhook job', async () => (await subscription()).payment_method);

  await t.advanceClock(clock, 15 * DAY_SECONDS);
  await waitFor('converted to a paid plan', async () => {
    const s = await subscription();
    return s.status === 'active' && s.plan === 'starter';
  });
  const mails = await waitFor('the confirmation and the receipt mailed', async () => {
    const caught = await t.platform.tenancy.withSystem('test', (trx) =>
      trx.selectFrom('caught_mails').select(['recipient', 'subject']).where('tenant_id', '=', owner.tenant.id).execute(),
    );
    const subjects = caught.map((m) => m.subject);
    return subjects.some((s) => s.startsWith('Welcome to Brigade Starter')) && subjects.some((s) => s.startsWith('Your Brigade invoice')) ? caught : null;
  });
  assert.ok(mails.every((m) => m.recipient === owner.user.email));
  const deadJobs = await t.platform.tenancy.withSystem('test', (trx) => trx.selectFrom('dead_jobs').select(['type', 'failed_reason']).where('tenant_id', '=', owner.tenant.id).execute());
  assert.deepEqual(deadJobs, []);
});
