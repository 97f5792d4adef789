import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createTestContext, aTenant, aBranch, aMember, bearer, problem, type TestContext, type Session } from '../../../test/harness.ts';
import { issueInvitationLink } from './index.ts';

let t: TestContext;
before(async () => {
  t = await createTestContext();
});
after(() => t.close());

const PASSWORD = 'correct horse battery';
let n = 0;
const email = (who: string) => `${who}+${++n}-${Date.now()}@example.com`;

async function addMember(actor: Session, body: Record<string, unknown>) {
  return t.app.inject({ method: 'POST', url: '/v1/members', headers: bearer(actor), payload: body });
}

async function login(address: string, password = PASSWORD) {
  return t.app.inject({ method: 'POST', url: '/v1/auth/login', payload: { email: address, password } });
}

async function auditActions(tenantId: string) {
  return t.platform.tenancy.withTenant({ tenantId }, (trx) =>
    trx.selectFrom('audit_events').select(['action', 'permission', 'target_id', 'changes', 'actor_id']).where('tenant_id', '=', tenantId).orderBy('seq').execute(),
  );
}

test('an owner adds a member with a password, who can log in at once with the roles given', async () => {
  const owner = await aTenant(t.app);
  const branch = await aBranch(t, owner.tenant.id);
  const address = email('cashier');
  const res = await addMember(owner, { name: 'Cass Cashier', email: address.toUpperCase(), password: PASSWORD, roles: [{ role: 'cashier', branchId: branch }] });
  assert.equal(res.statusCode, 201);
  const { member } = res.json();
  assert.equal(member.email, address);
  assert.equal(member.userId, member.id);
  assert.equal(member.status, 'active');
  assert.deepEqual(member.roles, [{ role: 'cashier', branchId: branch }]);

  const session = await login(address);
  assert.equal(session.statusCode, 200);
  const me = await t.app.inject({ method: 'GET', url: '/v1/me', headers: bearer(session.json().token) });
  assert.deepEqual(me.json().roles, [{ role: 'cashier', branchId: branch }]);

  const events = await auditActions(owner.tenant.id);
  const created = events.find((e) => e.action === 'member.created')!;
  assert.equal(created.permission, 'members.manage');
  assert.equal(created.target_id, member.id);
  assert.equal(created.actor_id, owner.user.id);
  assert.deepEqual((created.changes as { after: { roles: unknown } }).after.roles, [{ role: 'cashier', branchId: branch }]);
});

test('a member added without a password is invited by e-mail and joins by accepting the invitation', async () => {
  const owner = await aTenant(t.app);
  const address = email('accountant');
  const res = await addMember(owner, { name: 'Ava Accountant', email: address, roles: [{ role: 'accountant' }] });
  assert.equal(res.statusCode, 201);
  const { member } = res.json();
  assert.equal(member.status, 'invited');
  assert.equal((await login(address, 'anything at all')).statusCode, 401);

  const mails = await t.platform.tenancy.withTenant({ tenantId: owner.tenant.id }, (trx) =>
    trx.selectFrom('outbox').select(['type', 'payload']).where('tenant_id', '=', owner.tenant.id).where('type', '=', 'mail.invitation').execute(),
  );
  assert.equal(mails.length, 1);
  const payload = mails[0]!.payload as Record<string, string>;
  assert.deepEqual(Object.keys(payload).sort(), ['invitationId', 'invitedBy', 'tenantId', 'userId']);
  assert.equal(payload.userId, member.id);
  assert.equal(payload.invitedBy, owner.user.id);

  // What the mail job does when it sends: issue the link. Issuing again retires the first link.
  const issue = () => t.platform.tenancy.withTenant({ tenantId: owner.tenant.id }, (trx) => issueInvitationLink(trx, t.platform.config, owner.tenant.id, payload.invitationId!));
  const first = (await issue())!;
  const link = (await issue())!;
  assert.match(link.url, /\/accept-invitation\?token=inv_/);
  assert.equal(new URL(link.url).searchParams.get('token'), link.token);
  const stale = await t.app.inject({ method: 'POST', url: '/v1/invitations/accept', payload: { token: first.token, password: 'my own password' } });
  assert.equal(stale.statusCode, 404);

  const accepted = await t.app.inject({ method: 'POST', url: '/v1/invitations/accept', payload: { token: link.token, password: 'my own password', name: 'Ava A.' } });
  assert.equal(accepted.statusCode, 200);
  assert.equal(accepted.json().tenant.id, owner.tenant.id);
  const me = await t.app.inject({ method: 'GET', url: '/v1/me', headers: bearer(accepted.json().token) });
  assert.equal(me.json().user.name, 'Ava A.');
  assert.deepEqual(me.json().roles, [{ role: 'accountant', branchId: null }]);
  assert.equal((await login(address, 'my own password')).statusCode, 200);

  const again = await t.app.inject({ method: 'POST', url: '/v1/invitations/accept', payload: { token: link.token, password: 'another password' } });
  assert.equal(again.statusCode, 404);
  assert.equal((await login(address, 'another password')).statusCode, 401);
  const actions = (await auditActions(owner.tenant.id)).map((e) => e.action);
  assert.ok(actions.includes('member.invited') && actions.includes('member.invitation_accepted'));
  assert.equal(await issue(), null, 'an accepted invitation issues no more links');
});

