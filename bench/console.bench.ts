/**
 * The operations console: what it ships and how soon an operator can use the overview.
 *
 *   assets     bytes of the built console (console/dist), raw and gzipped as served
 *              (goal: under 500 kB gzipped)
 *   overview   time to interactive: from navigation start until the queues table shows its
 *              rows and the outbox card its lag (data fetched through the ops API and drawn),
 *              in a fresh browser profile (cold cache) and again with the cache warm
 *              (goal: under 1 s)
 *   baseline   the same browser loading a page of the same server that runs no script
 *              (/healthz): the floor every page pays, measured in the same run
 * Debian's Chromium through playwright-core, the app with the production log level (info
 * written to /dev/null is what a deployment pays; warn here keeps the bench's output clean).
 * The tenants page with 10,000 businesses is measured when it exists (next wave).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import type { AddressInfo } from 'node:net';
import { chromium } from 'playwright-core';
import { createTestContext, aTenant, anOperator } from '../test/harness.ts';
import { consoleDist } from '../src/modules/ops/index.ts';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 7);
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

const flags = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

async function measure(warm: boolean): Promise<{ tti: number[]; floor: number[] }> {
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
        await page.goto(`${address}/ops/`);
        await page.locator('tbody tr').first().waitFor();
      }
      await page.goto(`${address}/ops/`, { waitUntil: 'commit' });
      await page.locator('tbody tr').first().waitFor();
      await page.getByText('Outbox lag').waitFor();
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
await t.close();

const floor = median([...cold.floor, ...warm.floor]);
const fmt = (ms: number) => `${Math.round(ms)} ms`;
const kb = (n: number) => `${(n / 1024).toFixed(1)} kB`;
process.stdout.write(`## Operations console

Console assets (console/dist): **${kb(gzipped)} gzipped** (${kb(raw)} raw); goal under 500 kB gzipped.

Time to interactive of the overview (queues and outbox lag drawn from the ops API), median of ${ROUNDS} runs, Debian Chromium headless, port ${port}:

| page | median | ratio to baseline |
| --- | --- | --- |
| baseline: /healthz, no script | ${fmt(floor)} | 1.0 |
| overview, cold cache | ${fmt(median(cold.tti))} | ${(median(cold.tti) / floor).toFixed(1)} |
| overview, warm cache | ${fmt(median(warm.tti))} | ${(median(warm.tti) / floor).toFixed(1)} |

Goal: under 1 s. Load when measured: ${os.loadavg().map((l) => l.toFixed(1)).join(' / ')} (1/5/15 min) on ${os.cpus().length} cores.`);
process.exit(0);
