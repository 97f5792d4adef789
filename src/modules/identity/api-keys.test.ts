import crypto from 'node:crypto';
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createTestContext, aTenant, aBranch, aMember, bearer, problem, type TestContext, type Session } from '../../../test/harness.ts';
import { as, aCafe, anOrder, expectStatus, sqlAsOwner } from '../../../test/hospitality.fixtures.ts';
import { verifyAuditChain } from '../audit/index.ts';

let t: TestContext;
before(async () => {
  t = await createTestContext();
});
after(() => t.close());

const createKey = (s: Session, payload: Record<string, unknown>) => t.app.inject({ method: 'POST', url: '/v1/api-keys', headers: bearer(s), payload });
const listKeys = (s: Session) => t.app.inject({ method: 'GET', url: '/v1/api-keys', headers: bearer(s) });
const revokeKey = (s: Session, id: string) => t.app.inject({ method: 'DELETE', url: `/v1/api-keys/${id}`, headers: bearer(s) });
/** The key as a caller: same shape as a person's session, its secret as the bearer. */
const asKey = (owner: Session, secret: string): Session => ({ ...owner, token: secret });
async function aKey(owner: Session, payload: Record<string, unknown>) {
  const res = expectStatus(await createKey(owner, { name: 'Till 1', ...payload }), 201);
  return res.json() as { apiKey: { id: string; status: string; lastUsedAt: string | null; hint: string }; secret: string };
}
const auditOf = async (owner: Session, query: string) =>
  expectStatus(await t.app.inject({ method: 'GET', url: `/v1/audit-events?${query}`, headers: bearer(owner) }), 200).json().data as {
    action: string;
    actor: { type: string; apiKeyId: string | null; userId: string | null; name: string };
    changes: Record<string, unknown>;
  }[];

test('an owner creates a key: the secret is shown once and only its hash is stored', async () => {
  const owner = await aTenant(t.app);
  const res = await createKey(owner, { name: 'Accounting export', permissions: ['orders.read', 'reports.view'] });
  assert.equal(res.statusCode, 201);
  const { apiKey, secret } = res.json();
  assert.match(secret, /^bky_[A-Za-z0-9_-]{40,}$/);
  assert.equal(apiKey.status, 'active');
  assert.deepEqual(apiKey.permissions, ['orders.read', 'reports.view']);
  assert.equal(apiKey.createdBy.userId, owner.user.id);
  assert.equal(apiKey.expiresAt, null);
  assert.equal(apiKey.lastUsedAt, null);
  assert.ok(secret.startsWith(apiKey.hint));

  const listed = expectStatus(await listKeys(owner), 200).json();
  assert.deepEqual(listed.data.map((k: { id: string }) => k.id), [apiKey.id]);
  assert.ok(!JSON.stringify(listed).includes(secret));
  const [row] = await sqlAsOwner<{ token_hash: string }>(t, 'SELECT token_hash FROM api_keys WHERE id = $1', [apiKey.id]);
  assert.equal(row!.token_hash, crypto.createHash('sha256').update(secret).digest('hex'));
  const leaks = await sqlAsOwner(t, 'SELECT 1 FROM api_keys k WHERE k::text LIKE $1 UNION ALL SELECT 1 FROM audit_events a WHERE a::text LIKE $1', [`%${secret}%`]);
  assert.equal(leaks.length, 0);

  const [created] = await auditOf(owner, 'action=api_key.created');
  assert.equal(created!.actor.type, 'user');
  assert.equal(created!.actor.userId, owner.user.id);
});

test('a key with orders.read reads orders but cannot create one, and what it does is audited as the key', async () => {
  const owner = await aTenant(t.app);
  const cafe = await aCafe(t, owner);
  await anOrder(t, owner, cafe.branchId, [{ menuItemId: cafe.latte.id, quantity: 1 }]);
  const { apiKey, secret } = await aKey(owner, { name: 'Till reader', permissions: ['orders.read'] });
  const key = as(t, asKey(owner, secret));

  const read = expectStatus(await key.get('/v1/orders'), 200);
  assert.equal(read.json().data.length, 1);
  const refused = await key.post('/v1/orders', { branchId: cafe.branchId, lines: [{ menuItemId: cafe.latte.id, quantity: 1 }] });
  assert.equal(refused.statusCode, 403);
  assert.equal(problem(refused).requiredPermission, 'orders.create');
  assert.equal(expectStatus(await as(t, owner).get('/v1/orders'), 200).json().data.length, 1);
  // Nor does a key reach the operations API.
  assert.equal((await key.get('/ops/api/tenants')).statusCode, 401);

  // Uses are gathered in memory, not written per request; listing the keys writes them.
  const [before] = await sqlAsOwner<{ last_used_at: Date | null }>(t, 'SELECT last_used_at FROM api_keys WHERE id = $1', [apiKey.id]);
  assert.equal(before!.last_used_at, null);
  const listed = expectStatus(await listKeys(owner), 200).json().data[0];
  assert.ok(listed.lastUsedAt && Math.abs(Date.parse(listed.lastUsedAt) - Date.now()) < 60_000);

  const [summary, ...more] = await auditOf(owner, 'action=api_key.requests');
  assert.equal(more.length, 0);
  assert.equal(summary!.actor.type, 'api_key');
  assert.equal(summary!.actor.apiKeyId, apiKey.id);
  assert.equal(summary!.actor.userId, null);
  assert.equal(summary!.actor.name, 'API key Till reader');
  // The refused ops call never had a key scope (operators only): it is not the key's request.
  assert.deepEqual(summary!.changes.requests, { 'GET /v1/orders 200': 1, 'POST /v1/orders 403': 1 });
  assert.equal((await verifyAuditChain(t.platform.tenancy, owner.tenant.id)).ok, true);
});