test('removing an invited member withdraws the invitation', async () => {
  const owner = await aTenant(t.app);
  const res = await addMember(owner, { name: 'Ivy', email: email('ivy'), roles: [{ role: 'support' }] });
  const { member } = res.json();
  const invitationId = await t.platform.tenancy.withTenant({ tenantId: owner.tenant.id }, async (trx) =>
    (await trx.selectFrom('invitations').select('id').where('tenant_id', '=', owner.tenant.id).where('user_id', '=', member.id).executeTakeFirstOrThrow()).id,
  );
  const link = (await t.platform.tenancy.withTenant({ tenantId: owner.tenant.id }, (trx) => issueInvitationLink(trx, t.platform.config, owner.tenant.id, invitationId)))!;
  assert.equal((await t.app.inject({ method: 'DELETE', url: `/v1/members/${member.id}`, headers: bearer(owner) })).statusCode, 204);
  const accepted = await t.app.inject({ method: 'POST', url: '/v1/invitations/accept', payload: { token: link.token, password: 'my own password' } });
  assert.equal(accepted.statusCode, 404);
  assert.equal(problem(accepted).code, 'not_found');
});

test('an address already in the business is a conflict; a removed member can be added again', async () => {
  const owner = await aTenant(t.app);
  const address = email('support');
  const first = await addMember(owner, { name: 'Sam', email: address, password: PASSWORD, roles: [{ role: 'support' }] });
  assert.equal(first.statusCode, 201);
  const dup = await addMember(owner, { name: 'Sam again', email: address, password: PASSWORD, roles: [{ role: 'support' }] });
  assert.equal(dup.statusCode, 409);
  assert.equal(problem(dup).code, 'already_exists');

  const id = first.json().member.id;
  assert.equal((await t.app.inject({ method: 'DELETE', url: `/v1/members/${id}`, headers: bearer(owner) })).statusCode, 204);
  const back = await addMember(owner, { name: 'Sam returns', email: address, password: 'a new password', roles: [{ role: 'accountant' }] });
  assert.equal(back.statusCode, 201);
  assert.equal(back.json().member.id, id);
  assert.deepEqual(back.json().member.roles, [{ role: 'accountant', branchId: null }]);
  assert.equal((await login(address, 'a new password')).statusCode, 200);
});

test('unknown roles, a branch of another business and a branch-scoped owner are refused with 400', async () => {
  const owner = await aTenant(t.app);
  const other = await aTenant(t.app);
  const foreignBranch = await aBranch(t, other.tenant.id);
  const ownBranch = await aBranch(t, owner.tenant.id);
  const cases = [
    { roles: [{ role: 'emperor' }], path: 'roles.0.role' },
    { roles: [{ role: 'cashier', branchId: foreignBranch }], path: 'roles.0.branchId' },
    { roles: [{ role: 'owner', branchId: ownBranch }], path: 'roles.0.branchId' },
  ];
  for (const c of cases) {
    const res = await addMember(owner, { name: 'X', email: email('x'), password: PASSWORD, roles: c.roles });
    assert.equal(res.statusCode, 400, JSON.stringify(c));
    assert.deepEqual((problem(res).errors as { path: string }[]).map((e) => e.path), [c.path]);
  }
  const tenantId = await addMember(owner, { name: 'X', email: email('x'), password: PASSWORD, roles: [{ role: 'cashier' }], tenantId: other.tenant.id });
  assert.equal(tenantId.statusCode, 400);
});

