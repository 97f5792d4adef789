import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { sql } from 'kysely';
import { createTestContext, aTenant, aBranch, type TestContext } from '../../../test/harness.ts';
import { compiled } from './compiled.ts';

let t: TestContext;
let a: { tenantId: string; branchId: string; userId: string };
let b: { tenantId: string; branchId: string; userId: string };

before(async () => {
  t = await createTestContext();
  for (const name of ['Compiled A', 'Compiled B']) {
    const s = await aTenant(t.app, name);
    const branchId = await aBranch(t, s.tenant.id, `${name} branch`);
    const who = { tenantId: s.tenant.id, branchId, userId: s.user.id };
    if (name.endsWith('A')) a = who;
    else b = who;
  }
});
after(() => t.close());

const branchNamed = compiled((db, q: { tenantId: string; id: string }) =>
  db.selectFrom('branches').select(['id', 'name']).where('tenant_id', '=', q.tenantId).where('id', '=', q.id).where('archived_at', 'is', null).where('name', '!=', 'never'),
);

test('a compiled query binds each call its own arguments, beside the constants it was built with', async () => {
  for (const who of [a, b, a]) {
    const rows = await t.platform.tenancy.readAsTenant(who, (db) => branchNamed(db, { tenantId: who.tenantId, id: who.branchId }));
    const built = await t.platform.tenancy.readAsTenant(who, (db) =>
      db.selectFrom('branches').select(['id', 'name']).where('tenant_id', '=', who.tenantId).where('id', '=', who.branchId).where('archived_at', 'is', null).where('name', '!=', 'never').execute(),
    );
    assert.equal(rows.length, 1);
    assert.deepEqual(rows, built);
  }
});

test('a compiled query runs under the caller\'s tenant: row-level security still hides another business', async () => {
  // Asked for B's branch while acting as A: nothing, as for a query built in place.
  const rows = await t.platform.tenancy.readAsTenant(a, (db) => branchNamed(db, { tenantId: b.tenantId, id: b.branchId }));
  assert.deepEqual(rows, []);
  // And inside a transaction of withTenant, on that transaction.
  const inTx = await t.platform.tenancy.withTenant(b, async (trx) => {
    await sql`UPDATE branches SET name = 'Renamed in tx' WHERE id = ${b.branchId}`.execute(trx);
    return branchNamed(trx, { tenantId: b.tenantId, id: b.branchId });
  });
  assert.equal(inTx[0]!.name, 'Renamed in tx');
});

test('an argument the query does not bind is refused when it is compiled', async () => {
  const careless = compiled((db, q: { tenantId: string; unused: string }) => db.selectFrom('branches').select('id').where('tenant_id', '=', q.tenantId));
  await assert.rejects(
    t.platform.tenancy.readAsTenant(a, (db) => careless(db, { tenantId: a.tenantId, unused: 'x' })),
    /argument unused is not a parameter/,
  );
});