test('a change made with a key is audited as the key, not as the person who made it', async () => {
  const owner = await aTenant(t.app);
  const cafe = await aCafe(t, owner);
  const order = await anOrder(t, owner, cafe.branchId, [{ menuItemId: cafe.latte.id, quantity: 1 }]);
  expectStatus(await as(t, owner).post(`/v1/orders/${order.id}/pay`, { method: 'card', amountMinor: order.totalMinor }), 200);
  const { apiKey, secret } = await aKey(owner, { name: 'Accounting', role: 'branch_manager', branchId: cafe.branchId });
  expectStatus(await as(t, asKey(owner, secret)).post(`/v1/orders/${order.id}/refund`, { reason: 'Refund booked in accounting' }), 200);
  const [refund] = await auditOf(owner, 'action=order.refunded');
  assert.equal(refund!.actor.type, 'api_key');
  assert.equal(refund!.actor.apiKeyId, apiKey.id);
  assert.equal(refund!.actor.name, 'API key Accounting');
  assert.equal((await verifyAuditChain(t.platform.tenancy, owner.tenant.id)).ok, true);
});

test('a key for one branch acts in that branch only', async () => {
  const owner = await aTenant(t.app);
  const here = await aCafe(t, owner);
  const there = await aCafe(t, owner);
  const { secret } = await aKey(owner, { permissions: ['orders.read', 'orders.create'], branchId: here.branchId });
  const key = as(t, asKey(owner, secret));
  expectStatus(await key.post('/v1/orders', { branchId: here.branchId, lines: [{ menuItemId: here.latte.id, quantity: 1 }] }), 201);
  const elsewhere = await key.post('/v1/orders', { branchId: there.branchId, lines: [{ menuItemId: there.latte.id, quantity: 1 }] });
  assert.equal(elsewhere.statusCode, 403);
  assert.deepEqual(problem(elsewhere).scope, { branchId: there.branchId });
});

test('a key never holds more than its creator, then or later', async () => {
  const owner = await aTenant(t.app);
  await t.platform.tenancy.withTenant({ tenantId: owner.tenant.id }, (trx) =>
    trx.insertInto('custom_roles').values({ tenant_id: owner.tenant.id, key: 'integrator', name: 'Integrator', description: 'Connects tools', permissions: ['settings.manage', 'orders.read', 'menu.read'] }).execute(),
  );
  const integrator = await aMember(t, owner, 'integrator');
  const beyond = await createKey(integrator, { name: 'Too much', permissions: ['orders.read', 'orders.refund'] });
  assert.equal(beyond.statusCode, 403);
  assert.match(String(problem(beyond).detail), /orders\.refund/);
  const asOwnerRole = await createKey(integrator, { name: 'Owner key', role: 'owner' });
  assert.equal(asOwnerRole.statusCode, 403);
  const none = expectStatus(await listKeys(owner), 200).json().data;
  assert.equal(none.length, 0);

  const { secret } = await aKey(integrator, { name: 'Menu sync', permissions: ['orders.read', 'menu.read'] });
  const key = as(t, asKey(owner, secret));
  expectStatus(await key.get('/v1/menu-items'), 200);
  // The creator loses menu.read: so does the key, at once.
  await t.platform.tenancy.withTenant({ tenantId: owner.tenant.id }, (trx) =>
    trx.updateTable('custom_roles').set({ permissions: ['settings.manage', 'orders.read'] }).where('tenant_id', '=', owner.tenant.id).where('key', '=', 'integrator').execute(),
  );
  assert.equal((await key.get('/v1/menu-items')).statusCode, 403);
  expectStatus(await key.get('/v1/orders'), 200);
  // The creator leaves the business: the key stops working.
  expectStatus(await as(t, owner).delete(`/v1/members/${integrator.user.id}`), 204);
  assert.equal((await key.get('/v1/orders')).statusCode, 401);
});

