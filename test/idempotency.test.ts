import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import pg from 'pg';
import { createTestContext, aTenant, aMember, aBranch, problem, type TestContext, type Session } from './harness.ts';
import { as, aCafe, anOrder, anInventoryItem, aMenuItem, expectStatus, sqlAsOwner } from './hospitality.fixtures.ts';

let t: TestContext;
before(async () => {
  t = await createTestContext();
});
after(() => t.close());

const key = () => `key-${crypto.randomUUID()}`;
const withKey = (k: string) => ({ 'idempotency-key': k });

async function countOrders(session: Session): Promise<number> {
  const rows = await sqlAsOwner<{ n: string }>(t, `SELECT count(*)::text AS n FROM orders WHERE tenant_id = $1`, [session.tenant.id]);
  return Number(rows[0]!.n);
}

test('the same key and body answer with the first response, byte for byte, and create once', async () => {
  const owner = await aTenant(t.app);
  const cafe = await aCafe(t, owner);
  const k = key();
  const body = { branchId: cafe.branchId, lines: [{ menuItemId: cafe.latte.id, quantity: 2 }] };
  const first = await as(t, owner).post('/v1/orders', body, withKey(k));
  assert.equal(first.statusCode, 201);
  // Key order in the body does not matter.
  const second = await as(t, owner).post('/v1/orders', { lines: body.lines, branchId: body.branchId }, withKey(k));
  assert.equal(second.statusCode, 201);
  assert.equal(second.body, first.body);
  assert.equal(second.headers['idempotent-replayed'], 'true');
  assert.match(String(second.headers['content-type']), /^application\/json/);
  assert.equal(await countOrders(owner), 1);
});

test('the same key with another body is 409 idempotency_key_reused and changes nothing', async () => {
  const owner = await aTenant(t.app);
  const cafe = await aCafe(t, owner);
  const k = key();
  expectStatus(await as(t, owner).post('/v1/orders', { branchId: cafe.branchId, lines: [{ menuItemId: cafe.latte.id, quantity: 1 }] }, withKey(k)), 201);
  const other = await as(t, owner).post('/v1/orders', { branchId: cafe.branchId, lines: [{ menuItemId: cafe.latte.id, quantity: 5 }] }, withKey(k));
  assert.equal(other.statusCode, 409);
  assert.equal(problem(other).code, 'idempotency_key_reused');
  // Another endpoint, or another member of the same business, cannot reuse it either.
  const elsewhere = await as(t, owner).post('/v1/branches', { name: 'Reuse' }, withKey(k));
  assert.equal(elsewhere.statusCode, 409);
  const colleague = await aMember(t, owner, 'cashier', cafe.branchId);
  const theirs = await as(t, colleague).post('/v1/orders', { branchId: cafe.branchId, lines: [{ menuItemId: cafe.latte.id, quantity: 1 }] }, withKey(k));
  assert.equal(theirs.statusCode, 409);
  assert.equal(problem(theirs).code, 'idempotency_key_reused');
  assert.equal(await countOrders(owner), 1);
  // Another business has its own keys.
  const stranger = await aTenant(t.app);
  const cafe2 = await aCafe(t, stranger);
  expectStatus(await as(t, stranger).post('/v1/orders', { branchId: cafe2.branchId, lines: [{ menuItemId: cafe2.latte.id, quantity: 1 }] }, withKey(k)), 201);
});

test('a duplicate arriving while the first is still running is 409 idempotency_key_in_use', async () => {
  const owner = await aTenant(t.app);
  const cafe = await aCafe(t, owner);
  const body = { branchId: cafe.branchId, lines: [{ menuItemId: cafe.latte.id, quantity: 1 }] };
  const k = key();
  expectStatus(await as(t, owner).post('/v1/orders', body, withKey(k)), 201);
  // A request holding the key is one whose transaction holds the key's advisory lock.
  const running = k + '-running';
  const holder = new pg.Client({ connectionString: t.ownerUrl });
  await holder.connect();
  try {
    await holder.query(`SELECT pg_advisory_lock(hashtextextended($1, 0))`, [`idem:${owner.tenant.id}:${running}`]);
    const dup = await as(t, owner).post('/v1/orders', body, withKey(running));
    assert.equal(dup.statusCode, 409);
    assert.equal(problem(dup).code, 'idempotency_key_in_use');
    assert.equal(dup.headers['retry-after'], '1');
    assert.equal(await countOrders(owner), 1);
  } finally {
    await holder.end();
  }
  // Once it is gone (its transaction ended without committing), the key runs once.
  expectStatus(await as(t, owner).post('/v1/orders', body, withKey(running)), 201);
  assert.equal(await countOrders(owner), 2);

  // Truly concurrent duplicates: exactly one order, every answer the first one or "in use".
  const k2 = key();
  const burst = await Promise.all(Array.from({ length: 6 }, () => as(t, owner).post('/v1/orders', body, withKey(k2))));
  const created = burst.filter((r) => r.statusCode === 201);
  assert.ok(created.length >= 1);
  assert.ok(created.every((r) => r.body === created[0]!.body));
  assert.ok(burst.every((r) => r.statusCode === 201 || problem(r).code === 'idempotency_key_in_use'));
  assert.equal(await countOrders(owner), 3);
});

