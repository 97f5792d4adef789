import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { sql } from 'kysely';
import { createTestContext, type TestContext } from '../../../test/harness.ts';
import { writeSignalBatch, emptyFigures, F, bucketOf } from '../../platform/signals/index.ts';
import { evaluate, settleMs } from './index.ts';

/**
 * The evaluator refreshes tenant_health only for tenants whose last hour changed (decision
 * 0681): what it keeps must equal what summing every tenant's minute rows gives, minute after
 * minute, including a batch that lands late for a minute it had already counted.
 */
let t: TestContext;
before(async () => {
  t = await createTestContext();
});
after(() => t.close());

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

async function tenant(name: string): Promise<string> {
  const slug = `${name.toLowerCase().replace(/\W+/g, '-')}-${crypto.randomBytes(3).toString('hex')}`;
  const r = await sql<{ id: string }>`INSERT INTO tenants (name, slug) VALUES (${name}, ${slug}) RETURNING id`.execute(t.platform.db.system);
  return r.rows[0]!.id;
}

/** One flushed batch (the real write path): `requests` at `minuteAt` for each tenant, 40 ms each. */
async function flush(rows: { tenantId: string; at: number; requests: number; r5xx?: number }[]): Promise<void> {
  await writeSignalBatch(t.platform.tenancy, {
    id: crypto.randomUUID(),
    tenantRows: rows.map((r) => {
      const f = emptyFigures();
      f[F.requests] = r.requests;
      f[F.r2xx] = r.requests - (r.r5xx ?? 0);
      f[F.r5xx] = r.r5xx ?? 0;
      f[F.apiUs] = r.requests * 40_000;
      f[F.latency + bucketOf(40)] = r.requests;
      return { tenantId: r.tenantId, minute: Math.floor(r.at / MINUTE), figures: f };
    }),
    platformRows: [],
  });
}

/** Evaluates with the window ending at `end` (every minute before it settled). */
const evaluateAt = (end: number) => evaluate(t.platform, new Date(end + settleMs(t.platform.config) + 1000));

async function health(): Promise<Map<string, { requests: number; errors5xx: number; p95: number | null }>> {
  const r = await sql<{ tenant_id: string; requests: string; errors_5xx: string; p95_ms: number | null }>`SELECT tenant_id, requests, errors_5xx, p95_ms FROM tenant_health`.execute(t.platform.db.system);
  return new Map(r.rows.map((x) => [x.tenant_id, { requests: Number(x.requests), errors5xx: Number(x.errors_5xx), p95: x.p95_ms }]));
}

/** What summing each tenant's minute rows of [end - 1 h, end) gives. */
async function expected(end: number): Promise<Map<string, number>> {
  const r = await sql<{ tenant_id: string; n: string }>`
    SELECT tenant_id, sum(requests) AS n FROM tenant_signals WHERE grain = 'm' AND at >= ${new Date(end - HOUR)} AND at < ${new Date(end)} GROUP BY tenant_id`.execute(t.platform.db.system);
  return new Map(r.rows.map((x) => [x.tenant_id, Number(x.n)]));
}

test('tenant_health after minutes of incremental refreshes equals a recount of every minute row, a late batch included', async () => {
  const start = Math.floor(Date.now() / HOUR) * HOUR - 3 * HOUR;
  const steady = await tenant('Steady Bistro');
  const leaving = await tenant('Leaving Cafe');
  const arriving = await tenant('Arriving Diner');
  const quiet = await tenant('Quiet Bar');
  // The hour before `start + 60 min`: `leaving` only in its first minute, `steady` every
  // fifth minute, `quiet` once in the middle.
  await flush([
    { tenantId: leaving, at: start, requests: 7 },
    ...Array.from({ length: 12 }, (_, i) => ({ tenantId: steady, at: start + i * 5 * MINUTE, requests: 10 + i, r5xx: i % 3 })),
    { tenantId: quiet, at: start + 30 * MINUTE, requests: 3 },
  ]);
  let end = start + HOUR;
  await evaluateAt(end); // the first run counts every tenant
  const check = async (what: string) => {
    const want = await expected(end);
    const got = await health();
    for (const id of [steady, leaving, arriving, quiet]) assert.equal(got.get(id)?.requests ?? 0, want.get(id) ?? 0, `${what}: tenant ${id}`);
  };
  await check('first run');
  assert.equal((await health()).get(leaving)!.requests, 7);

  // Minute by minute: `leaving`'s minute leaves the window, `arriving` arrives.
  await flush([{ tenantId: arriving, at: end, requests: 5 }]);
  end += MINUTE;
  await evaluateAt(end);
  await check('a minute later');
  assert.equal((await health()).get(leaving)!.requests, 0, 'its only minute left the hour');
  assert.equal((await health()).get(arriving)!.requests, 5);

  // A batch for a minute the last run had counted (a process cut off from the database): no
  // minute of `quiet` enters or leaves the window, yet its hour changed.
  await flush([{ tenantId: quiet, at: start + 40 * MINUTE, requests: 11 }]);
  end += MINUTE;
  await evaluateAt(end);
  await check('after a late batch');
  assert.equal((await health()).get(quiet)!.requests, 14);

  // Several minutes at once, and figures beyond requests.
  await flush([
    { tenantId: steady, at: end, requests: 100, r5xx: 50 },
    { tenantId: arriving, at: end + 2 * MINUTE, requests: 1 },
  ]);
  end += 4 * MINUTE;
  await evaluateAt(end);
  await check('four minutes later');
  const s = (await health()).get(steady)!;
  const r = await sql<{ e: string }>`SELECT sum(r5xx) AS e FROM tenant_signals WHERE tenant_id = ${steady} AND grain = 'm' AND at >= ${new Date(end - HOUR)} AND at < ${new Date(end)}`.execute(t.platform.db.system);
  assert.equal(s.errors5xx, Number(r.rows[0]!.e));
  assert.ok(s.p95 !== null && s.p95 > 30 && s.p95 < 50, `p95 ${s.p95}`);

  // The same minute again changes nothing; a jump of more than an hour recounts every tenant.
  await evaluateAt(end);
  await check('the same minute again');
  end += 2 * HOUR;
  await evaluateAt(end);
  await check('two hours later');
  assert.equal((await health()).get(steady)!.requests, 0);
});

test('the tenants list sorted by a health figure pages through tenants with a value, then those at zero, in one order', async () => {
  const { anOperator, bearer } = await import('../../../test/harness.ts');
  const op = (await anOperator(t)).token;
  const seen: { id: string; requests: number }[] = [];
  let cursor: string | null = null;
  do {
    const res: { statusCode: number; body: string; json(): unknown } = await t.app.inject({ method: 'GET', url: `/ops/api/tenants?sort=requests&limit=2${cursor ? `&cursor=${cursor}` : ''}`, headers: bearer(op) });
    assert.equal(res.statusCode, 200, res.body);
    const body = res.json() as { data: { id: string; health: { requests: number } }[]; nextCursor: string | null };
    seen.push(...body.data.map((d) => ({ id: d.id, requests: d.health.requests })));
    cursor = body.nextCursor;
  } while (cursor);
  const all = await sql<{ id: string; requests: string | null }>`SELECT t.id, h.requests FROM tenants t LEFT JOIN tenant_health h ON h.tenant_id = t.id`.execute(t.platform.db.system);
  const want = all.rows.map((r) => ({ id: r.id, requests: Number(r.requests ?? 0) })).sort((a, b) => b.requests - a.requests || (a.id < b.id ? -1 : 1));
  assert.deepEqual(seen, want);
});
