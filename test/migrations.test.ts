import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import pg from 'pg';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { Kysely, Migrator, PostgresDialect, sql, type Migration } from 'kysely';
import { pathToFileURL } from 'node:url';
import { adminUrl, createTestDatabase } from './harness.ts';
import { openDatabase, migrationStatus, migrateToLatest } from '../src/platform/db/index.ts';
import { migrationFiles, migrationsDir } from '../src/platform/db/migrator.ts';
import { createLogger } from '../src/platform/log.ts';
import { nameOffences, orderOffences } from '../scripts/lint-migrations.ts';

const log = createLogger('silent');

async function asAdmin<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: adminUrl });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

test('a CREATEROLE owner that is not a superuser migrates a database dropped and created again under the same name', async () => {
  const suffix = crypto.randomBytes(4).toString('hex');
  const owner = `brigade_owner_${suffix}`;
  const dbName = `brigade_m_${suffix}`;
  const password = crypto.randomBytes(12).toString('hex');
  await asAdmin(async (c) => {
    await c.query(`CREATE ROLE ${owner} LOGIN CREATEROLE CREATEDB NOSUPERUSER PASSWORD '${password}'`);
  });
  const url = new URL(adminUrl);
  url.username = owner;
  url.password = password;
  url.pathname = `/${dbName}`;
  const createDb = () => asAdmin((c) => c.query(`CREATE DATABASE ${dbName} OWNER ${owner}`));
  const dropDb = () => asAdmin((c) => c.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`));
  let runtimeRole = '';
  try {
    for (const round of [1, 2]) {
      await createDb();
      const db = await openDatabase({ url: url.toString(), log, migrate: true });
      try {
        runtimeRole = db.runtimeRole;
        // The runtime role works, and cannot see a tenant's rows without the tenant's context.
        const r = await db.runtimePool.query(`SELECT count(*) AS n FROM tenants`);
        assert.equal(Number(r.rows[0].n), 0, `round ${round}`);
        const attrs = await db.ownerPool.query(`SELECT rolsuper, rolbypassrls, rolcanlogin FROM pg_roles WHERE rolname = $1`, [db.runtimeRole]);
        assert.deepEqual(attrs.rows[0], { rolsuper: false, rolbypassrls: false, rolcanlogin: true });
      } finally {
        await db.close();
      }
      await dropDb();
    }
  } finally {
    await dropDb();
    await asAdmin(async (c) => {
      if (runtimeRole) await c.query(`DROP ROLE IF EXISTS "${runtimeRole}"`);
      await c.query(`DROP ROLE IF EXISTS ${owner}`);
    });
  }
});

const kyselyOn = (url: string) => new Kysely<unknown>({ dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: url, max: 1 }) }) });
const migrationNames = async () => (await migrationFiles()).map((f) => f.replace(/\.ts$/, ''));

test('brigade migrate status: all pending on a new database, all applied after migrate, and a migration this release does not know', { timeout: 120_000 }, async () => {
  const db = await createTestDatabase();
  const k = kyselyOn(db.url);
  const status = (json = true) =>
    spawnSync(process.execPath, ['--import', 'tsx', path.resolve('src/cli.ts'), 'migrate', 'status', ...(json ? ['--json'] : [])], {
      env: { ...process.env, DATABASE_URL: db.url, LOG_LEVEL: 'silent' },
      encoding: 'utf8',
      timeout: 60_000,
    });
  try {
    const names = await migrationNames();
    const fresh = status();
    assert.equal(fresh.status, 0, fresh.stderr);
    assert.deepEqual(JSON.parse(fresh.stdout), { applied: [], pending: names, outOfOrder: [], unknown: [] });
    // Reading the status created nothing.
    assert.equal((await sql<{ t: string | null }>`SELECT to_regclass('kysely_migration')::text AS t`.execute(k)).rows[0]!.t, null);

    await migrateToLatest(k, log);
    await sql`INSERT INTO kysely_migration (name, timestamp) VALUES ('29991231235959_from_a_newer_release', '2999-12-31T23:59:59.000Z')`.execute(k);
    const after = await migrationStatus(k);
    assert.deepEqual(after.applied.map((m) => m.name), names);
    assert.deepEqual(after.pending, []);
    assert.deepEqual(after.unknown, [{ name: '29991231235959_from_a_newer_release', appliedAt: '2999-12-31T23:59:59.000Z' }]);
    const text = status(false);
    assert.equal(text.status, 0, text.stderr);
    assert.match(text.stdout, new RegExp(`^applied  ${names[0]}  `, 'm'));
    assert.match(text.stdout, /^unknown  29991231235959_from_a_newer_release .*not in this release/m);
    assert.match(text.stdout, new RegExp(`^${names.length} applied, 0 pending, 1 unknown$`, 'm'));
  } finally {
    await k.destroy();
    await db.drop();
  }
});

test('a database migrated before a late-committed migration applies it late; any other migration sorting before an applied one is refused', { timeout: 120_000 }, async () => {
  const db = await createTestDatabase();
  const k = kyselyOn(db.url);
  try {
    const names = await migrationNames();
    // As if migrated at 59e8292: the migrations it had (up to 20261201173602), without
    // 20261201160958_observability, which was committed after it.
    const late = '20261201160958_observability';
    assert.ok(names.includes(late));
    const at59e8292 = names.filter((n) => n <= '20261201173602_anonymous_idempotency_keys');
    const provider = {
      getMigrations: async () =>
        Object.fromEntries(await Promise.all(at59e8292.filter((n) => n !== late).map(async (n) => [n, (await import(pathToFileURL(path.join(migrationsDir, `${n}.ts`)).href)) as Migration]))),
    };
    const { error } = await new Migrator({ db: k, provider }).migrateToLatest();
    assert.equal(error, undefined);
    assert.deepEqual((await migrationStatus(k)).outOfOrder, [late]);
    await migrateToLatest(k, log);
    assert.deepEqual(await migrationStatus(k).then((s) => [s.pending, s.outOfOrder]), [[], []]);
    assert.equal((await sql<{ t: string | null }>`SELECT to_regclass('alerts')::text AS t`.execute(k)).rows[0]!.t, 'alerts');

    // Any other migration that sorts before an applied one is refused, and nothing runs.
    await sql`DELETE FROM kysely_migration WHERE name = '0400_billing'`.execute(k);
    await assert.rejects(migrateToLatest(k, log), /0400_billing sort before one this database has applied/);
    assert.deepEqual((await migrationStatus(k)).outOfOrder, ['0400_billing']);
  } finally {
    await k.destroy();
    await db.drop();
  }
});

test('migration names: timestamps only (the first 4-digit ones excepted), real UTC times, none shared, none in the future', () => {
  const now = new Date('2026-12-01T20:00:00Z');
  assert.deepEqual(nameOffences(['0001_foundation', '0400_billing', '20261201160748_ops_activity', '20261201195959_x'], now), []);
  assert.match(nameOffences(['0500_new'], now).join(), /0500_new: name it/);
  assert.match(nameOffences(['20261341000000_bad'], now).join(), /not a date and time/);
  assert.match(nameOffences(['20271201000000_soon'], now).join(), /in the future/);
  assert.match(nameOffences(['20261201160748_a', '20261201160748_b'], now).join(), /same timestamp as 20261201160748_a/);
});

test('migration order along history: a migration added after one that sorts after it is refused, the known late ones excepted', () => {
  assert.deepEqual(orderOffences([['0001_foundation'], ['0100_rbac'], ['20261201160748_a', '20261201150000_b'], ['20261201170000_c']]), []);
  assert.match(orderOffences([['0001_foundation'], ['20261201170000_c'], ['20261201160000_d']]).join(), /20261201160000_d: sorts before 20261201170000_c/);
  // What happened to 0002 and 0003 (and observability) before the check: accepted, as the migrator applies them late.
  assert.deepEqual(orderOffences([['0001_foundation'], ['0200_hospitality'], ['0002_authenticate_plan_cache', '0003_auth_change_signal']]), []);
});