test('a key expires after 24 hours; an abandoned claim may be retried once stale', async () => {
  const owner = await aTenant(t.app);
  const cafe = await aCafe(t, owner);
  const k = key();
  const row = async () => (await sqlAsOwner<{ ttl: string }>(t, `SELECT extract(epoch FROM expires_at - created_at)::int::text AS ttl FROM idempotency_keys WHERE tenant_id = $1 AND key = $2`, [owner.tenant.id, k]))[0];
  expectStatus(await as(t, owner).post('/v1/orders', { branchId: cafe.branchId, lines: [{ menuItemId: cafe.latte.id, quantity: 1 }] }, withKey(k)), 201);
  assert.equal((await row())!.ttl, String(24 * 3600));
  await sqlAsOwner(t, `UPDATE idempotency_keys SET expires_at = now() - interval '1 second' WHERE tenant_id = $1 AND key = $2`, [owner.tenant.id, k]);
  expectStatus(await as(t, owner).post('/v1/orders', { branchId: cafe.branchId, lines: [{ menuItemId: cafe.latte.id, quantity: 3 }] }, withKey(k)), 201);
  assert.equal(await countOrders(owner), 2);

  const k2 = key();
  const body = { branchId: cafe.branchId, lines: [{ menuItemId: cafe.latte.id, quantity: 1 }] };
  expectStatus(await as(t, owner).post('/v1/orders', body, withKey(k2)), 201);
  await sqlAsOwner(t, `UPDATE idempotency_keys SET status_code = NULL, response_body = NULL, created_at = now() - interval '10 minutes' WHERE tenant_id = $1 AND key = $2`, [
    owner.tenant.id,
    k2,
  ]);
  // The first attempt never answered (its process died, say): after the stale window the same
  // request runs again rather than being stuck on "in use" for a day.
  expectStatus(await as(t, owner).post('/v1/orders', body, withKey(k2)), 201);
  assert.equal(await countOrders(owner), 4);
  assert.equal(expectStatus(await as(t, owner).post('/v1/orders', body, withKey(k2)), 201).headers['idempotent-replayed'], 'true');
});

test('refused requests do not use up a key; business refusals are kept and replayed', async () => {
  const owner = await aTenant(t.app);
  const cafe = await aCafe(t, owner, { beans: 5, milk: 0.1 });
  const k = key();
  const invalid = await as(t, owner).post('/v1/orders', { branchId: cafe.branchId, lines: [] }, withKey(k));
  assert.equal(invalid.statusCode, 400);
  const cashierElsewhere = await aMember(t, owner, 'cashier', await aBranch(t, owner.tenant.id, 'Far'));
  assert.equal((await as(t, cashierElsewhere).post('/v1/orders', { branchId: cafe.branchId, lines: [{ menuItemId: cafe.latte.id, quantity: 1 }] }, withKey(k))).statusCode, 403);
  const order = await anOrder(t, owner, cafe.branchId, [{ menuItemId: cafe.latte.id, quantity: 1 }]);
  const pay = { method: 'card', amountMinor: 350 };
  const short = await as(t, owner).post(`/v1/orders/${order.id}/pay`, pay, withKey(k));
  assert.equal(short.statusCode, 409);
  assert.equal(problem(short).code, 'insufficient_stock');
  const replay = await as(t, owner).post(`/v1/orders/${order.id}/pay`, pay, withKey(k));
  assert.equal(replay.statusCode, 409);
  assert.equal(replay.body, short.body);
  assert.match(String(replay.headers['content-type']), /^application\/problem\+json/);

  const bad = await as(t, owner).post('/v1/branches', { name: 'X' }, withKey('x'.repeat(256)));
  assert.equal(bad.statusCode, 400);
  assert.deepEqual(problem(bad).errors, [{ path: 'headers.idempotency-key', message: 'must be 1 to 255 printable ASCII characters' }]);
});

