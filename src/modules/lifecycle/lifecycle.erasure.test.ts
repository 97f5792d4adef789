import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createTestContext, aTenant, aMember, bearer, problem, type TestContext } from '../../../test/harness.ts';
import { aCafe, anOrder, as, expectStatus, sqlAsOwner } from '../../../test/hospitality.fixtures.ts';
import { verifyAuditChain } from '../audit/index.ts';

let t: TestContext;
before(async () => {
  t = await createTestContext();
});
after(() => t.close());

/** Every tenant table's rows of the business, as text, to look for a person's data. */
async function everythingOf(tenantId: string): Promise<string> {
  const tables = await sqlAsOwner<{ table_name: string }>(t, `SELECT table_name FROM information_schema.columns WHERE table_schema = 'public' AND column_name = 'tenant_id'`);
  const out: string[] = [];
  for (const { table_name } of tables) {
    const rows = await sqlAsOwner<{ x: string }>(t, `SELECT x::text AS x FROM ${table_name} x WHERE tenant_id = $1`, [tenantId]);
    out.push(...rows.map((r) => r.x));
  }
  return out.join('\n');
}

test('an owner erases a member: name and address pseudonymised everywhere, signed out, orders kept, the audit chain still verifies', async () => {
  const owner = await aTenant(t.app);
  const cafe = await aCafe(t, owner);
  // A member with a distinctive name and address, who made orders and was given roles.
  const created = expectStatus(
    await as(t, owner).post('/v1/members', { name: 'Zelda Quixote', email: 'zelda.quixote@example.com', password: 'correct horse battery', roles: [{ role: 'cashier', branchId: cafe.branchId }] }),
    201,
  ).json().member;
  const login = expectStatus(await t.app.inject({ method: 'POST', url: '/v1/auth/login', payload: { email: 'zelda.quixote@example.com', password: 'correct horse battery' } }), 200).json();
  const order = await anOrder(t, login, cafe.branchId, [{ menuItemId: cafe.latte.id, quantity: 1 }]);
  expectStatus(await as(t, login).post(`/v1/orders/${order.id}/pay`, { method: 'cash', amountMinor: 500 }), 200);
  expectStatus(
    await t.app.inject({ method: 'PUT', url: `/v1/members/${created.id}/roles`, headers: bearer(owner), payload: { roles: [{ role: 'cashier', branchId: cafe.branchId }, { role: 'support' }] } }),
    200,
  );
  assert.ok((await everythingOf(owner.tenant.id)).includes('zelda.quixote@example.com'));
  assert.equal((await verifyAuditChain(t.platform.tenancy, owner.tenant.id)).ok, true);

  const res = await t.app.inject({ method: 'POST', url: `/v1/members/${created.id}/erasure`, headers: bearer(owner) });
  assert.equal(res.statusCode, 200, res.body);
  assert.equal(res.json().erased, true);
  assert.ok(res.json().auditEvents >= 2);

  const all = await everythingOf(owner.tenant.id);
  assert.ok(!all.includes('zelda.quixote@example.com'), 'the address is gone from every table');
  assert.ok(!all.includes('Zelda Quixote'), 'the name is gone from every table');
  // Signed out at once; the order and its payment are still there, still theirs by id.
  assert.equal((await as(t, login).get('/v1/me')).statusCode, 401);
  const kept = expectStatus(await as(t, owner).get(`/v1/orders/${order.id}`), 200).json().order;
  assert.equal(kept.status, 'paid');
  const [row] = await sqlAsOwner<{ created_by: string }>(t, 'SELECT created_by FROM orders WHERE id = $1', [order.id]);
  assert.equal(row!.created_by, created.id);

  const verdict = await verifyAuditChain(t.platform.tenancy, owner.tenant.id);
  assert.equal(verdict.ok, true, verdict.problem?.detail);
  const [erasure] = expectStatus(await as(t, owner).get('/v1/audit-events?action=member.erased'), 200).json().data;
  assert.equal(erasure.actor.userId, owner.user.id);
  assert.equal(erasure.target.id, created.id);

  // Erasing again changes nothing; tampering with a rewritten event is still caught.
  expectStatus(await t.app.inject({ method: 'POST', url: `/v1/members/${created.id}/erasure`, headers: bearer(owner) }), 200);
  const [first] = erasure.changes.erasedEvents as { seq: string }[];
  await sqlAsOwner(t, `UPDATE audit_erasures SET hash = repeat('0', 64) WHERE tenant_id = $1 AND seq = $2`, [owner.tenant.id, first!.seq]);
  const broken = await verifyAuditChain(t.platform.tenancy, owner.tenant.id);
  assert.equal(broken.ok, false);
});

test('only owners erase, never themselves nor another business\'s member', async () => {
  const owner = await aTenant(t.app);
  const stranger = await aTenant(t.app);
  const cashier = await aMember(t, owner, 'cashier');
  const erase = (s: { token: string }, id: string) => t.app.inject({ method: 'POST', url: `/v1/members/${id}/erasure`, headers: bearer(s.token) });
  assert.equal((await erase(cashier, owner.user.id)).statusCode, 403);
  assert.equal((await erase(owner, owner.user.id)).statusCode, 403);
  const foreign = await erase(stranger, cashier.user.id);
  assert.equal(foreign.statusCode, 404);
  assert.equal(problem(foreign).code, 'not_found');
  assert.equal((await as(t, cashier).get('/v1/me')).statusCode, 200);
});
