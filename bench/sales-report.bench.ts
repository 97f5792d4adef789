/**
 * The sales report for the last 30 days of one tenant, over 1,000,000 orders among 1,000
 * tenants, through the API and as the same SQL sent directly with pg; p50 and p99, the plans
 * (EXPLAIN ANALYZE) with the indexes that make it fast, and the same query without them.
 */
import pg from 'pg';
import pino from 'pino';
import { Kysely, PostgresDialect } from 'kysely';
import { createTestContext } from '../test/harness.ts';
import { createLogger } from '../src/platform/log.ts';
import type { Database } from '../src/platform/db/schema.ts';
import { periodOf } from '../src/modules/reports/reports.service.ts';
import { salesByDay, salesByBranch, salesByItem } from '../src/modules/reports/reports.repository.ts';
import { fmt } from './load.ts';

const ORDERS = Number(process.env.BENCH_ORDERS ?? 1_000_000);
const TENANTS = 1000;
const BIG_SHARE = 0.1;
const ITERATIONS = Number(process.env.BENCH_ITERATIONS ?? 60);
const log = (m: string) => process.stderr.write(`sales-report bench: ${m}\n`);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const percentile = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
};
const ms = (n: number) => fmt(n, 1);

const t = await createTestContext(
  { LOG_LEVEL: 'info', BRIGADE_TENANT_RATE_LIMIT: '1000000' },
  { log: createLogger('info', pino.destination('/dev/null')) },
);
const owner = new pg.Pool({ connectionString: t.ownerUrl, max: 4 });
try {
  const signup = async (businessName: string, email: string) => {
    const res = await t.app.inject({
      method: 'POST',
      url: '/v1/signup',
      payload: { businessName, name: 'Bench Owner', email, password: 'correct horse battery', timezone: 'Europe/Lisbon' },
    });
    if (res.statusCode !== 201) throw new Error(res.body);
    return res.json() as { token: string; tenant: { id: string } };
  };
  const big = await signup('Big Restaurant Group', 'big@example.com');
  const typical = await signup('Typical Café', 'typical@example.com');

  const started = performance.now();
  log(`generating ${fmt(ORDERS)} orders among ${TENANTS} tenants`);
  const c = await owner.connect();
  try {
    // Generated data is consistent by construction (every line names its tenant's items, every
    // order its tenant's branch), so the bulk load skips the foreign-key triggers.
    await c.query(`SET session_replication_role = replica`);
    await c.query(`
      INSERT INTO tenants (id, name, slug, currency, timezone)
      SELECT gen_random_uuid(), 'Bench tenant ' || g, 'bench-' || g, 'EUR',
             (ARRAY['Europe/Lisbon', 'Europe/London', 'America/New_York', 'Asia/Tokyo'])[1 + g % 4]
        FROM generate_series(1, ${TENANTS - 2}) g`);
    await c.query(`
      INSERT INTO branches (tenant_id, name, timezone)
      SELECT t.id, 'Branch ' || b, t.timezone FROM tenants t, generate_series(1, 3) b`);
    await c.query(`
      INSERT INTO menu_items (tenant_id, name, category, price_minor)
      SELECT t.id, 'Dish ' || lpad(k::text, 2, '0'), 'Category ' || (k % 4), 200 + (k * 97) % 1500
        FROM tenants t, generate_series(1, 20) k`);
    // Tenant 0 is the big one (10% of all orders), tenant 1 a typical one, the rest share the remainder.
    await c.query(`
      CREATE UNLOGGED TABLE bench_catalog AS
      SELECT (CASE t.id WHEN $1::uuid THEN 0 WHEN $2::uuid THEN 1 ELSE 1 + row_number() OVER (ORDER BY t.id) END)::int AS n,
             t.id AS tenant_id,
             (SELECT array_agg(id ORDER BY name) FROM branches b WHERE b.tenant_id = t.id) AS branches,
             (SELECT array_agg(id ORDER BY name) FROM menu_items m WHERE m.tenant_id = t.id) AS items,
             (SELECT array_agg(price_minor ORDER BY name) FROM menu_items m WHERE m.tenant_id = t.id) AS prices
        FROM tenants t`,
      [big.tenant.id, typical.tenant.id],
    );
    await c.query(`DELETE FROM bench_catalog WHERE n > ${TENANTS - 1}`);
    const bigOrders = Math.round(ORDERS * BIG_SHARE);
    await c.query(`
      CREATE UNLOGGED TABLE bench_orders AS
      SELECT g AS i, c.tenant_id, gen_random_uuid() AS id, c.branches[1 + g % 3] AS branch_id,
             date_trunc('second', now() - random() * interval '365 days') AS at,
             CASE WHEN g % 50 = 0 THEN 'voided' WHEN g % 33 = 0 THEN 'refunded' ELSE 'paid' END AS status,
             1 + (g * 7) % 3 AS nlines, c.items, c.prices,
             (SELECT sum(c.prices[1 + (g * 7 + k * 13) % 20] * (1 + (g + k) % 2)) FROM generate_series(1, 1 + (g * 7) % 3) k) AS total
        FROM generate_series(1, ${ORDERS}) g
        JOIN bench_catalog c ON c.n = CASE WHEN g <= ${bigOrders} THEN 0 ELSE 1 + g % ${TENANTS - 1} END`);
    await c.query(`
      INSERT INTO orders (tenant_id, id, branch_id, status, currency, total_minor, created_at, paid_at, refunded_at, refund_reason, voided_at, void_reason)
      SELECT tenant_id, id, branch_id, status, 'EUR', total, at - interval '3 minutes',
             CASE WHEN status <> 'voided' THEN at END,
             CASE WHEN status = 'refunded' THEN least(at + interval '2 hours', now()) END,
             CASE WHEN status = 'refunded' THEN 'bench' END,
             CASE WHEN status = 'voided' THEN at END,
             CASE WHEN status = 'voided' THEN 'bench' END
        FROM bench_orders`);
    await c.query(`
      INSERT INTO order_lines (tenant_id, order_id, line_no, branch_id, menu_item_id, name, unit_price_minor, quantity, line_total_minor, paid_at, refunded_at)
      SELECT o.tenant_id, o.id, k, o.branch_id, o.items[1 + (o.i * 7 + k * 13) % 20], 'Dish', o.prices[1 + (o.i * 7 + k * 13) % 20],
             1 + (o.i + k) % 2, o.prices[1 + (o.i * 7 + k * 13) % 20] * (1 + (o.i + k) % 2),
             CASE WHEN o.status <> 'voided' THEN o.at END,
             CASE WHEN o.status = 'refunded' THEN least(o.at + interval '2 hours', now()) END
        FROM bench_orders o, generate_series(1, o.nlines) k`);
    await c.query(`DROP TABLE bench_orders, bench_catalog`);
    await c.query(`SET session_replication_role = origin`);
    log('vacuum analyze');
    await c.query(`VACUUM (ANALYZE) orders, order_lines, branches, menu_items, tenants`);
  } finally {
    c.release();
  }
  const counts = (await owner.query<{ orders: string; lines: string; tenants: string; big: string; typical: string; in30: string }>(
    `SELECT (SELECT count(*) FROM orders) AS orders, (SELECT count(*) FROM order_lines) AS lines, (SELECT count(*) FROM tenants) AS tenants,
            (SELECT count(*) FROM orders WHERE tenant_id = $1) AS big, (SELECT count(*) FROM orders WHERE tenant_id = $2) AS typical,
            (SELECT count(*) FROM orders WHERE tenant_id = $1 AND paid_at > now() - interval '30 days') AS in30`,
    [big.tenant.id, typical.tenant.id],
  )).rows[0]!;
  const generated = (performance.now() - started) / 1000;
  log(`generated in ${fmt(generated)}s`);

  // The report's SQL, captured from the repository functions the service runs.
  const captured: { sql: string; parameters: readonly unknown[] }[] = [];
  const capture = new Kysely<Database>({ dialect: new PostgresDialect({ pool: owner }), log: (e) => void (e.level === 'query' && captured.push(e.query)) });
  const queries: Record<string, { sql: string; parameters: readonly unknown[] }> = {};
  for (const [name, fn] of [['day', salesByDay], ['branch', salesByBranch], ['item', salesByItem]] as const) {
    captured.length = 0;
    await fn(capture, { tenantId: big.tenant.id, timezone: 'Europe/Lisbon', period: periodOf({}, 'Europe/Lisbon'), branchIds: 'all' });
    queries[name] = captured[0]!;
  }

  const time = async (fn: () => Promise<unknown>, n: number) => {
    for (let i = 0; i < 5; i++) await fn();
    const out: number[] = [];
    for (let i = 0; i < n; i++) {
      const t0 = performance.now();
      await fn();
      out.push(performance.now() - t0);
    }
    return { p50: median(out), p99: percentile(out, 0.99) };
  };
  const api = (token: string, groupBy: string) => async () => {
    const res = await t.app.inject({ method: 'GET', url: `/v1/reports/sales?groupBy=${groupBy}`, headers: { authorization: `Bearer ${token}` } });
    if (res.statusCode !== 200) throw new Error(res.body);
  };
  const direct = (name: string) => () => owner.query(queries[name]!.sql, queries[name]!.parameters as unknown[]);

  const rows: string[] = [];
  for (const groupBy of ['day', 'branch', 'item']) {
    log(`measuring groupBy=${groupBy}`);
    const sqlBig = await time(direct(groupBy), ITERATIONS);
    const apiBig = await time(api(big.token, groupBy), ITERATIONS);
    const apiTypical = await time(api(typical.token, groupBy), ITERATIONS);
    rows.push(`| ${groupBy} | ${ms(sqlBig.p50)} / ${ms(sqlBig.p99)} | ${ms(apiBig.p50)} / ${ms(apiBig.p99)} | ${ms(apiTypical.p50)} / ${ms(apiTypical.p99)} |`);
  }

  const explain = async (name: string) =>
    (await owner.query<{ 'QUERY PLAN': string }>(`EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) ${queries[name]!.sql}`, queries[name]!.parameters as unknown[])).rows
      .map((r) => r['QUERY PLAN'])
      .join('\n');
  const plans = { day: await explain('day'), branch: await explain('branch'), item: await explain('item') };

  log('without the report indexes');
  // Dropped inside a transaction that is rolled back: the indexes come back as they were.
  const bare = await owner.connect();
  let without: { p50: number; p99: number };
  let withoutItem: { p50: number; p99: number };
  let withoutPlan: string;
  try {
    await bare.query('BEGIN');
    await bare.query(`DROP INDEX orders_paid_by_time, orders_refunded_by_time, order_lines_paid_by_time, order_lines_refunded_by_time`);
    const run = (name: string) => () => bare.query(queries[name]!.sql, queries[name]!.parameters as unknown[]);
    without = await time(run('day'), 10);
    withoutItem = await time(run('item'), 10);
    withoutPlan = (await bare.query<{ 'QUERY PLAN': string }>(`EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) ${queries.day!.sql}`, queries.day!.parameters as unknown[])).rows
      .map((r) => r['QUERY PLAN'])
      .join('\n');
    await bare.query('ROLLBACK');
  } finally {
    bare.release();
  }

  process.stdout.write(`## Sales report: 30 days of one tenant among 1,000

\`GET /v1/reports/sales\` for the last 30 days (the default range) in the tenant's time zone, over
${fmt(Number(counts.orders))} orders (${fmt(Number(counts.lines))} lines) among ${fmt(Number(counts.tenants))} tenants, generated with set-based
\`INSERT ... SELECT generate_series\` in ${fmt(generated)}s. The measured "big" tenant holds ${fmt(Number(counts.big))} orders over a
year (${fmt(Number(counts.in30))} paid in the 30 days: the report reads these); a "typical" tenant holds ${fmt(Number(counts.typical))}.
${ITERATIONS} sequential requests per cell after 5 warm-up ones; p50 / p99 in milliseconds.

| groupBy | direct SQL, big tenant | API, big tenant | API, typical tenant |
| --- | ---: | ---: | ---: |
${rows.join('\n')}

The API column is the whole request (token check, rate limit, context, validation, the query
under row-level security, serialisation, logs). The direct column is the same SQL text and
parameters, captured from the repository functions, sent with pg as the owner.

Without the report indexes (dropped in a transaction, then rolled back), the direct query takes
p50 ${ms(without.p50)} / p99 ${ms(without.p99)} ms for \`groupBy=day\` and p50 ${ms(withoutItem.p50)} / p99 ${ms(withoutItem.p99)} ms for \`groupBy=item\`.

### The indexes

\`\`\`sql
-- Sales count when paid, refunds when refunded: each side of the report is one range scan of
-- a partial index holding exactly what it sums, so both are index-only scans (after VACUUM has
-- set the visibility map, which autovacuum keeps doing on a live system).
CREATE INDEX orders_paid_by_time ON orders (tenant_id, paid_at) INCLUDE (branch_id, total_minor) WHERE paid_at IS NOT NULL;
CREATE INDEX orders_refunded_by_time ON orders (tenant_id, refunded_at) INCLUDE (branch_id, total_minor) WHERE refunded_at IS NOT NULL;
-- groupBy=item: the lines carry their order's branch and paid/refunded times (written in the
-- same statement as the order's), so it is the same pair of range scans over the lines.
CREATE INDEX order_lines_paid_by_time ON order_lines (tenant_id, paid_at)
  INCLUDE (branch_id, menu_item_id, order_id, quantity, line_total_minor) WHERE paid_at IS NOT NULL;
CREATE INDEX order_lines_refunded_by_time ON order_lines (tenant_id, refunded_at)
  INCLUDE (branch_id, menu_item_id, quantity, line_total_minor) WHERE refunded_at IS NOT NULL;
\`\`\`

<details><summary>EXPLAIN (ANALYZE, BUFFERS), groupBy=day</summary>

\`\`\`
${plans.day}
\`\`\`
</details>

<details><summary>EXPLAIN (ANALYZE, BUFFERS), groupBy=branch</summary>

\`\`\`
${plans.branch}
\`\`\`
</details>

<details><summary>EXPLAIN (ANALYZE, BUFFERS), groupBy=item</summary>

\`\`\`
${plans.item}
\`\`\`
</details>

<details><summary>EXPLAIN (ANALYZE, BUFFERS), groupBy=day without the report indexes</summary>

\`\`\`
${withoutPlan}
\`\`\`
</details>
`);
} finally {
  await owner.end();
  await t.close();
}
