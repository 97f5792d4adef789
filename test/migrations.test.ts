import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import pg from 'pg';
import { adminUrl } from './harness.ts';
import { openDatabase } from '../src/platform/db/index.ts';
import { createLogger } from '../src/platform/log.ts';

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
