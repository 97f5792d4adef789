/**
 * The ops job and mail lists page on keys at the columns' own precision (microseconds): rows
 * within one millisecond are neither skipped nor repeated, whatever the page size.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import pg from 'pg';
import { createTestContext, anOperator, bearer, type TestContext } from './harness.ts';

let t: TestContext;
let operator: string;
const instants = ['2026-01-01T00:00:00.000100Z', '2026-01-01T00:00:00.000200Z', '2026-01-01T00:00:00.000300Z', '2026-01-01T00:00:00.000900Z'];
before(async () => {
  t = await createTestContext();
  operator = (await anOperator(t)).token;
  const client = new pg.Client({ connectionString: t.ownerUrl });
  await client.connect();
  try {
    for (const [i, at] of instants.entries()) {
      await client.query(`INSERT INTO dead_jobs (queue, job_id, type, payload, attempts, failed_reason, died_at) VALUES ('mail', $1, 'mail.test', '{}', 5, 'boom', $2)`, [`dead-${i}`, at]);
      await client.query(`INSERT INTO job_runs (queue, job_id, type, attempt, state, started_at, finished_at) VALUES ('mail', $1, 'mail.test', 1, 'completed', $2, $2)`, [`done-${i}`, at]);
      await client.query(`INSERT INTO caught_mails (message_id, sender, recipient, subject, text_body, created_at) VALUES ($1, 'a@example.com', 'b@example.com', 's', 't', $2)`, [crypto.randomUUID(), at]);
    }
  } finally {
    await client.end();
  }
});
after(() => t.close());

async function walk(url: string, limit: number): Promise<string[]> {
  const seen: string[] = [];
  let cursor: string | null = null;
  for (let page = 0; page < 20; page++) {
    const res: { statusCode: number; body: string; json(): unknown } = await t.app.inject({ method: 'GET', url: `${url}${url.includes('?') ? '&' : '?'}limit=${limit}${cursor ? `&cursor=${cursor}` : ''}`, headers: bearer(operator) });
    assert.equal(res.statusCode, 200, res.body);
    const body = res.json() as { data: { id: string }[]; nextCursor: string | null };
    seen.push(...body.data.map((r) => r.id));
    cursor = body.nextCursor;
    if (!cursor) return seen;
  }
  throw new Error('no last page');
}

for (const [url, prefix] of [['/ops/api/jobs?state=dead', 'dead-'], ['/ops/api/jobs?state=completed', 'done-']] as const) {
  test(`${url} pages through rows of one millisecond without skipping any`, async () => {
    for (const limit of [1, 2, 3]) {
      const ids = (await walk(url, limit)).filter((id) => id.startsWith(prefix));
      assert.deepEqual(ids, [3, 2, 1, 0].map((i) => `${prefix}${i}`), `limit ${limit}`);
    }
  });
}

test('/ops/api/mails pages through mails of one millisecond without skipping any', async () => {
  const all = await walk('/ops/api/mails', 200);
  assert.equal(all.length, 4);
  for (const limit of [1, 3]) assert.deepEqual(await walk('/ops/api/mails', limit), all, `limit ${limit}`);
});