test('a branch manager lists only the members of their branch, page by page', async () => {
  const owner = await aTenant(t.app);
  const a = await aBranch(t, owner.tenant.id, 'A');
  const b = await aBranch(t, owner.tenant.id, 'B');
  const manager = await aMember(t, owner, 'branch_manager', a);
  for (let i = 0; i < 3; i++) await aMember(t, owner, 'cashier', a);
  await aMember(t, owner, 'cashier', b);
  await aMember(t, owner, 'accountant');

  const seen: { roles: { branchId: string | null }[] }[] = [];
  let cursor: string | null = null;
  let pages = 0;
  do {
    const url: string = `/v1/members?limit=2${cursor ? `&cursor=${cursor}` : ''}`;
    const res = await t.app.inject({ method: 'GET', url, headers: bearer(manager) });
    assert.equal(res.statusCode, 200);
    seen.push(...res.json().data);
    cursor = res.json().nextCursor;
    pages++;
  } while (cursor);
  assert.equal(seen.length, 4); // the manager and three cashiers of A
  assert.equal(pages, 2);
  assert.ok(seen.every((m) => m.roles.some((r) => r.branchId === a)));

  const all = await t.app.inject({ method: 'GET', url: '/v1/members?limit=200', headers: bearer(owner) });
  assert.equal(all.json().data.length, 7);
  assert.equal(all.json().nextCursor, null);

  const bad = await t.app.inject({ method: 'GET', url: '/v1/members?cursor=not-a-cursor', headers: bearer(owner) });
  assert.equal(bad.statusCode, 400);
  const tooMany = await t.app.inject({ method: 'GET', url: '/v1/members?limit=201', headers: bearer(owner) });
  assert.equal(tooMany.statusCode, 400);
});

test('a role change takes effect on the very next request', async () => {
  const owner = await aTenant(t.app);
  const branch = await aBranch(t, owner.tenant.id);
  const cashier = await aMember(t, owner, 'cashier', branch);
  const before = await t.app.inject({ method: 'GET', url: '/v1/members', headers: bearer(cashier) });
  assert.equal(before.statusCode, 403);

  const promoted = await t.app.inject({
    method: 'PUT',
    url: `/v1/members/${cashier.user.id}/roles`,
    headers: bearer(owner),
    payload: { roles: [{ role: 'branch_manager', branchId: branch }] },
  });
  assert.equal(promoted.statusCode, 200);
  assert.deepEqual(promoted.json().member.roles, [{ role: 'branch_manager', branchId: branch }]);
  const after = await t.app.inject({ method: 'GET', url: '/v1/members', headers: bearer(cashier) });
  assert.equal(after.statusCode, 200);

  const event = (await auditActions(owner.tenant.id)).find((e) => e.action === 'member.roles_changed')!;
  assert.equal(event.permission, 'roles.manage');
  assert.deepEqual(event.changes, {
    before: { roles: [{ role: 'cashier', branchId: branch }] },
    after: { roles: [{ role: 'branch_manager', branchId: branch }] },
    added: [{ role: 'branch_manager', branchId: branch }],
    removed: [{ role: 'cashier', branchId: branch }],
  });
});

test('a removed member\'s tokens die at once, and the removal is audited', async () => {
  const owner = await aTenant(t.app);
  const accountant = await aMember(t, owner, 'accountant');
  const second = await login(accountant.user.email);
  assert.equal((await t.app.inject({ method: 'GET', url: '/v1/me', headers: bearer(accountant) })).statusCode, 200);
  const res = await t.app.inject({ method: 'DELETE', url: `/v1/members/${accountant.user.id}`, headers: bearer(owner) });
  assert.equal(res.statusCode, 204);
  for (const token of [accountant.token, second.json().token]) {
    assert.equal((await t.app.inject({ method: 'GET', url: '/v1/me', headers: bearer(token) })).statusCode, 401);
  }
  assert.equal((await login(accountant.user.email)).statusCode, 401);
  const listed = await t.app.inject({ method: 'GET', url: '/v1/members?status=removed', headers: bearer(owner) });
  assert.deepEqual(listed.json().data.map((m: { id: string }) => m.id), [accountant.user.id]);
  const event = (await auditActions(owner.tenant.id)).find((e) => e.action === 'member.removed')!;
  assert.equal(event.target_id, accountant.user.id);
  assert.deepEqual((event.changes as { before: { roles: unknown } }).before.roles, [{ role: 'accountant', branchId: null }]);
  assert.equal((await t.app.inject({ method: 'DELETE', url: `/v1/members/${accountant.user.id}`, headers: bearer(owner) })).statusCode, 404);
});

