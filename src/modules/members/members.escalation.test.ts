import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createTestContext, aTenant, aBranch, aMember, bearer, problem, type TestContext, type Session } from '../../../test/harness.ts';

let t: TestContext;
before(async () => {
  t = await createTestContext();
});
after(() => t.close());

let n = 0;
const email = (who: string) => `${who}+esc${++n}-${Date.now()}@example.com`;

const add = (actor: Session, roles: unknown[]) =>
  t.app.inject({ method: 'POST', url: '/v1/members', headers: bearer(actor), payload: { name: 'New Person', email: email('new'), password: 'correct horse battery', roles } });
const setRoles = (actor: Session, id: string, roles: unknown[]) =>
  t.app.inject({ method: 'PUT', url: `/v1/members/${id}/roles`, headers: bearer(actor), payload: { roles } });
const remove = (actor: Session, id: string) => t.app.inject({ method: 'DELETE', url: `/v1/members/${id}`, headers: bearer(actor) });
const defineRole = (owner: Session, key: string, permissions: string[]) =>
  t.app.inject({ method: 'POST', url: '/v1/roles', headers: bearer(owner), payload: { key, name: key, permissions } });

async function ownersOf(tenantId: string): Promise<string[]> {
  const rows = await t.platform.tenancy.withTenant({ tenantId }, (trx) =>
    trx.selectFrom('role_assignments').select('user_id').where('tenant_id', '=', tenantId).where('role_key', '=', 'owner').execute(),
  );
  return rows.map((r) => r.user_id);
}

function assertForbidden(res: Awaited<ReturnType<typeof add>>, requiredPermission: string, scope: object) {
  assert.equal(res.statusCode, 403, res.body);
  const p = problem(res);
  assert.equal(p.code, 'forbidden');
  assert.equal(p.requiredPermission, requiredPermission);
  assert.deepEqual(p.scope, scope);
  assert.ok(typeof p.detail === 'string' && p.detail.length > 20);
}

async function business() {
  const owner = await aTenant(t.app);
  const a = await aBranch(t, owner.tenant.id, 'A');
  const b = await aBranch(t, owner.tenant.id, 'B');
  const manager = await aMember(t, owner, 'branch_manager', a);
  return { owner, a, b, manager };
}

test('a branch manager adds cashiers to their own branch, using members.manage', async () => {
  const { owner, a, manager } = await business();
  const res = await add(manager, [{ role: 'cashier', branchId: a }]);
  assert.equal(res.statusCode, 201);
  const events = await t.platform.tenancy.withTenant({ tenantId: owner.tenant.id }, (trx) =>
    trx.selectFrom('audit_events').select(['action', 'permission', 'actor_id']).where('action', '=', 'member.created').execute(),
  );
  assert.deepEqual(events, [{ action: 'member.created', permission: 'members.manage', actor_id: manager.user.id }]);
});

test('a branch manager cannot grant the owner role, or any role but cashier', async () => {
  const { a, manager } = await business();
  assertForbidden(await add(manager, [{ role: 'owner' }]), 'roles.manage', { tenant: true });
  assertForbidden(await add(manager, [{ role: 'branch_manager', branchId: a }]), 'roles.manage', { tenant: true });
  assertForbidden(await add(manager, [{ role: 'cashier' }]), 'roles.manage', { tenant: true });
  assertForbidden(await add(manager, [{ role: 'cashier', branchId: a }, { role: 'accountant' }]), 'roles.manage', { tenant: true });
});

test('a branch manager cannot add, change or remove cashiers of another branch', async () => {
  const { owner, a, b, manager } = await business();
  assertForbidden(await add(manager, [{ role: 'cashier', branchId: b }]), 'members.manage', { branchId: b });

  const theirs = await aMember(t, owner, 'cashier', b);
  assert.equal((await setRoles(manager, theirs.user.id, [{ role: 'cashier', branchId: a }])).statusCode, 404);
  assert.equal((await remove(manager, theirs.user.id)).statusCode, 404);

  const mine = await aMember(t, owner, 'cashier', a);
  assertForbidden(await setRoles(manager, mine.user.id, [{ role: 'cashier', branchId: a }, { role: 'cashier', branchId: b }]), 'members.manage', { branchId: b });
  assertForbidden(await setRoles(manager, mine.user.id, [{ role: 'branch_manager', branchId: a }]), 'roles.manage', { tenant: true });

  // A member of both branches is visible, but taking away their other branch is not the manager's to do.
  const both = await aMember(t, owner, 'cashier', a);
  assert.equal((await setRoles(owner, both.user.id, [{ role: 'cashier', branchId: a }, { role: 'cashier', branchId: b }])).statusCode, 200);
  assertForbidden(await remove(manager, both.user.id), 'members.manage', { branchId: b });

  const peer = await aMember(t, owner, 'branch_manager', a);
  assertForbidden(await remove(manager, peer.user.id), 'roles.manage', { tenant: true });

  assert.equal((await setRoles(manager, mine.user.id, [])).statusCode, 200);
  const again = await aMember(t, owner, 'cashier', a);
  assert.equal((await remove(manager, again.user.id)).statusCode, 204);
});

