import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import pg from 'pg';
import { createTestContext, aTenant, type TestContext, type Session } from './harness.ts';

/**
 * The database holds the tenant line on its own: these tests talk to PostgreSQL as the runtime
 * role, outside the application, and walk the catalogue so a new table is covered unasked.
 */
let t: TestContext;
let a: Session;
let b: Session;

before(async () => {
  t = await createTestContext();
  a = await aTenant(t.app, 'Tenant A');
  b = await aTenant(t.app, 'Tenant B');
});
after(() => t.close());

/** Tables with a tenant_id column, split by whether the runtime role may touch them at all. */
async function tablesWithTenantId(): Promise<{ table_name: string; runtime_access: boolean }[]> {
  const r = await t.platform.db.ownerPool.query<{ table_name: string; runtime_access: boolean }>(
    `
    SELECT c.table_name,
           has_table_privilege($1, format('public.%I', c.table_name), 'SELECT,INSERT,UPDATE,DELETE') AS runtime_access
    FROM information_schema.columns c
    JOIN information_schema.tables tb ON tb.table_name = c.table_name AND tb.table_schema = c.table_schema
    WHERE c.table_schema = 'public' AND c.column_name = 'tenant_id' AND tb.table_type = 'BASE TABLE'
    ORDER BY 1`,
    [t.platform.db.runtimeRole],
  );
  return r.rows;
}

/**
 * Tenant tables: every table with tenant_id the runtime role can reach (platform tables that
 * merely name a tenant, such as the webhook inbox, grant it nothing; see the test below).
 */
async function tenantTables(): Promise<string[]> {
  const rows = await tablesWithTenantId();
  return ['tenants', ...rows.filter((r) => r.runtime_access).map((r) => r.table_name)].sort();
}

async function asRuntime<T>(fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
  const c = await t.platform.db.runtimePool.connect();
  try {
    return await fn(c);
  } finally {
    c.release();
  }
}

test('every table with tenant_id has FORCE row-level security and a tenant policy for the runtime role', async () => {
  const tables = await tenantTables();
  assert.ok(tables.length >= 10, `found only ${tables.length} tenant tables`);
  const r = await t.platform.db.ownerPool.query<{ relname: string; relrowsecurity: boolean; relforcerowsecurity: boolean; policies: string[] }>(`
    SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity,
           coalesce(array_agg(p.polname) FILTER (WHERE p.polname IS NOT NULL), '{}') AS policies
    FROM pg_class c LEFT JOIN pg_policy p ON p.polrelid = c.oid
    WHERE c.relname = ANY($1) AND c.relnamespace = 'public'::regnamespace
    GROUP BY 1, 2, 3`, [tables]);
  for (const table of tables) {
    const row = r.rows.find((x) => x.relname === table);
    assert.ok(row, `${table} not found`);
    assert.ok(row.relrowsecurity, `${table} has row-level security disabled`);
    assert.ok(row.relforcerowsecurity, `${table} does not FORCE row-level security`);
    assert.ok(row.policies.includes('tenant_isolation'), `${table} has no tenant_isolation policy`);
  }
});

test('a table with tenant_id that has no row-level security grants the runtime role nothing', async () => {
  const r = await t.platform.db.ownerPool.query<{ relname: string; relrowsecurity: boolean }>(
    `SELECT relname, relrowsecurity FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relkind = 'r'`,
  );
  const secured = new Set(r.rows.filter((x) => x.relrowsecurity).map((x) => x.relname));
  for (const table of await tablesWithTenantId()) {
    if (secured.has(table.table_name)) continue;
    assert.equal(table.runtime_access, false, `${table.table_name} names tenants without row-level security, yet the runtime role can reach it`);
    await assert.rejects(asRuntime((c) => c.query(`SELECT 1 FROM ${table.table_name} LIMIT 1`)), /permission denied/, table.table_name);
  }
});

test('the runtime role cannot bypass row-level security and owns nothing', async () => {
  const r = await t.platform.db.ownerPool.query(
    `SELECT rolsuper, rolbypassrls, rolcreaterole, rolcreatedb,
            (SELECT count(*) FROM pg_class WHERE relowner = r.oid)::int AS owned
     FROM pg_roles r WHERE rolname = $1`,
    [t.platform.db.runtimeRole],
  );
  assert.deepEqual(r.rows[0], { rolsuper: false, rolbypassrls: false, rolcreaterole: false, rolcreatedb: false, owned: 0 });
});

describe('without a tenant context the runtime role', () => {
  test('reads no row of any tenant table', async () => {
    for (const table of await tenantTables()) {
      const count = await asRuntime(async (c) => (await c.query(`SELECT count(*)::int AS n FROM ${table}`)).rows[0].n);
      assert.equal(count, 0, `${table} leaked ${count} rows without a tenant context`);
    }
  });

  test('cannot read the platform tables at all', async () => {
    for (const table of ['operators', 'operator_sessions', 'brigade_settings']) {
      await assert.rejects(asRuntime((c) => c.query(`SELECT * FROM ${table}`)), /permission denied/, table);
    }
  });
});

