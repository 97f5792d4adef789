import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createTestContext, aTenant, aMember, problem, type TestContext } from '../../../test/harness.ts';
import { as, expectStatus, sqlAsOwner, aCafe, anOrder } from '../../../test/hospitality.fixtures.ts';

let t: TestContext;
before(async () => {
  t = await createTestContext();
});
after(() => t.close());

test('an owner opens a branch, in the business time zone unless told otherwise', async () => {
  const owner = await aTenant(t.app);
  const res = await as(t, owner).post('/v1/branches', { name: 'Quayside', address: '1 Harbour Road' });
  assert.equal(res.statusCode, 201);
  const { branch } = res.json();
  assert.equal(branch.name, 'Quayside');
  assert.equal(branch.address, '1 Harbour Road');
  assert.equal(branch.timezone, 'UTC');
  assert.equal(branch.archivedAt, null);
  const lisbon = expectStatus(await as(t, owner).post('/v1/branches', { name: 'Lisbon', timezone: 'Europe/Lisbon' }), 201).json().branch;
  assert.equal(lisbon.timezone, 'Europe/Lisbon');
  const bad = await as(t, owner).post('/v1/branches', { name: 'Nowhere', timezone: 'Mars/Olympus' });
  assert.equal(bad.statusCode, 400);
  assert.deepEqual(problem(bad).errors, [{ path: 'timezone', message: 'is not an IANA time zone' }]);
  const dup = await as(t, owner).post('/v1/branches', { name: 'quayside' });
  assert.equal(dup.statusCode, 409);
  assert.equal(problem(dup).code, 'already_exists');
  const audit = await sqlAsOwner<{ action: string; permission: string }>(t, `SELECT action, permission FROM audit_events WHERE tenant_id = $1 AND target_type = 'branch'`, [owner.tenant.id]);
  assert.deepEqual(audit, [
    { action: 'branch.opened', permission: 'branches.manage' },
    { action: 'branch.opened', permission: 'branches.manage' },
  ]);
});

test('a branch is renamed and moved; branch managers may not manage branches', async () => {
  const owner = await aTenant(t.app);
  const branch = expectStatus(await as(t, owner).post('/v1/branches', { name: 'Old name' }), 201).json().branch;
  const res = await as(t, owner).patch(`/v1/branches/${branch.id}`, { name: 'New name', address: null, timezone: 'Europe/London' });
  assert.equal(res.statusCode, 200);
  assert.deepEqual({ ...res.json().branch, createdAt: undefined }, { ...branch, createdAt: undefined, name: 'New name', timezone: 'Europe/London' });
  const empty = await as(t, owner).patch(`/v1/branches/${branch.id}`, {});
  assert.equal(empty.statusCode, 400);
  const manager = await aMember(t, owner, 'branch_manager', branch.id);
  const denied = await as(t, manager).patch(`/v1/branches/${branch.id}`, { name: 'Mine' });
  assert.equal(denied.statusCode, 403);
  assert.equal(problem(denied).requiredPermission, 'branches.manage');
  assert.deepEqual(problem(denied).scope, { tenant: true });
  const open = await as(t, manager).post('/v1/branches', { name: 'Another' });
  assert.equal(open.statusCode, 403);
});

test('branch-scoped members see only their branches', async () => {
  const owner = await aTenant(t.app);
  const a = expectStatus(await as(t, owner).post('/v1/branches', { name: 'A' }), 201).json().branch;
  const b = expectStatus(await as(t, owner).post('/v1/branches', { name: 'B' }), 201).json().branch;
  const cashier = await aMember(t, owner, 'cashier', a.id);
  const list = expectStatus(await as(t, cashier).get('/v1/branches'), 200).json();
  assert.deepEqual(list.data.map((x: { id: string }) => x.id), [a.id]);
  expectStatus(await as(t, cashier).get(`/v1/branches/${a.id}`), 200);
  assert.equal((await as(t, cashier).get(`/v1/branches/${b.id}`)).statusCode, 403);
  const all = expectStatus(await as(t, owner).get('/v1/branches?limit=1'), 200).json();
  assert.equal(all.data.length, 1);
  const rest = expectStatus(await as(t, owner).get(`/v1/branches?limit=1&cursor=${all.nextCursor}`), 200).json();
  assert.deepEqual([...all.data, ...rest.data].map((x: { id: string }) => x.id), [a.id, b.id]);
});

test('closing a branch deletes it when it has no history and archives it when it has', async () => {
  const owner = await aTenant(t.app);
  const empty = expectStatus(await as(t, owner).post('/v1/branches', { name: 'Pop-up' }), 201).json().branch;
  const gone = await as(t, owner).delete(`/v1/branches/${empty.id}`);
  assert.equal(gone.statusCode, 204);
  assert.equal((await as(t, owner).get(`/v1/branches/${empty.id}`)).statusCode, 404);

  const cafe = await aCafe(t, owner);
  await anOrder(t, owner, cafe.branchId, [{ menuItemId: cafe.latte.id, quantity: 1 }]);
  const closed = await as(t, owner).delete(`/v1/branches/${cafe.branchId}`);
  assert.equal(closed.statusCode, 200);
  assert.ok(closed.json().branch.archivedAt);
  assert.deepEqual(expectStatus(await as(t, owner).get('/v1/branches'), 200).json().data, []);
  const withArchived = expectStatus(await as(t, owner).get('/v1/branches?includeArchived=true'), 200).json();
  assert.deepEqual(withArchived.data.map((b: { id: string }) => b.id), [cafe.branchId]);
  const again = await as(t, owner).delete(`/v1/branches/${cafe.branchId}`);
  assert.equal(again.statusCode, 200);

  // A branch with members is history too.
  const staffed = expectStatus(await as(t, owner).post('/v1/branches', { name: 'Staffed' }), 201).json().branch;
  await aMember(t, owner, 'cashier', staffed.id);
  assert.equal((await as(t, owner).delete(`/v1/branches/${staffed.id}`)).statusCode, 200);
  const actions = await sqlAsOwner<{ action: string }>(t, `SELECT action FROM audit_events WHERE tenant_id = $1 AND action LIKE 'branch.%' AND action <> 'branch.opened' ORDER BY seq`, [owner.tenant.id]);
  assert.deepEqual(actions.map((a) => a.action), ['branch.deleted', 'branch.archived', 'branch.archived']);
});

test("another business's branches are not found", async () => {
  const a = await aTenant(t.app);
  const b = await aTenant(t.app);
  const branch = expectStatus(await as(t, a).post('/v1/branches', { name: 'Secret' }), 201).json().branch;
  for (const res of [
    await as(t, b).get(`/v1/branches/${branch.id}`),
    await as(t, b).patch(`/v1/branches/${branch.id}`, { name: 'Taken' }),
    await as(t, b).delete(`/v1/branches/${branch.id}`),
  ]) {
    assert.equal(res.statusCode, 404);
    assert.equal(problem(res).code, 'not_found');
  }
  assert.equal(expectStatus(await as(t, a).get(`/v1/branches/${branch.id}`), 200).json().branch.name, 'Secret');
  assert.deepEqual(expectStatus(await as(t, b).get('/v1/branches'), 200).json().data, []);
});