test('a member of another business is not found', async () => {
  const a = await aTenant(t.app);
  const b = await aTenant(t.app);
  const theirs = await aMember(t, b, 'support');
  for (const req of [
    { method: 'GET' as const, url: `/v1/members/${theirs.user.id}` },
    { method: 'PUT' as const, url: `/v1/members/${theirs.user.id}/roles`, payload: { roles: [] } },
    { method: 'DELETE' as const, url: `/v1/members/${theirs.user.id}` },
  ]) {
    const res = await t.app.inject({ ...req, headers: bearer(a) });
    assert.equal(res.statusCode, 404, req.method);
  }
  assert.equal((await t.app.inject({ method: 'GET', url: '/v1/me', headers: bearer(theirs) })).statusCode, 200);
});

test('roles list system and custom roles; a custom role is built from catalogue permissions', async () => {
  const owner = await aTenant(t.app);
  const created = await t.app.inject({
    method: 'POST',
    url: '/v1/roles',
    headers: bearer(owner),
    payload: { key: 'shift_lead', name: 'Shift lead', description: 'Runs a shift', permissions: ['orders.void', 'orders.read', 'orders.refund'] },
  });
  assert.equal(created.statusCode, 201);
  assert.deepEqual(created.json(), { key: 'shift_lead', name: 'Shift lead', description: 'Runs a shift', permissions: ['orders.read', 'orders.refund', 'orders.void'], system: false });

  const dup = await t.app.inject({ method: 'POST', url: '/v1/roles', headers: bearer(owner), payload: { key: 'shift_lead', name: 'Again', permissions: ['orders.read'] } });
  assert.equal(dup.statusCode, 409);
  const clash = await t.app.inject({ method: 'POST', url: '/v1/roles', headers: bearer(owner), payload: { key: 'cashier', name: 'Mine', permissions: ['orders.read'] } });
  assert.equal(clash.statusCode, 409);
  const unknown = await t.app.inject({ method: 'POST', url: '/v1/roles', headers: bearer(owner), payload: { key: 'wizard', name: 'Wizard', permissions: ['orders.read', 'magic.cast'] } });
  assert.equal(unknown.statusCode, 400);
  assert.equal((problem(unknown).errors as { path: string }[])[0]!.path, 'permissions.1');

  const list = await t.app.inject({ method: 'GET', url: '/v1/roles?limit=3', headers: bearer(owner) });
  assert.deepEqual(list.json().data.map((r: { key: string }) => r.key), ['owner', 'branch_manager', 'accountant']);
  const rest = await t.app.inject({ method: 'GET', url: `/v1/roles?cursor=${list.json().nextCursor}`, headers: bearer(owner) });
  assert.deepEqual(rest.json().data.map((r: { key: string; system: boolean }) => [r.key, r.system]), [['cashier', true], ['support', true], ['shift_lead', false]]);

  // The custom role works as a grant at once, branch-scoped.
  const branch = await aBranch(t, owner.tenant.id);
  const lead = await aMember(t, owner, 'shift_lead', branch);
  const me = await t.app.inject({ method: 'GET', url: '/v1/me', headers: bearer(lead) });
  assert.deepEqual(me.json().permissions, [
    { permission: 'orders.read', branchId: branch },
    // orders.read includes the open orders.
    { permission: 'orders.read_open', branchId: branch },
    { permission: 'orders.refund', branchId: branch },
    { permission: 'orders.void', branchId: branch },
  ]);
  const events = await auditActions(owner.tenant.id);
  assert.ok(events.some((e) => e.action === 'role.created' && e.permission === 'roles.manage' && e.target_id === 'shift_lead'));
});

async function invitationIdsOf(tenantId: string, userId: string) {
  return t.platform.tenancy.withTenant({ tenantId }, async (trx) =>
    (await trx.selectFrom('invitations').select('id').where('tenant_id', '=', tenantId).where('user_id', '=', userId).orderBy('created_at').execute()).map((r) => r.id),
  );
}

