/**
 * The cost of per-tenant signals, in one run:
 * 1. on the read path: GET /v1/branches/:id through two `brigade serve` processes, one counting
 *    and one with BRIGADE_SIGNALS=false, warmed up, in alternating rounds (bench/processes.ts);
 * 2. storage: bytes per million requests after rollup, per grain;
 * 3. "top tenants, last hour" (and 15 minutes, 6 hours) with 100,000 tenants' rollups present
 *    (the hour that has ended rolled up, as health.rollup does), and the evaluator's minutes at
 *    that scale: the first (every tenant counted) and the next ones, each after a minute of new
 *    rows (a tenth of the tenants), which is the evaluator's usual minute (decision 0681).
 * BENCH_SECONDS, BENCH_ROUNDS, BENCH_WARMUP_SECONDS (bench/processes.ts), BENCH_TENANTS (100000), BENCH_ACTIVE (0.1 of them per minute).
 */
import crypto from 'node:crypto';
import pino from 'pino';
import { sql } from 'kysely';
import { createTestContext, anOperator } from '../test/harness.ts';
import { createLogger } from '../src/platform/log.ts';
import { createSignalRecorder } from '../src/platform/signals/index.ts';
import { evaluate, rollUp } from '../src/modules/health/index.ts';
import { fmt } from './load.ts';
import { benchTenant, brigadeApi, alternate, spread, loadAll, loadNote, seconds, rounds, warmupSeconds, connections } from './processes.ts';

const TENANTS = Number(process.env.BENCH_TENANTS ?? 100_000);
const ACTIVE = Number(process.env.BENCH_ACTIVE ?? 0.1);
const out: string[] = [];

// 1. Read path: two `brigade serve` processes on one database, one of them with BRIGADE_SIGNALS=false.
{
  const { t, token, branchId } = await benchTenant();
  const before = loadNote();
  const on = await brigadeApi(t.ownerUrl);
  const off = await brigadeApi(t.ownerUrl, { BRIGADE_SIGNALS: 'false' });
  const headers = { authorization: `Bearer ${token}` };
  try {
    const results = await alternate([
      { name: 'on', run: (secs) => loadAll([`${on.url}/v1/branches/${branchId}`], headers, secs) },
      { name: 'off', run: (secs) => loadAll([`${off.url}/v1/branches/${branchId}`], headers, secs) },
    ]);
    const withSignals = results.get('on')!;
    const without = results.get('off')!;
    const ratios = spread(withSignals.map((r, i) => r.requestsPerSecond / without[i]!.requestsPerSecond));
    const onRps = spread(withSignals.map((r) => r.requestsPerSecond));
    const offRps = spread(without.map((r) => r.requestsPerSecond));

    // The count alone, in a loop: what each request pays.
    const recorder = createSignalRecorder(t.platform.tenancy, createLogger('silent'), { flushMs: 1e9, maxSlots: 1e6, write: async () => 'applied' });
    const ids = Array.from({ length: 1000 }, () => crypto.randomUUID());
    const n = 2_000_000;
    const started = process.hrtime.bigint();
    for (let i = 0; i < n; i++) recorder.request(ids[i % 1000]!, 200, 3.2, 1.1);
    const nsPerCall = Number(process.hrtime.bigint() - started) / n;
    await recorder.close();

    out.push(`## Signals: cost, storage and "top tenants"

### On the read path
GET /v1/branches/:id (auth, RLS, permission, logs at info to /dev/null), ${connections} connections: two \`brigade serve\`
processes on one database, one counting per-tenant signals and one with \`BRIGADE_SIGNALS=false\`; ${warmupSeconds} s warm-up
each, then ${rounds} alternating rounds of ${seconds} s.

| | requests/s (median) | min – max |
| --- | ---: | ---: |
| with signals | ${fmt(onRps.median)} | ${fmt(onRps.min)} – ${fmt(onRps.max)} |
| without (BRIGADE_SIGNALS=false) | ${fmt(offRps.median)} | ${fmt(offRps.min)} – ${fmt(offRps.max)} |

Median cost: **${fmt((1 - ratios.median) * 100, 1)}%** of throughput (per-round ratio ${fmt(ratios.min, 3)} – ${fmt(ratios.max, 3)}; goal < 3%).
The count alone: **${fmt(nsPerCall, 0)} ns per request** (${n.toLocaleString('en-US')} calls over 1,000 tenants): a map lookup and
~40 additions into a Float64Array, no I/O. Machine load before: ${before}; after: ${loadNote()}.
`);
  } finally {
    await on.stop();
    await off.stop();
    await t.close();
  }
}