test('every creating POST of the hospitality API honours the key', async () => {
  const owner = await aTenant(t.app);
  const cafe = await aCafe(t, owner);
  const flour = await anInventoryItem(t, owner, { name: 'Flour' });
  const order = await anOrder(t, owner, cafe.branchId, [{ menuItemId: cafe.latte.id, quantity: 1 }]);
  const cases: [string, unknown, string][] = [
    ['/v1/branches', { name: 'Keyed branch' }, `SELECT count(*) FROM branches WHERE tenant_id = $1`],
    ['/v1/menu-items', { name: 'Keyed dish', priceMinor: 100 }, `SELECT count(*) FROM menu_items WHERE tenant_id = $1`],
    ['/v1/inventory-items', { name: 'Keyed stock', unit: 'kg', reorderLevel: 0 }, `SELECT count(*) FROM inventory_items WHERE tenant_id = $1`],
    [`/v1/inventory-items/${flour.id}/adjustments`, { branchId: cafe.branchId, quantityDelta: 1, reason: 'keyed' }, `SELECT count(*) FROM stock_movements WHERE tenant_id = $1`],
    ['/v1/orders', { branchId: cafe.branchId, lines: [{ menuItemId: cafe.latte.id, quantity: 1 }] }, `SELECT count(*) FROM orders WHERE tenant_id = $1`],
    [`/v1/orders/${order.id}/pay`, { method: 'cash', amountMinor: 1000 }, `SELECT count(*) FROM payments WHERE tenant_id = $1`],
  ];
  for (const [url, body, count] of cases) {
    const k = key();
    const n = async () => Number((await sqlAsOwner<{ count: string }>(t, count, [owner.tenant.id]))[0]!.count);
    const before = await n();
    const first = await as(t, owner).post(url, body, withKey(k));
    assert.ok(first.statusCode === 201 || first.statusCode === 200, `${url}: ${first.body}`);
    const again = await as(t, owner).post(url, body, withKey(k));
    assert.equal(again.statusCode, first.statusCode, url);
    assert.equal(again.body, first.body, url);
    assert.equal(await n(), before + 1, url);
  }
});

test('without a key, a retried POST creates again (the key is what makes retries safe)', async () => {
  const owner = await aTenant(t.app);
  await aMenuItem(t, owner, { name: 'Once' });
  const again = await as(t, owner).post('/v1/menu-items', { name: 'Twice', priceMinor: 1 });
  assert.equal(again.statusCode, 201);
  const rows = await sqlAsOwner(t, `SELECT 1 FROM idempotency_keys WHERE tenant_id = $1`, [owner.tenant.id]);
  assert.equal(rows.length, 0);
});

test('the other creating POSTs opt in by the same flag: members, roles, support grants', async () => {
  const owner = await aTenant(t.app);
  const cases: [string, unknown, string][] = [
    ['/v1/members', { name: 'Keyed Member', email: `keyed+${crypto.randomBytes(3).toString('hex')}@example.com`, password: 'correct horse battery', roles: [{ role: 'support' }] }, `SELECT count(*) FROM users WHERE tenant_id = $1`],
    ['/v1/roles', { key: 'keyed_role', name: 'Keyed', permissions: ['orders.read'] }, `SELECT count(*) FROM custom_roles WHERE tenant_id = $1`],
    ['/v1/support-grants', { reason: 'keyed', durationMinutes: 30 }, `SELECT count(*) FROM support_grants WHERE tenant_id = $1`],
  ];
  for (const [url, body, count] of cases) {
    const k = key();
    const n = async () => Number((await sqlAsOwner<{ count: string }>(t, count, [owner.tenant.id]))[0]!.count);
    const before = await n();
    const first = expectStatus(await as(t, owner).post(url, body, withKey(k)), 201);
    const again = await as(t, owner).post(url, body, withKey(k));
    assert.equal(again.statusCode, 201, url);
    assert.equal(again.body, first.body, url);
    assert.equal(await n(), before + 1, url);
  }
});