test('an invitation can be sent again: a new link, the old one dead, and a limit per member per hour', async () => {
  const owner = await aTenant(t.app);
  const member = (await addMember(owner, { name: 'Late Larry', email: email('larry'), roles: [{ role: 'accountant' }] })).json().member;
  const [firstId] = await invitationIdsOf(owner.tenant.id, member.id);
  const link = (id: string) => t.platform.tenancy.withTenant({ tenantId: owner.tenant.id }, (trx) => issueInvitationLink(trx, t.platform.config, owner.tenant.id, id));
  const old = (await link(firstId!))!;

  const again = await t.app.inject({ method: 'POST', url: `/v1/members/${member.id}/invitation`, headers: bearer(owner) });
  assert.equal(again.statusCode, 202, again.body);
  assert.equal(again.json().invitation.sendsLeftThisHour, 1);
  const ids = await invitationIdsOf(owner.tenant.id, member.id);
  assert.equal(ids.length, 2);
  // The old link is dead at once; the new invitation's link works.
  const stale = await t.app.inject({ method: 'POST', url: '/v1/invitations/accept', payload: { token: old.token, password: 'my own password' } });
  assert.equal(stale.statusCode, 404);
  assert.equal(await link(firstId!), null);
  const mails = await t.platform.tenancy.withSystem('test', (trx) =>
    trx.selectFrom('outbox').select('payload').where('tenant_id', '=', owner.tenant.id).where('type', '=', 'mail.invitation').execute(),
  );
  assert.deepEqual(mails.map((m) => (m.payload as { invitationId: string }).invitationId), ids);

  assert.equal((await t.app.inject({ method: 'POST', url: `/v1/members/${member.id}/invitation`, headers: bearer(owner) })).statusCode, 202);
  const limited = await t.app.inject({ method: 'POST', url: `/v1/members/${member.id}/invitation`, headers: bearer(owner) });
  assert.equal(limited.statusCode, 429);
  assert.equal(problem(limited).code, 'rate_limited');
  assert.ok(Number(limited.headers['retry-after']) > 0);
  assert.equal((await invitationIdsOf(owner.tenant.id, member.id)).length, 3, 'the refused re-send changed nothing');

  const fresh = (await link(ids[1]!)) ?? (await link((await invitationIdsOf(owner.tenant.id, member.id))[2]!));
  const accepted = await t.app.inject({ method: 'POST', url: '/v1/invitations/accept', payload: { token: fresh!.token, password: 'my own password' } });
  assert.equal(accepted.statusCode, 200, accepted.body);
  const done = await t.app.inject({ method: 'POST', url: `/v1/members/${member.id}/invitation`, headers: bearer(owner) });
  assert.equal(problem(done).code, 'invalid_state');
  assert.ok((await auditActions(owner.tenant.id)).some((a) => a.action === 'member.invitation_resent' && a.target_id === member.id));
});

