import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createTestContext, aTenant, bearer, problem, type TestContext, type Session } from './harness.ts';
import { fixtures } from './isolation.fixtures.ts';

/**
 * Attacks across tenants, driven by the route table: for every tenant route with an id, tenant
 * B's owner (who holds every permission in B) gets 404 on tenant A's id, and nothing of tenant
 * A changes.
 */
let t: TestContext;
let a: Session;
let b: Session;

before(async () => {
  t = await createTestContext();
  a = await aTenant(t.app, 'Victim');
  b = await aTenant(t.app, 'Attacker');
});
after(() => t.close());

const tenantRoutesWithIds = () =>
  t.app.accessTable.filter((r) => r.url.includes(':') && ('branch' in r.access || 'authenticated' in r.access));

/** A digest of every row tenant A owns, read as the owner role, outside the application. */
async function snapshotOf(tenantId: string): Promise<Record<string, string>> {
  const tables = await t.platform.db.ownerPool.query<{ table_name: string }>(
    `SELECT table_name FROM information_schema.columns WHERE table_schema = 'public' AND column_name = 'tenant_id' ORDER BY 1`,
  );
  const out: Record<string, string> = {};
  for (const { table_name } of tables.rows) {
    const r = await t.platform.db.ownerPool.query(
      `SELECT count(*)::int AS n, md5(coalesce(string_agg(x::text, '|' ORDER BY x::text), '')) AS digest FROM ${table_name} x WHERE tenant_id = $1`,
      [tenantId],
    );
    out[table_name] = `${r.rows[0].n}:${r.rows[0].digest}`;
  }
  return out;
}

test('every tenant route with an id has an isolation fixture', () => {
  const missing = [...new Set(tenantRoutesWithIds().map((r) => r.url))].filter((url) => !fixtures[url]);
  assert.deepEqual(missing, [], `add these to test/isolation.fixtures.ts: ${missing.join(', ')}`);
});

test("tenant B gets 404 on every one of tenant A's ids, and nothing of tenant A changes", async () => {
  const routes = tenantRoutesWithIds().filter((r) => fixtures[r.url]);
  for (const route of routes) {
    const prepared = await fixtures[route.url]!(t, a);
    const url = route.url.replace(/:(\w+)/g, (_, name: string) => {
      const v = prepared.params[name];
      assert.ok(v, `fixture for ${route.url} gives no ${name}`);
      return v;
    });
    // The fixture's own requests are counted for tenant A: written out now, not by the flush
    // timer between the two snapshots (tenant B's request is counted for tenant B).
    await t.platform.signals.flush();
    const before = await snapshotOf(a.tenant.id);
    const body = prepared.bodies?.[route.method as 'POST'];
    const res = await t.app.inject({
      method: route.method as 'GET',
      url,
      headers: bearer(b),
      ...(body !== undefined ? { payload: body as object } : {}),
    });
    assert.equal(res.statusCode, 404, `${route.method} ${route.url} answered ${res.statusCode}: ${res.body}`);
    assert.equal(problem(res).code, 'not_found');
    assert.deepEqual(await snapshotOf(a.tenant.id), before, `${route.method} ${route.url} changed tenant A's rows`);
    // And the owner of A still sees it: the fixture made a real resource.
    if (route.method === 'GET') {
      const own = await t.app.inject({ method: 'GET', url, headers: bearer(a) });
      assert.equal(own.statusCode, 200, `${route.url}: tenant A cannot read its own resource (${own.statusCode})`);
    }
  }
});
