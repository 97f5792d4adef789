import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { createTestContext, aTenant, aMember, anOperator, bearer, problem, type TestContext, type Session } from '../../../test/harness.ts';
import { verifyAuditChain } from '../audit/index.ts';

let t: TestContext;
let operator: { token: string; email: string };
before(async () => {
  t = await createTestContext();
  operator = await anOperator(t);
});
after(() => t.close());

const grant = (owner: Session, payload: Record<string, unknown>) =>
  t.app.inject({ method: 'POST', url: '/v1/support-grants', headers: bearer(owner), payload });
const opGet = (url: string, token = operator.token) => t.app.inject({ method: 'GET', url, headers: bearer(token) });

test('operators read no tenant data without a grant', async () => {
  const owner = await aTenant(t.app);
  for (const url of [`/ops/api/tenants/${owner.tenant.id}/members`, `/ops/api/tenants/${owner.tenant.id}/audit-events`]) {
    const res = await opGet(url);
    assert.equal(res.statusCode, 403);
    assert.equal(problem(res).code, 'support_grant_required');
  }
  // Nor does a tenant token reach the operations API, or an operator token the tenant API.
  assert.equal((await opGet(`/ops/api/tenants/${owner.tenant.id}/members`, owner.token)).statusCode, 401);
  assert.equal((await opGet('/v1/members')).statusCode, 401);
  assert.equal((await opGet(`/ops/api/tenants/${crypto.randomUUID()}/members`)).statusCode, 403);
  assert.equal((await opGet('/ops/api/tenants/not-a-uuid/members')).statusCode, 400);
});

test('under a grant an operator reads members and the audit log, each access written into the tenant\'s log', async () => {
  const owner = await aTenant(t.app);
  await aMember(t, owner, 'cashier');
  const given = await grant(owner, { reason: 'Ticket 4711: cannot add a cashier', durationMinutes: 60 });
  assert.equal(given.statusCode, 201);
  const { supportGrant } = given.json();
  assert.equal(supportGrant.status, 'active');
  assert.equal(supportGrant.grantedBy.userId, owner.user.id);
  assert.ok(Math.abs(Date.parse(supportGrant.expiresAt) - Date.now() - 3600_000) < 60_000);

  const open = await opGet('/ops/api/support-grants');
  assert.ok(open.json().data.some((g: { id: string; tenant: { id: string } }) => g.id === supportGrant.id && g.tenant.id === owner.tenant.id));

  const members = await opGet(`/ops/api/tenants/${owner.tenant.id}/members`);
  assert.equal(members.statusCode, 200);
  assert.equal(members.json().data.length, 2);
  const log = await opGet(`/ops/api/tenants/${owner.tenant.id}/audit-events?action=support_access.used`);
  assert.equal(log.statusCode, 200);

  const seenByOwner = await t.app.inject({ method: 'GET', url: '/v1/audit-events?action=support_access.used', headers: bearer(owner) });
  const uses = seenByOwner.json().data;
  assert.equal(uses.length, 2);
  assert.deepEqual(uses.map((e: { changes: { resource: string } }) => e.changes.resource), ['audit_events', 'members']);
  for (const e of uses) {
    assert.equal(e.actor.type, 'operator');
    assert.equal(e.actor.userId, null);
    assert.ok(e.actor.operatorId);
    assert.equal(e.actor.name, `operator ${operator.email} under grant ${supportGrant.id}`);
    assert.deepEqual(e.target, { type: 'support_grant', id: supportGrant.id });
  }
  assert.equal((await verifyAuditChain(t.platform.tenancy, owner.tenant.id)).ok, true);
});

test('a revoked grant ends operator access at once', async () => {
  const owner = await aTenant(t.app);
  const { supportGrant } = (await grant(owner, { reason: 'Look into a refund', durationMinutes: 30 })).json();
  assert.equal((await opGet(`/ops/api/tenants/${owner.tenant.id}/members`)).statusCode, 200);
  const revoked = await t.app.inject({ method: 'DELETE', url: `/v1/support-grants/${supportGrant.id}`, headers: bearer(owner) });
  assert.equal(revoked.statusCode, 204);
  assert.equal((await opGet(`/ops/api/tenants/${owner.tenant.id}/members`)).statusCode, 403);

  const list = await t.app.inject({ method: 'GET', url: '/v1/support-grants', headers: bearer(owner) });
  assert.equal(list.json().data[0].status, 'revoked');
  const events = await t.app.inject({ method: 'GET', url: '/v1/audit-events?action=support_access.*', headers: bearer(owner) });
  assert.deepEqual(events.json().data.map((e: { action: string }) => e.action), ['support_access.revoked', 'support_access.used', 'support_access.granted']);
  assert.equal((await t.app.inject({ method: 'DELETE', url: `/v1/support-grants/${crypto.randomUUID()}`, headers: bearer(owner) })).statusCode, 404);
});

test('an expired grant ends operator access at once', async () => {
  const owner = await aTenant(t.app);
  const { supportGrant } = (await grant(owner, { reason: 'Short look', durationMinutes: 5 })).json();
  assert.equal((await opGet(`/ops/api/tenants/${owner.tenant.id}/members`)).statusCode, 200);
  // Let the clock run out, as the database sees it.
  const c = new pg.Client({ connectionString: t.ownerUrl });
  await c.connect();
  await c.query(`UPDATE support_grants SET created_at = now() - interval '2 hours', expires_at = now() - interval '1 second' WHERE id = $1`, [supportGrant.id]);
  await c.end();
  assert.equal((await opGet(`/ops/api/tenants/${owner.tenant.id}/members`)).statusCode, 403);
  const list = await t.app.inject({ method: 'GET', url: '/v1/support-grants', headers: bearer(owner) });
  assert.equal(list.json().data[0].status, 'expired');
});

test('a grant of one business opens no other', async () => {
  const a = await aTenant(t.app);
  const b = await aTenant(t.app);
  assert.equal((await grant(a, { reason: 'A only', durationMinutes: 30 })).statusCode, 201);
  assert.equal((await opGet(`/ops/api/tenants/${a.tenant.id}/members`)).statusCode, 200);
  assert.equal((await opGet(`/ops/api/tenants/${b.tenant.id}/members`)).statusCode, 403);
});

test('only members with settings.manage grant support access, for a bounded time', async () => {
  const owner = await aTenant(t.app);
  for (const role of ['accountant', 'support', 'cashier']) {
    const m = await aMember(t, owner, role);
    const res = await grant(m, { reason: 'Please', durationMinutes: 30 });
    assert.equal(res.statusCode, 403);
    assert.equal(problem(res).requiredPermission, 'settings.manage');
  }
  const bad = [
    { reason: 'Neither' },
    { reason: 'Both', durationMinutes: 5, expiresAt: new Date(Date.now() + 60_000).toISOString() },
    { reason: 'Past', expiresAt: new Date(Date.now() - 60_000).toISOString() },
    { reason: 'Too long', durationMinutes: 60 * 24 * 30 },
    { reason: '', durationMinutes: 5 },
  ];
  for (const payload of bad) assert.equal((await grant(owner, payload)).statusCode, 400, JSON.stringify(payload));
  const until = new Date(Date.now() + 2 * 3600_000).toISOString();
  const ok = await grant(owner, { reason: 'Until the afternoon', expiresAt: until });
  assert.equal(ok.statusCode, 201);
  assert.equal(ok.json().supportGrant.expiresAt, until);
});