test('nobody changes their own roles or removes themselves', async () => {
  const { owner, a, manager } = await business();
  for (const res of [
    await setRoles(manager, manager.user.id, [{ role: 'branch_manager', branchId: a }, { role: 'owner' }]),
    await setRoles(owner, owner.user.id, [{ role: 'owner' }, { role: 'accountant' }]),
    await remove(owner, owner.user.id),
    await remove(manager, manager.user.id),
  ]) {
    assert.equal(res.statusCode, 403);
    assert.equal(problem(res).code, 'cannot_change_own_roles');
  }
  assert.deepEqual(await ownersOf(owner.tenant.id), [owner.user.id]);
});

test('nobody grants a permission they do not hold, even with roles.manage', async () => {
  const { owner, a } = await business();
  assert.equal((await defineRole(owner, 'people_admin', ['members.read', 'members.manage', 'roles.manage'])).statusCode, 201);
  assert.equal((await defineRole(owner, 'roster_viewer', ['members.read'])).statusCode, 201);
  const admin = await aMember(t, owner, 'people_admin');

  const toOwner = await add(admin, [{ role: 'owner' }]);
  assert.equal(toOwner.statusCode, 403);
  assert.equal(problem(toOwner).code, 'forbidden');
  assert.equal(problem(toOwner).requiredPermission, 'orders.read');

  assertForbidden(await add(admin, [{ role: 'accountant' }]), 'orders.read', { tenant: true });
  assertForbidden(await add(admin, [{ role: 'cashier', branchId: a }]), 'menu.read', { branchId: a });
  assert.equal((await add(admin, [{ role: 'roster_viewer', branchId: a }])).statusCode, 201);

  // Defining a role is held to the same rule.
  const stronger = await t.app.inject({ method: 'POST', url: '/v1/roles', headers: bearer(admin), payload: { key: 'billing_boss', name: 'Billing', permissions: ['billing.manage'] } });
  assertForbidden(stronger, 'billing.manage', { tenant: true });

  // Nor can they take away what they do not hold: the owner keeps the owner role.
  assert.equal((await setRoles(admin, owner.user.id, [])).statusCode, 403);
  assert.equal((await remove(admin, owner.user.id)).statusCode, 403);
  assert.deepEqual(await ownersOf(owner.tenant.id), [owner.user.id]);
});

test('the last owner can be neither demoted nor removed', async () => {
  const { owner } = await business();
  const everything = (await t.app.inject({ method: 'GET', url: '/v1/roles', headers: bearer(owner) })).json().data[0].permissions as string[];
  assert.equal((await defineRole(owner, 'co_owner', everything)).statusCode, 201);
  const deputy = await aMember(t, owner, 'co_owner');

  for (const res of [await setRoles(deputy, owner.user.id, [{ role: 'accountant' }]), await remove(deputy, owner.user.id)]) {
    assert.equal(res.statusCode, 409);
    assert.equal(problem(res).code, 'last_owner');
  }
  // An invited owner who has not joined yet does not count.
  const invited = await t.app.inject({ method: 'POST', url: '/v1/members', headers: bearer(owner), payload: { name: 'Future Owner', email: email('future'), roles: [{ role: 'owner' }] } });
  assert.equal(invited.statusCode, 201);
  assert.equal((await remove(deputy, owner.user.id)).statusCode, 409);

  // With a second active owner, one of them may go.
  const second = await aMember(t, owner, 'owner');
  assert.equal((await setRoles(deputy, owner.user.id, [{ role: 'accountant' }])).statusCode, 200);
  assert.deepEqual((await ownersOf(owner.tenant.id)).sort(), [second.user.id, invited.json().member.id].sort());
});

test('two owners demoting each other at the same time leave one owner', async () => {
  for (let round = 0; round < 5; round++) {
    const first = await aTenant(t.app);
    const second = await aMember(t, first, 'owner');
    const results = await Promise.all([
      round % 2 ? remove(first, second.user.id) : setRoles(first, second.user.id, [{ role: 'accountant' }]),
      round % 2 ? remove(second, first.user.id) : setRoles(second, first.user.id, [{ role: 'accountant' }]),
    ]);
    const codes = results.map((r) => r.statusCode).sort();
    assert.equal(codes.filter((c) => c < 300).length, 1, `round ${round}: ${codes}`);
    assert.ok(results.every((r) => r.statusCode < 300 || r.statusCode === 409 || r.statusCode === 403 || r.statusCode === 401), `round ${round}: ${codes}`);
    assert.equal((await ownersOf(first.tenant.id)).length, 1);
  }
});