describe('inside tenant A context the runtime role', () => {
  test('sees only tenant A rows in every tenant table', async () => {
    for (const table of await tenantTables()) {
      const column = table === 'tenants' ? 'id' : 'tenant_id';
      const foreign = await t.platform.tenancy.withTenant({ tenantId: a.tenant.id }, async (trx) => {
        const r = await trx.selectFrom(table as 'users').select((eb) => eb.fn.countAll<string>().as('n')).where(column as 'tenant_id', '!=', a.tenant.id).executeTakeFirstOrThrow();
        return Number(r.n);
      });
      assert.equal(foreign, 0, `${table} shows other tenants' rows`);
    }
  });

  test('cannot write a row carrying tenant B id', async () => {
    await assert.rejects(
      t.platform.tenancy.withTenant({ tenantId: a.tenant.id }, (trx) =>
        trx.insertInto('branches').values({ tenant_id: b.tenant.id, name: 'Smuggled', timezone: 'UTC' }).execute(),
      ),
      /row-level security/,
    );
    await assert.rejects(
      t.platform.tenancy.withTenant({ tenantId: a.tenant.id }, (trx) =>
        trx.insertInto('users').values({ tenant_id: b.tenant.id, email: 'x@example.com', name: 'X' }).execute(),
      ),
      /row-level security/,
    );
  });

  test('cannot move its own row into tenant B', async () => {
    await assert.rejects(
      t.platform.tenancy.withTenant({ tenantId: a.tenant.id }, (trx) =>
        trx.updateTable('users').set({ tenant_id: b.tenant.id }).where('tenant_id', '=', a.tenant.id).execute(),
      ),
      /row-level security|violates foreign key/,
    );
  });

  test('cannot update or delete tenant B rows (they are invisible)', async () => {
    const changed = await t.platform.tenancy.withTenant({ tenantId: a.tenant.id }, async (trx) => {
      const u = await trx.updateTable('users').set({ name: 'hijacked' }).where('tenant_id', '=', b.tenant.id).executeTakeFirst();
      const d = await trx.deleteFrom('sessions').where('tenant_id', '=', b.tenant.id).executeTakeFirst();
      return Number(u.numUpdatedRows) + Number(d.numDeletedRows);
    });
    assert.equal(changed, 0);
  });
});

test('a pooled connection never carries one tenant into the next transaction', async () => {
  // One connection, so the second transaction surely reuses the first one's session.
  const c = await t.platform.db.runtimePool.connect();
  try {
    await c.query('BEGIN');
    await c.query(`SELECT set_config('app.tenant_id', $1, true)`, [a.tenant.id]);
    assert.equal((await c.query('SELECT count(*)::int AS n FROM users')).rows[0].n, 1);
    await c.query('COMMIT');
    assert.equal((await c.query('SELECT count(*)::int AS n FROM users')).rows[0].n, 0);
  } finally {
    c.release();
  }
});

test('withTenant refuses a tenant id that is not a UUID', async () => {
  await assert.rejects(t.platform.tenancy.withTenant({ tenantId: `${crypto.randomUUID()}'; DROP TABLE users; --` }, async () => 1), /tenant UUID/);
});

describe('readAsTenant', () => {
  test('reads only the tenant rows in one statement', async () => {
    const rows = await t.platform.tenancy.readAsTenant({ tenantId: a.tenant.id }, (db) => db.selectFrom('users').select(['tenant_id']).execute());
    assert.ok(rows.length > 0);
    assert.ok(rows.every((r) => r.tenant_id === a.tenant.id));
  });

  test('refuses a second statement, which would run outside the context', async () => {
    await assert.rejects(
      t.platform.tenancy.readAsTenant({ tenantId: a.tenant.id }, async (db) => {
        await db.selectFrom('users').select('id').execute();
        return db.selectFrom('users').select('id').execute();
      }),
      /one statement/,
    );
  });

  test('is read-only: a write is refused by PostgreSQL and changes nothing', async () => {
    const before = await t.platform.tenancy.readAsTenant({ tenantId: a.tenant.id }, (db) => db.selectFrom('users').select(['id', 'name']).orderBy('id').execute());
    await assert.rejects(
      t.platform.tenancy.readAsTenant({ tenantId: a.tenant.id }, (db) => db.updateTable('users').set({ name: 'Changed by a read' }).execute()),
      (err: { code?: string }) => err.code === '25006',
    );
    const after = await t.platform.tenancy.readAsTenant({ tenantId: a.tenant.id }, (db) => db.selectFrom('users').select(['id', 'name']).orderBy('id').execute());
    assert.deepEqual(after, before);
  });

  test('leaves no context behind on the pooled connection', async () => {
    await t.platform.tenancy.readAsTenant({ tenantId: a.tenant.id }, (db) => db.selectFrom('users').select('id').execute());
    const leaked = await asRuntime(async (c) => (await c.query('SELECT count(*)::int AS n FROM users')).rows[0].n);
    assert.equal(leaked, 0);
  });
});

test('a failing statement rolls the whole withTenant transaction back and the connection stays usable', async () => {
  await assert.rejects(
    t.platform.tenancy.withTenant({ tenantId: a.tenant.id }, async (trx) => {
      await trx.insertInto('branches').values({ tenant_id: a.tenant.id, name: 'Doomed', timezone: 'UTC' }).execute();
      await trx.insertInto('branches').values({ tenant_id: a.tenant.id, name: 'Bad', timezone: 'UTC', id: 'not-a-uuid' }).execute();
    }),
    /invalid input syntax for type uuid/,
  );
  const doomed = await t.platform.tenancy.readAsTenant({ tenantId: a.tenant.id }, (db) =>
    db.selectFrom('branches').select('id').where('tenant_id', '=', a.tenant.id).where('name', '=', 'Doomed').execute(),
  );
  assert.equal(doomed.length, 0);
});
