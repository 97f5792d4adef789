import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import type pg from 'pg';
import { createTestContext, aTenant, type TestContext } from '../../../test/harness.ts';
import { atCommit, type Tx } from './index.ts';

let t: TestContext;
let tenantId: string;

before(async () => {
  t = await createTestContext();
  tenantId = (await aTenant(t.app, 'At Commit Café')).tenant.id;
});
after(() => t.close());

/**
 * Round trips of the runtime pool's connections while `fn` runs: each pipeline (or simple
 * query) ends in one ReadyForQuery from the server.
 */
async function roundTrips<T>(fn: () => Promise<T>): Promise<{ result: T; trips: number }> {
  let trips = 0;
  const watched = new Set<pg.PoolClient>();
  const count = () => trips++;
  const onAcquire = (client: pg.PoolClient) => {
    const connection = (client as unknown as { connection: NodeJS.EventEmitter }).connection;
    if (!watched.has(client)) connection.on('readyForQuery', count);
    watched.add(client);
  };
  const pool = t.platform.db.runtimePool;
  pool.on('acquire', onAcquire);
  try {
    return { result: await fn(), trips };
  } finally {
    pool.off('acquire', onAcquire);
    for (const client of watched) (client as unknown as { connection: NodeJS.EventEmitter }).connection.off('readyForQuery', count);
  }
}

const insertBranch = (trx: Tx, id: string, name: string | null) =>
  trx
    .insertInto('branches')
    .values({ tenant_id: tenantId, id, name: name as string, timezone: 'UTC' })
    .returning(['id', 'name'])
    .execute();

const branchExists = async (id: string) =>
  (await t.platform.tenancy.withTenant({ tenantId }, (trx) => trx.selectFrom('branches').select('id').where('tenant_id', '=', tenantId).where('id', '=', id).execute())).length === 1;

test('a statement at commit goes out with the COMMIT: one round trip for both, its rows once committed', async () => {
  const read = (trx: Tx) => trx.selectFrom('branches').select('id').where('tenant_id', '=', tenantId).execute();
  const plain = crypto.randomUUID();
  const before = await roundTrips(() =>
    t.platform.tenancy.withTenant({ tenantId }, async (trx) => {
      await read(trx);
      return insertBranch(trx, plain, 'Plain');
    }),
  );
  const folded = crypto.randomUUID();
  const after = await roundTrips(async () => {
    const out = await t.platform.tenancy.withTenant({ tenantId }, async (trx) => {
      await read(trx);
      const created = insertBranch(atCommit(trx), folded, 'Folded');
      created.catch(() => undefined);
      return { created };
    });
    return out.created;
  });
  assert.equal(before.trips, 3, 'BEGIN with the read; the insert; COMMIT');
  assert.equal(after.trips, 2, 'BEGIN with the read; the insert with the COMMIT');
  assert.deepEqual(after.result, [{ id: folded, name: 'Folded' }]);
  assert.ok(await branchExists(folded));
});

test('a statement at commit that fails rolls the whole transaction back, and both promises reject', async () => {
  const first = crypto.randomUUID();
  let created: Promise<unknown> | undefined;
  await assert.rejects(
    t.platform.tenancy.withTenant({ tenantId }, async (trx) => {
      await insertBranch(trx, first, 'Written first');
      // NOT NULL violation, found only when the COMMIT's round trip runs it.
      created = insertBranch(atCommit(trx), crypto.randomUUID(), null);
      created.catch(() => undefined);
      return { created };
    }),
    (err: Error & { code?: string }) => err.code === '23502',
  );
  await assert.rejects(created!);
  assert.equal(await branchExists(first), false, 'the statement before it was rolled back too');
});

test('inside a request\'s unit of work, which commits after the response, a statement at commit runs at once', async () => {
  const id = crypto.randomUUID();
  const rows = await new Promise<unknown>((resolve, reject) => {
    t.platform.tenancy.withUnitScope(() => {
      (async () => {
        const unit = await t.platform.tenancy.beginUnit({ tenantId, userId: null });
        try {
          // Awaited inside the joined call: it must not wait for the unit's COMMIT.
          const inserted = await t.platform.tenancy.withTenant({ tenantId }, (trx) => insertBranch(atCommit(trx), id, 'In a unit'));
          await unit.commit();
          return inserted;
        } catch (err) {
          await unit.rollback();
          throw err;
        }
      })().then(resolve, reject);
    });
  });
  assert.deepEqual(rows, [{ id, name: 'In a unit' }]);
  assert.ok(await branchExists(id));
});
