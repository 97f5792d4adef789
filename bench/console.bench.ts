/**
 * The operations console: what it ships and how soon an operator can use the overview.
 *
 *   assets     bytes of the built console (console/dist), raw and gzipped as served
 *              (goal: under 500 kB gzipped)
 *   overview   time to interactive: from navigation start until the queues table shows its
 *              rows and the outbox card its lag (data fetched through the ops API and drawn),
 *              in a fresh browser profile (cold cache) and again with the cache warm
 *              (goal: under 1 s)
 *   tenants    time to interactive of the tenants page with 10,000 businesses present (seeded
 *              with SQL: subscriptions and last-hour health for each), sorted by name and by
 *              error rate: from navigation start until its first page of 50 rows is drawn
 *   baseline   the same browser loading a page of the same server that runs no script
 *              (/healthz): the floor every page pays, measured in the same run
 * Debian's Chromium through playwright-core, the app with the production log level (info
 * written to /dev/null is what a deployment pays; warn here keeps the bench's output clean).
 * BENCH_TENANTS changes the number of businesses (a smoke run can use fewer).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import type { AddressInfo } from 'node:net';
import { chromium, type Page } from 'playwright-core';
import { sql } from 'kysely';
import { createTestContext, aTenant, anOperator } from '../test/harness.ts';
import { consoleDist } from '../src/modules/ops/index.ts';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 7);
const TENANTS = Number(process.env.BENCH_TENANTS ?? 10_000);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

if (!fs.existsSync(path.join(consoleDist, 'index.html'))) throw new Error('console/dist is missing: run npm run build:console first');
let raw = 0;
let gzipped = 0;
const walk = (dir: string) => {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, e.name);
    if (e.isDirectory()) walk(full);
    else {
      const body = fs.readFileSync(full);
      raw += body.length;
      gzipped += zlib.gzipSync(body, { level: 9 }).length;
    }
  }
};
walk(consoleDist);

const t = await createTestContext({ LOG_LEVEL: 'warn' });
const address = await t.app.listen({ port: 0, host: '127.0.0.1' });
const port = (t.app.server.address() as AddressInfo).port;
for (let i = 0; i < 5; i++) await aTenant(t.app, `Bench Bistro ${i}`);
const { token } = await anOperator(t);
// The rest of the businesses in three statements: names that sort apart, a spread of plans,
// statuses and last-hour health, so every sort has real work to do.
await sql`
  INSERT INTO tenants (name, slug, created_at)
  SELECT 'Bench Business ' || lpad(i::text, 6, '0'), 'bench-business-' || i, now() - i * interval '1 minute'
  FROM generate_series(1, ${TENANTS}) AS i`.execute(t.platform.db.system);
await sql`
  INSERT INTO subscriptions (tenant_id, plan, status, trial_ends_at, current_period_start, current_period_end)
  SELECT id, (ARRAY['trial', 'starter', 'pro', 'enterprise'])[1 + abs(hashtext(slug)) % 4], (ARRAY['trialing', 'active', 'active', 'past_due', 'grace'])[1 + abs(hashtext(name)) % 5],
         now() + interval '10 days', now() - interval '20 days', now() + interval '10 days'
  FROM tenants WHERE slug LIKE 'bench-business-%'`.execute(t.platform.db.system);
await sql`
  INSERT INTO tenant_health (tenant_id, requests, errors_5xx, error_rate, p50_ms, p95_ms, p99_ms, api_ms, window_end)
  SELECT id, r, r * e / 1000, e / 1000.0, 20, 40 + abs(hashtext(slug)) % 400, 500, r * 30, now()
  FROM (SELECT id, slug, abs(hashtext(name)) % 5000 AS r, abs(hashtext(slug || 'e')) % 50 AS e FROM tenants WHERE slug LIKE 'bench-business-%') AS x
  ON CONFLICT (tenant_id) DO UPDATE SET requests = excluded.requests, errors_5xx = excluded.errors_5xx, error_rate = excluded.error_rate, p95_ms = excluded.p95_ms, window_end = excluded.window_end`.execute(t.platform.db.system);
await sql`ANALYZE tenants; ANALYZE subscriptions; ANALYZE tenant_health`.execute(t.platform.db.system);

const flags = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/** Until the page is usable: the overview's queues and outbox lag, or a full first page of businesses. */
const ready: Record<string, (page: Page) => Promise<void>> = {
  '/ops/': async (page) => {
    await page.locator('tbody tr').first().waitFor();
    await page.getByText('Outbox lag').waitFor();
  },
  '/ops/tenants': (page) => page.locator('tbody tr:nth-child(50)').waitFor(),
  '/ops/tenants?sort=errorRate': (page) => page.locator('tbody tr:nth-child(50)').waitFor(),
};

async function measure(warm: boolean, url = '/ops/'): Promise<{ tti: number[]; floor: number[] }> {
  const tti: number[] = [];
  const floor: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'brigade-bench-'));
    const context = await chromium.launchPersistentContext(profile, { executablePath: '/usr/bin/chromium', headless: true, viewport: { width: 1280, height: 900 }, args: flags });
    try {
      await context.addInitScript((tok) => sessionStorage.setItem('brigade.ops.token', tok), token);
      const page = context.pages()[0] ?? (await context.newPage());
      await page.goto(`${address}/healthz`);
      floor.push(await page.evaluate(() => performance.getEntriesByType('navigation')[0]!.duration));
      if (warm) {
        await page.goto(`${address}${url}`);
        await ready[url]!(page);
      }
      await page.goto(`${address}${url}`, { waitUntil: 'commit' });
      await ready[url]!(page);
      tti.push(await page.evaluate(() => performance.now()));
    } finally {
      await context.close();
      fs.rmSync(profile, { recursive: true, force: true });
    }
  }
  return { tti, floor };
}

const cold = await measure(false);
const warm = await measure(true);
const tenantsByName = await measure(true, '/ops/tenants');
const tenantsByErrors = await measure(true, '/ops/tenants?sort=errorRate');
await t.close();

const floor = median([...cold.floor, ...warm.floor, ...tenantsByName.floor, ...tenantsByErrors.floor]);
const fmt = (ms: number) => `${Math.round(ms)} ms`;
const kb = (n: number) => `${(n / 1024).toFixed(1)} kB`;
process.stdout.write(`## Operations console

Console assets (console/dist): **${kb(gzipped)} gzipped** (${kb(raw)} raw); goal under 500 kB gzipped.

Time to interactive (the overview's queues and outbox lag; the tenants page's first 50 rows; drawn from the ops API), median of ${ROUNDS} runs, Debian Chromium headless, port ${port}:

| page | median | ratio to baseline |
| --- | --- | --- |
| baseline: /healthz, no script | ${fmt(floor)} | 1.0 |
| overview, cold cache | ${fmt(median(cold.tti))} | ${(median(cold.tti) / floor).toFixed(1)} |
| overview, warm cache | ${fmt(median(warm.tti))} | ${(median(warm.tti) / floor).toFixed(1)} |
| tenants page, ${TENANTS.toLocaleString('en')} businesses, by name, warm cache | ${fmt(median(tenantsByName.tti))} | ${(median(tenantsByName.tti) / floor).toFixed(1)} |
| tenants page, ${TENANTS.toLocaleString('en')} businesses, by error rate, warm cache | ${fmt(median(tenantsByErrors.tti))} | ${(median(tenantsByErrors.tti) / floor).toFixed(1)} |

Goal: under 1 s. Load when measured: ${os.loadavg().map((l) => l.toFixed(1)).join(' / ')} (1/5/15 min) on ${os.cpus().length} cores.`);
process.exit(0);