const env = { LOG_LEVEL: 'info', BRIGADE_TENANT_RATE_LIMIT: '1000000' };
const t = await createTestContext(env, { log: createLogger('info', pino.destination('/dev/null')) });
try {
  // 2 and 3. 100,000 tenants with rollups.
  const op = (await anOperator(t)).token;
  const db = t.platform.db.system;
  const now = new Date();
  const hour = new Date(Math.floor(now.getTime() / 3_600_000) * 3_600_000);
  const t0 = performance.now();
  await sql`INSERT INTO tenants (name, slug) SELECT 'Bench tenant ' || i, 'bench-' || i FROM generate_series(1, ${TENANTS}) AS i`.execute(db);
  // The last hour's minutes: each tenant active in a share of them, sizes spread over three orders.
  await sql`
    INSERT INTO tenant_signals (tenant_id, grain, at, requests, r2xx, r5xx, api_us, l10, l11, l12)
    SELECT t.id, 'm', m, r, r - (r / 200), r / 200, r * 40000, r / 4, r / 2, r - r / 4 - r / 2
    FROM (SELECT id, (1 + floor(exp(random() * 7)))::int AS r FROM tenants WHERE slug LIKE 'bench-%') t
    CROSS JOIN generate_series(${new Date(now.getTime() - 3_600_000)}::timestamptz, ${now}::timestamptz, interval '1 minute') AS m
    WHERE random() < ${ACTIVE}`.execute(db);
  await sql`INSERT INTO platform_signals (grain, at, requests, api_us) SELECT 'm', at, sum(requests), sum(api_us) FROM tenant_signals WHERE grain = 'm' GROUP BY at ON CONFLICT DO NOTHING`.execute(db);
  // The hour that has ended is rolled up, as health.rollup does within minutes of its end.
  await sql`INSERT INTO signal_dirty (grain, at, version) VALUES ('h', ${new Date(hour.getTime() - 3_600_000)}, nextval('signal_dirty_version'))`.execute(db);
  await rollUp(t.platform, now);
  await sql`ANALYZE tenant_signals; ANALYZE tenants`.execute(db);
  const seeded = (performance.now() - t0) / 1000;
  const minuteRows = Number((await sql<{ n: string }>`SELECT count(*) AS n FROM tenant_signals WHERE grain = 'm'`.execute(db)).rows[0]!.n);

  // The first minute counts every tenant; each later one, after a minute of new rows, only the
  // tenants whose hour changed.
  const minutes: { ms: number; phases: Record<string, number> }[] = [];
  for (let i = 0; i < 4; i++) {
    const e0 = performance.now();
    const summary = await evaluate(t.platform, new Date(now.getTime() + 70_000 + i * 60_000));
    minutes.push({ ms: performance.now() - e0, phases: summary.phases });
    await sql`
      INSERT INTO tenant_signals (tenant_id, grain, at, requests, r2xx, r5xx, api_us, l10, l11, l12)
      SELECT id, 'm', ${new Date(new Date(summary.windowEnd).getTime() + 1000)}, r, r - (r / 200), r / 200, r * 40000, r / 4, r / 2, r - r / 4 - r / 2
      FROM (SELECT id, (1 + floor(exp(random() * 7)))::int AS r FROM tenants WHERE slug LIKE 'bench-%') t WHERE random() < ${ACTIVE}`.execute(db);
  }
  const first = minutes[0]!;
  const later = spread(minutes.slice(1).map((m) => m.ms));
  const phases = (p: Record<string, number>) => Object.entries(p).filter(([, ms]) => ms >= 20).map(([k, ms]) => `${k} ${fmt(ms)}`).join(', ');

  const timed = async (path: string, times = 40) => {
    const ms: number[] = [];
    for (let i = 0; i < times; i++) {
      const s = performance.now();
      const res = await t.app.inject({ method: 'GET', url: path, headers: { authorization: `Bearer ${op}` } });
      if (res.statusCode !== 200) throw new Error(`${path}: ${res.statusCode} ${res.body}`);
      ms.push(performance.now() - s);
    }
    ms.sort((a, b) => a - b);
    return { p50: ms[ms.length >> 1]!, p95: ms[Math.floor(ms.length * 0.95)]! };
  };
  const top1h = await timed('/ops/api/top-tenants?by=requests&window=1h');
  const topRate = await timed('/ops/api/top-tenants?by=errorRate&window=1h');
  const top15 = await timed('/ops/api/top-tenants?by=apiTimeShare&window=15m', 10);
  const top6h = await timed('/ops/api/top-tenants?by=requests&window=6h', 10);
  const list = await timed('/ops/api/tenants?sort=requests&limit=50');
  const minuteOfHour = new Date().getUTCMinutes();

  // Storage: rolled into hours, what a million requests cost on disk at each grain.
  await sql`
    INSERT INTO tenant_signals (tenant_id, grain, at, requests, r2xx, r5xx, api_us, l10, l11, l12)
    SELECT tenant_id, 'h', ${hour}, sum(requests), sum(r2xx), sum(r5xx), sum(api_us), sum(l10), sum(l11), sum(l12) FROM tenant_signals WHERE grain = 'm' GROUP BY tenant_id
    ON CONFLICT DO NOTHING`.execute(db);
  await sql`VACUUM ANALYZE tenant_signals`.execute(db);
  const size = await sql<{ grain: string; rows: string; requests: string; bytes: string }>`
    SELECT grain, count(*) AS rows, sum(requests) AS requests,
           (count(*) * (SELECT pg_total_relation_size('tenant_signals')::float8 / greatest(1, (SELECT count(*) FROM tenant_signals))))::bigint AS bytes
    FROM tenant_signals GROUP BY grain ORDER BY grain`.execute(db);
  const byGrain = Object.fromEntries(size.rows.map((r) => [r.grain, { rows: Number(r.rows), requests: Number(r.requests), bytes: Number(r.bytes) }]));
  const perMillion = (g: string) => (byGrain[g] ? (byGrain[g]!.bytes / byGrain[g]!.requests) * 1e6 : NaN);
  const perRow = byGrain.m ? byGrain.m.bytes / byGrain.m.rows : NaN;

  out.push(`### Storage and "top tenants, last hour" with ${TENANTS.toLocaleString('en-US')} tenants
${TENANTS.toLocaleString('en-US')} tenants, each active in ${Math.round(ACTIVE * 100)}% of the last hour's minutes with 1 to ~1,100 requests a
minute: ${minuteRows.toLocaleString('en-US')} minute rows (seeded in ${fmt(seeded)} s; the hour that ended rolled up). The evaluator at
that scale (last-hour figures into tenant_health, every rule for every tenant, alerts): its usual minute, after a minute of
new rows, **${fmt(later.median)} ms** (median of ${minutes.length - 1}; ${fmt(later.min)} – ${fmt(later.max)}; ${phases(minutes[minutes.length - 1]!.phases)});
its first minute, which counts every tenant (also after a gap of an hour, a clock going back or a late batch), ${fmt(first.ms)} ms
(${phases(first.phases)}). Machine load: ${loadNote()}.

| query (through the ops API, operator token) | p50 ms | p95 ms |
| --- | ---: | ---: |
| top tenants by requests, last hour | ${fmt(top1h.p50, 1)} | **${fmt(top1h.p95, 1)}** |
| top tenants by error rate, last hour | ${fmt(topRate.p50, 1)} | ${fmt(topRate.p95, 1)} |
| top tenants by share of API time, last 15 min (minute rows, ranked in SQL) | ${fmt(top15.p50, 1)} | ${fmt(top15.p95, 1)} |
| top tenants by requests, last 6 hours (hour rows, minutes for the hour going on: ${minuteOfHour} min of it) | ${fmt(top6h.p50, 1)} | ${fmt(top6h.p95, 1)} |
| tenants list sorted by last-hour requests, 50 a page (tenant_health's index) | ${fmt(list.p50, 1)} | ${fmt(list.p95, 1)} |

Goal: "top tenants, last hour" p95 under 100 ms; it reads tenant_health through its index. A window of hours reads hour
rows for its whole hours and minute rows for the hour going on and for its first, partial hour, an hour of minutes in all;
here only the last hour has minutes, so the 6-hour figure holds the hour going on (the later in the hour, the more rows)
and not the first hour's minutes that a deployment keeps (48 h by default): expect about the 15-minute query's cost four
times over there.
Storage (table and indexes, shared out by row): ${fmt(perRow)} bytes per row; **${fmt(perMillion('m'))} bytes per million requests as
minute rows** (kept ${t.platform.config.BRIGADE_SIGNAL_MINUTE_RETENTION_HOURS} h), **${fmt(perMillion('h'))} bytes per million requests after rollup into hours** (kept
${t.platform.config.BRIGADE_SIGNAL_HOUR_RETENTION_DAYS} days); a day row holds a day of an hour row's figures in the same size.
`);
} finally {
  await t.close();
}
process.stdout.write(out.join('\n'));