test('a custom role can be changed, its holders get the change at once, and it is audited', async () => {
  const owner = await aTenant(t.app);
  const branch = await aBranch(t, owner.tenant.id);
  assert.equal((await t.app.inject({ method: 'POST', url: '/v1/roles', headers: bearer(owner), payload: { key: 'host', name: 'Host', permissions: ['menu.read'] } })).statusCode, 201);
  const host = await aMember(t, owner, 'host', branch);
  assert.equal((await t.app.inject({ method: 'GET', url: '/v1/orders', headers: bearer(host) })).statusCode, 403);
  const res = await t.app.inject({ method: 'PATCH', url: '/v1/roles/host', headers: bearer(owner), payload: { name: 'Front of house', permissions: ['menu.read', 'orders.read'] } });
  assert.equal(res.statusCode, 200, res.body);
  assert.deepEqual(res.json(), { key: 'host', name: 'Front of house', description: '', permissions: ['orders.read', 'menu.read'], system: false });
  assert.equal((await t.app.inject({ method: 'GET', url: '/v1/orders', headers: bearer(host) })).statusCode, 200);
  const audit = (await auditActions(owner.tenant.id)).find((a) => a.action === 'role.updated');
  assert.deepEqual((audit!.changes as { permissionsAdded: string[] }).permissionsAdded, ['orders.read']);

  const system = await t.app.inject({ method: 'PATCH', url: '/v1/roles/cashier', headers: bearer(owner), payload: { name: 'Till' } });
  assert.equal(problem(system).code, 'invalid_state');
  const missing = await t.app.inject({ method: 'PATCH', url: '/v1/roles/nobody_here', headers: bearer(owner), payload: { name: 'X' } });
  assert.equal(missing.statusCode, 404);
  const empty = await t.app.inject({ method: 'PATCH', url: '/v1/roles/host', headers: bearer(owner), payload: {} });
  assert.equal(empty.statusCode, 400);
  // Nobody grants more than they hold: a branch-level people admin cannot widen the role.
  const manager = await aMember(t, owner, 'branch_manager', branch);
  assert.equal((await t.app.inject({ method: 'PATCH', url: '/v1/roles/host', headers: bearer(manager), payload: { permissions: ['billing.manage'] } })).statusCode, 403);
  // Nor change a role stronger than themselves: a roles admin without billing.manage cannot touch a billing role.
  assert.equal((await t.app.inject({ method: 'POST', url: '/v1/roles', headers: bearer(owner), payload: { key: 'roles_admin', name: 'Roles admin', permissions: ['roles.manage', 'members.read', 'members.manage', 'menu.read'] } })).statusCode, 201);
  assert.equal((await t.app.inject({ method: 'POST', url: '/v1/roles', headers: bearer(owner), payload: { key: 'treasurer', name: 'Treasurer', permissions: ['billing.manage'] } })).statusCode, 201);
  const admin = await aMember(t, owner, 'roles_admin');
  const stronger = await t.app.inject({ method: 'PATCH', url: '/v1/roles/treasurer', headers: bearer(admin), payload: { permissions: ['menu.read'] } });
  assert.equal(stronger.statusCode, 403);
  assert.equal(problem(stronger).requiredPermission, 'billing.manage');
  assert.equal((await t.app.inject({ method: 'POST', url: '/v1/roles', headers: bearer(owner), payload: { key: 'greeter', name: 'Greeter', permissions: ['menu.read'] } })).statusCode, 201);
  assert.equal((await t.app.inject({ method: 'PATCH', url: '/v1/roles/greeter', headers: bearer(admin), payload: { permissions: ['menu.read', 'members.read'] } })).statusCode, 200);
});

test('a custom role is deleted only when nobody holds it; deletion is audited', async () => {
  const owner = await aTenant(t.app);
  assert.equal((await t.app.inject({ method: 'POST', url: '/v1/roles', headers: bearer(owner), payload: { key: 'barista', name: 'Barista', permissions: ['menu.read'] } })).statusCode, 201);
  const barista = await aMember(t, owner, 'barista');
  const held = await t.app.inject({ method: 'DELETE', url: '/v1/roles/barista', headers: bearer(owner) });
  assert.equal(held.statusCode, 409);
  assert.equal(problem(held).code, 'role_in_use');
  assert.equal(problem(held).holders, 1);
  assert.equal((await t.app.inject({ method: 'PUT', url: `/v1/members/${barista.user.id}/roles`, headers: bearer(owner), payload: { roles: [{ role: 'support' }] } })).statusCode, 200);
  assert.equal((await t.app.inject({ method: 'DELETE', url: '/v1/roles/barista', headers: bearer(owner) })).statusCode, 204);
  const roles = (await t.app.inject({ method: 'GET', url: '/v1/roles?limit=200', headers: bearer(owner) })).json();
  assert.ok(!roles.data.some((r: { key: string }) => r.key === 'barista'));
  assert.equal((await t.app.inject({ method: 'DELETE', url: '/v1/roles/barista', headers: bearer(owner) })).statusCode, 404);
  assert.equal(problem(await t.app.inject({ method: 'DELETE', url: '/v1/roles/owner', headers: bearer(owner) })).code, 'invalid_state');
  // A deleted role cannot be given any more.
  const give = await t.app.inject({ method: 'PUT', url: `/v1/members/${barista.user.id}/roles`, headers: bearer(owner), payload: { roles: [{ role: 'barista' }] } });
  assert.equal(give.statusCode, 400);
  assert.ok((await auditActions(owner.tenant.id)).some((a) => a.action === 'role.deleted' && a.target_id === 'barista'));
});
