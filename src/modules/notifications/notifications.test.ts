import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { createTestContext, aTenant, aBranch, aMember, anOperator, bearer, eventually, type TestContext } from '../../../test/harness.ts';
import { jobRegistry } from '../../jobs.ts';
import { startJobs, type JobsRuntime } from '../../platform/jobs/index.ts';
import { lowStockMailJob } from './index.ts';

let t: TestContext;
let runtime: JobsRuntime;
let op: string;
before(async () => {
  t = await createTestContext();
  runtime = await startJobs(t.platform, jobRegistry(), { pollMs: 200, schedulers: false });
  op = await anOperator(t);
});
after(async () => {
  await runtime.close();
  await t.close();
});

const mailsOfJob = async (jobId: string) =>
  ((await t.app.inject({ method: 'GET', url: '/ops/api/mails?limit=200', headers: bearer(op) })).json().data as { to: string; subject: string; text: string; jobId: string }[]).filter(
    (m) => m.jobId === jobId,
  );

test("a low-stock alert goes to the branch's managers (of that branch or the whole business) and the owners, and no one else", async () => {
  const owner = await aTenant(t.app, 'Stocked Bistro');
  const quayside = await aBranch(t, owner.tenant.id, 'Quayside');
  const oldTown = await aBranch(t, owner.tenant.id, 'Old Town');
  const managerHere = await aMember(t, owner, 'branch_manager', quayside);
  const managerEverywhere = await aMember(t, owner, 'branch_manager', null);
  const managerElsewhere = await aMember(t, owner, 'branch_manager', oldTown);
  const cashierHere = await aMember(t, owner, 'cashier', quayside);
  const accountant = await aMember(t, owner, 'accountant', null);

  const jobId = await t.platform.tenancy.withTenant({ tenantId: owner.tenant.id }, (trx) =>
    lowStockMailJob.later(trx, owner.tenant.id, { branchId: quayside, inventoryItemId: crypto.randomUUID(), onHand: 2, reorderLevel: 5, itemName: 'Oat milk', unit: 'l' }),
  );
  await eventually(async () => (await t.app.inject({ method: 'GET', url: `/ops/api/jobs/mail/${jobId}`, headers: bearer(op) })).json().state === 'completed', 'the alert job');
  const mails = await mailsOfJob(jobId);
  assert.deepEqual(mails.map((m) => m.to).sort(), [owner.user.email, managerHere.user.email, managerEverywhere.user.email].sort());
  for (const nobody of [managerElsewhere, cashierHere, accountant]) assert.ok(!mails.some((m) => m.to === nobody.user.email));
  assert.equal(mails[0]!.subject, 'Low stock at Quayside: Oat milk');
  assert.match(mails[0]!.text, /Oat milk at Quayside is down to 2 l, at or below its reorder level of 5 l/);
});

test('an alert for a branch of another tenant sends nothing', async () => {
  const a = await aTenant(t.app);
  const b = await aTenant(t.app);
  const branchOfB = await aBranch(t, b.tenant.id, 'Not yours');
  const jobId = await t.platform.tenancy.withTenant({ tenantId: a.tenant.id }, (trx) =>
    lowStockMailJob.later(trx, a.tenant.id, { branchId: branchOfB, inventoryItemId: crypto.randomUUID(), onHand: '0', reorderLevel: '3' }),
  );
  await eventually(async () => (await t.app.inject({ method: 'GET', url: `/ops/api/jobs/mail/${jobId}`, headers: bearer(op) })).json().state === 'completed', 'the alert job');
  assert.deepEqual(await mailsOfJob(jobId), []);
});
