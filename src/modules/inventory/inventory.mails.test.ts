import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createJobsTestContext, aTenant, aBranch, aMember, bearer, eventually, type TestContext, type Session } from '../../../test/harness.ts';

let t: TestContext;
let op: string;
before(async () => {
  const ctx = await createJobsTestContext();
  t = ctx;
  op = ctx.operatorToken;
});
after(() => t.close());

const post = (who: Session, url: string, payload: object) => t.app.inject({ method: 'POST', url, headers: bearer(who), payload });
const caught = async () =>
  (await t.app.inject({ method: 'GET', url: '/ops/api/mails?limit=200', headers: bearer(op) })).json().data as { to: string; subject: string; text: string; jobId: string }[];

test("stock falling below its reorder level mails the branch's managers (of that branch or the whole business) and the owners, and no one else", async () => {
  const owner = await aTenant(t.app, 'Stocked Bistro');
  const quayside = await aBranch(t, owner.tenant.id, 'Quayside');
  const oldTown = await aBranch(t, owner.tenant.id, 'Old Town');
  const managerHere = await aMember(t, owner, 'branch_manager', quayside);
  const managerEverywhere = await aMember(t, owner, 'branch_manager', null);
  const managerElsewhere = await aMember(t, owner, 'branch_manager', oldTown);
  const cashierHere = await aMember(t, owner, 'cashier', quayside);
  const accountant = await aMember(t, owner, 'accountant', null);

  const item = (await post(owner, '/v1/inventory-items', { name: 'Oat milk', unit: 'l', reorderLevel: 5 })).json().inventoryItem;
  assert.equal((await post(owner, `/v1/inventory-items/${item.id}/adjustments`, { branchId: quayside, quantityDelta: 8, reason: 'delivery', kind: 'delivery' })).statusCode, 201);
  assert.equal((await post(owner, `/v1/inventory-items/${item.id}/adjustments`, { branchId: quayside, quantityDelta: -6, reason: 'spilt' })).statusCode, 201);

  const expected = [owner.user.email, managerHere.user.email, managerEverywhere.user.email].sort();
  const mails = await eventually(async () => {
    const found = (await caught()).filter((m) => m.subject === 'Low stock at Quayside: Oat milk');
    return found.length >= expected.length ? found : null;
  }, 'the low-stock mails');
  assert.deepEqual(mails.map((m) => m.to).sort(), expected);
  for (const nobody of [managerElsewhere, cashierHere, accountant]) assert.ok(!mails.some((m) => m.to === nobody.user.email), nobody.user.email);
  assert.match(mails[0]!.text, /Oat milk at Quayside is down to 2 l, at or below its reorder level of 5 l/);
  assert.equal(new Set(mails.map((m) => m.jobId)).size, 1, 'one job, one mail per recipient');
});
