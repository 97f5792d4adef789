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

test('a named statement is described once per connection; later runs parse their rows with the kept shape', async () => {
  await client.query('CREATE TABLE shapes (id int PRIMARY KEY, at timestamptz NOT NULL, n bigint, note text)');
  await client.query(`INSERT INTO shapes VALUES (1, '2026-12-02T10:00:00Z', 7, null)`);
  const text = 'SELECT * FROM shapes WHERE id = $1';
  for (let i = 0; i < 3; i++) {
    const [r] = await pipeline(client, [{ text, values: [1] }], true);
    assert.equal(r!.command, 'SELECT');
    assert.equal(r!.rowCount, 1);
    assert.deepEqual(r!.rows, [{ id: 1, at: new Date('2026-12-02T10:00:00Z'), n: '7', note: null }]);
  }
  // The shape goes with the connection: another connection describes it for itself.
  const other = new pg.Client({ connectionString: db.url });
  await other.connect();
  try {
    const [r] = await pipeline(other, [{ text, values: [1] }], true);
    assert.equal(r!.rows[0].n, '7');
  } finally {
    await other.end();
  }
  const [insert] = await pipeline(client, [{ text: 'INSERT INTO shapes (id, at) VALUES ($1, now())', values: [2] }], true);
  assert.equal(insert!.command, 'INSERT');
  assert.equal(insert!.rowCount, 1);
  assert.deepEqual(insert!.rows, []);
});

test('a named statement whose table changed shape is parsed afresh after the one refusal', async () => {
  await client.query('CREATE TABLE reshaped (id int PRIMARY KEY, a text)');
  await client.query(`INSERT INTO reshaped VALUES (1, 'x')`);
  const text = 'SELECT * FROM reshaped WHERE id = $1';
  const [before] = await pipeline(client, [{ text, values: [1] }], true);
  assert.deepEqual(before!.rows, [{ id: 1, a: 'x' }]);
  await client.query(`ALTER TABLE reshaped ADD COLUMN b text NOT NULL DEFAULT 'y'`);
  // PostgreSQL refuses the prepared statement once ("cached plan must not change result type")...
  await assert.rejects(pipeline(client, [{ text, values: [1] }], true), (err: { code?: string }) => err.code === '0A000');
  // ...and the next run parses and describes it again: the new column is there.
  const [after] = await pipeline(client, [{ text, values: [1] }], true);
  assert.deepEqual(after!.rows, [{ id: 1, a: 'x', b: 'y' }]);
});

test('a value that cannot be sent fails its pipeline before anything is written, and the connection goes on', async () => {
  const circular: Record<string, unknown> = {};
  circular.self = circular;
  const text = 'SELECT $1::int * 3 AS n';
  await assert.rejects(pipeline(client, [{ text, values: [1] }, { text: 'SELECT $1::jsonb AS j', values: [circular] }], true), /circular/i);
  const [r] = await pipeline(client, [{ text, values: [2] }], true);
  assert.equal(r!.rows[0].n, 6);
});