test('people without settings.manage cannot manage keys, and keys cannot make keys', async () => {
  const owner = await aTenant(t.app);
  const manager = await aMember(t, owner, 'branch_manager', await aBranch(t, owner.tenant.id));
  assert.equal((await createKey(manager, { name: 'x', permissions: ['orders.read'] })).statusCode, 403);
  assert.equal((await listKeys(manager)).statusCode, 403);
  const { apiKey, secret } = await aKey(owner, { role: 'owner' });
  const key = asKey(owner, secret);
  const made = await createKey(key, { name: 'Child', permissions: ['orders.read'] });
  assert.equal(made.statusCode, 403);
  assert.equal((await revokeKey(key, apiKey.id)).statusCode, 403);
  assert.equal((await t.app.inject({ method: 'POST', url: '/v1/auth/logout', headers: bearer(key) })).statusCode, 403);
  assert.equal(expectStatus(await listKeys(owner), 200).json().data.length, 1);
});

test('a revoked key is refused at once and an expired key is 401 like a dead session', async () => {
  const owner = await aTenant(t.app);
  const { apiKey, secret } = await aKey(owner, { permissions: ['orders.read'] });
  const key = as(t, asKey(owner, secret));
  expectStatus(await key.get('/v1/orders'), 200);
  assert.equal((await revokeKey(owner, apiKey.id)).statusCode, 204);
  const refused = await key.get('/v1/orders');
  assert.equal(refused.statusCode, 401);
  assert.equal(problem(refused).code, 'unauthenticated');
  assert.equal(refused.headers['www-authenticate'], 'Bearer');
  assert.equal((await revokeKey(owner, apiKey.id)).statusCode, 204);
  const revoked = expectStatus(await listKeys(owner), 200).json().data[0];
  assert.equal(revoked.status, 'revoked');
  assert.equal((await auditOf(owner, 'action=api_key.revoked')).length, 1);

  const soon = new Date(Date.now() + 3600_000).toISOString();
  const expiring = await aKey(owner, { permissions: ['orders.read'], expiresAt: soon });
  assert.equal(expiring.apiKey.status, 'active');
  // The database's clock decides expiry: move the key's expiry behind it.
  await sqlAsOwner(t, `UPDATE api_keys SET expires_at = now() - interval '1 second' WHERE id = $1`, [expiring.apiKey.id]);
  const expired = await as(t, asKey(owner, expiring.secret)).get('/v1/orders');
  assert.equal(expired.statusCode, 401);
  assert.equal(problem(expired).code, 'unauthenticated');
  const statuses = expectStatus(await listKeys(owner), 200).json().data.map((k: { status: string }) => k.status);
  assert.deepEqual(statuses, ['expired', 'revoked']);
  assert.equal((await as(t, asKey(owner, `bky_${'x'.repeat(43)}`)).get('/v1/orders')).statusCode, 401);
});

test('another business neither sees nor revokes a key', async () => {
  const owner = await aTenant(t.app);
  const stranger = await aTenant(t.app);
  const { apiKey, secret } = await aKey(owner, { permissions: ['orders.read'] });
  assert.equal(expectStatus(await listKeys(stranger), 200).json().data.length, 0);
  const res = await revokeKey(stranger, apiKey.id);
  assert.equal(res.statusCode, 404);
  expectStatus(await as(t, asKey(owner, secret)).get('/v1/orders'), 200);
  // The key's bearer is its own business's, whoever holds it.
  assert.equal((await as(t, asKey(stranger, secret)).get('/v1/me')).json().tenant.id, owner.tenant.id);
});

test('bad input is 400 naming the field and creates nothing', async () => {
  const owner = await aTenant(t.app);
  const otherBranch = await aBranch(t, (await aTenant(t.app)).tenant.id);
  const branch = await aBranch(t, owner.tenant.id);
  const cases: [Record<string, unknown>, string][] = [
    [{ name: 'k' }, 'role'],
    [{ name: 'k', role: 'cashier', permissions: ['orders.read'] }, 'role'],
    [{ name: 'k', role: 'no_such_role' }, 'role'],
    [{ name: 'k', permissions: ['orders.fly'] }, 'permissions.0'],
    [{ name: 'k', permissions: ['orders.read'], branchId: otherBranch }, 'branchId'],
    [{ name: 'k', permissions: ['billing.read'], branchId: branch }, 'permissions'],
    [{ name: 'k', permissions: ['orders.read'], expiresAt: new Date(Date.now() - 1000).toISOString() }, 'expiresAt'],
    [{ name: '', permissions: ['orders.read'] }, 'name'],
    [{ name: 'k', permissions: ['orders.read'], secret: 'mine' }, 'secret'],
  ];
  for (const [payload, path] of cases) {
    const res = await createKey(owner, payload);
    assert.equal(res.statusCode, 400, JSON.stringify(payload));
    const p = problem(res);
    assert.equal(p.code, 'validation_failed');
    assert.ok((p.errors as { path: string }[]).some((e) => e.path === path), `${JSON.stringify(payload)}: ${JSON.stringify(p.errors)}`);
  }
  assert.equal(expectStatus(await listKeys(owner), 200).json().data.length, 0);
  assert.equal((await auditOf(owner, 'action=api_key.created')).length, 0);
});
