/**
 * Every tenant table is ready to be distributed by tenant_id (Citus, docs/scaling.md): read from
 * the catalogue of a freshly migrated database, so a new migration is checked as it lands.
 * - A tenant table is one under forced row-level security (brigade_protect). `tenants` itself
 *   becomes a reference table (small, copied to every node): its id is what the others lead with.
 * - tenant_id leads its primary key and every unique constraint or unique index: uniqueness can
 *   then be enforced on one shard.
 * - tenant_id leads every foreign key from it, and the key points at the same tenant's rows
 *   (another tenant table's key led by tenant_id, or tenants.id): joins stay on one shard.
 * Protected tables whose tenant_id may be NULL (job ledgers that also hold system jobs) stay on
 * the coordinator: they are listed here by name, so a new one is placed on purpose.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { createTestContext, type TestContext } from './harness.ts';

let t: TestContext;
let c: pg.Client;

before(async () => {
  t = await createTestContext();
  c = new pg.Client({ connectionString: t.ownerUrl });
  await c.connect();
});
after(async () => {
  await c?.end();
  await t?.close();
});

/** Protected tables whose tenant_id may be NULL: local to the coordinator, not distributed. */
const COORDINATOR_LOCAL = ['caught_mails', 'dead_jobs', 'job_runs'];

async function protectedTables(): Promise<{ table: string; nullable: boolean }[]> {
  const { rows } = await c.query<{ table: string; nullable: boolean }>(`
    SELECT c.relname AS table, NOT a.attnotnull AS nullable
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped
    WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND c.relrowsecurity AND c.relforcerowsecurity
    ORDER BY 1`);
  return rows;
}

test('the protected tables with a nullable tenant_id are exactly the known coordinator-local ones', async () => {
  const nullable = (await protectedTables()).filter((r) => r.nullable).map((r) => r.table);
  assert.deepEqual(nullable, COORDINATOR_LOCAL, 'a protected table with a nullable tenant_id must be placed on purpose (a distributed table needs tenant_id NOT NULL)');
});

test('tenant_id leads every primary key, unique key and foreign key of every tenant table', async () => {
  const tenantTables = (await protectedTables()).filter((r) => !r.nullable).map((r) => r.table);
  assert.ok(tenantTables.length >= 20, `found ${tenantTables.length} tenant tables`);
  // tenants (a reference table) is referred to by id; every other key leads with tenant_id.
  const leading = (table: string) => (table === 'tenants' ? 'id' : 'tenant_id');
  // Unique indexes cover primary keys and unique constraints (each has one).
  const { rows: uniques } = await c.query<{ table: string; index: string; first: string | null; predicate: string | null }>(`
    SELECT t.relname AS table, i.relname AS index,
           (SELECT attname FROM pg_attribute WHERE attrelid = t.oid AND attnum = x.indkey[0]) AS first,
           pg_get_expr(x.indpred, x.indrelid) AS predicate
    FROM pg_index x JOIN pg_class t ON t.oid = x.indrelid JOIN pg_class i ON i.oid = x.indexrelid
    JOIN pg_namespace n ON n.oid = t.relnamespace
    WHERE n.nspname = 'public' AND x.indisunique AND t.relname = ANY($1)`, [tenantTables]);
  const badUniques = uniques.filter((u) => u.first !== leading(u.table)).map((u) => `${u.table}.${u.index} (leads with ${u.first ?? 'an expression'})`);
  assert.deepEqual(badUniques, [], 'unique keys not led by tenant_id');
  for (const table of tenantTables) assert.ok(uniques.some((u) => u.table === table), `${table} has a primary key`);

  const { rows: fks } = await c.query<{ table: string; name: string; cols: string[]; ref: string; refcols: string[] }>(`
    SELECT t.relname AS table, k.conname AS name,
           ARRAY(SELECT attname FROM unnest(k.conkey) WITH ORDINALITY AS u(n, o) JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = u.n ORDER BY o)::text[] AS cols,
           r.relname AS ref,
           ARRAY(SELECT attname FROM unnest(k.confkey) WITH ORDINALITY AS u(n, o) JOIN pg_attribute a ON a.attrelid = k.confrelid AND a.attnum = u.n ORDER BY o)::text[] AS refcols
    FROM pg_constraint k JOIN pg_class t ON t.oid = k.conrelid JOIN pg_class r ON r.oid = k.confrelid
    WHERE k.contype = 'f' AND t.relname = ANY($1)`, [tenantTables]);
  const badFks = fks
    .filter((f) => f.cols[0] !== 'tenant_id' || f.refcols[0] !== leading(f.ref))
    .map((f) => `${f.table}.${f.name} (${f.cols.join(', ')}) -> ${f.ref} (${f.refcols.join(', ')})`);
  assert.deepEqual(badFks, [], 'foreign keys that would cross shards');
  assert.ok(fks.length > 0);
});
