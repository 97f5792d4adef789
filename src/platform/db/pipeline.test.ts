import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { createTestDatabase } from '../../../test/harness.ts';
import { pipeline } from './pipeline.ts';

let db: Awaited<ReturnType<typeof createTestDatabase>>;
let client: pg.Client;
before(async () => {
  db = await createTestDatabase();
  client = new pg.Client({ connectionString: db.url });
  await client.connect();
});
after(async () => {
  await client?.end();
  await db?.drop();
});

const prepared = async () => (await client.query<{ statement: string }>('SELECT statement FROM pg_prepared_statements ORDER BY name')).rows.map((r) => r.statement);

test('named statements are parsed once per connection and then only bound and executed', async () => {
  const text = 'SELECT $1::int + 1 AS n';
  for (let i = 0; i < 3; i++) {
    const [r] = await pipeline(client, [{ text, values: [i] }], true);
    assert.equal(r!.rows[0].n, i + 1);
  }
  assert.deepEqual((await prepared()).filter((s) => s === text), [text]);
  // Off: nothing named (a pooler in transaction mode could not carry it).
  const other = 'SELECT $1::int * 2 AS n';
  await pipeline(client, [{ text: other, values: [2] }], false);
  assert.ok(!(await prepared()).includes(other));
});

test('a pipeline that fails after parsing a new named statement leaves the connection usable for it', async () => {
  const text = 'SELECT $1::int - 1 AS n';
  // The new statement parses and runs; the next one fails, so the server skips to the Sync.
  await assert.rejects(pipeline(client, [{ text, values: [5] }, { text: 'SELECT $1::int / 0 AS boom', values: [1] }], true), /division by zero/);
  const [r] = await pipeline(client, [{ text, values: [5] }], true);
  assert.equal(r!.rows[0].n, 4);
  // A parse that never happened (the pipeline failed before it) is parsed afresh.
  const later = 'SELECT $1::text || $2::text AS s';
  await assert.rejects(pipeline(client, [{ text: 'SELECT $1::int / 0', values: [1] }, { text: later, values: ['a', 'b'] }], true), /division by zero/);
  const [s] = await pipeline(client, [{ text: later, values: ['a', 'b'] }], true);
  assert.equal(s!.rows[0].s, 'ab');
});
