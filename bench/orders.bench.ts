/**
 * Order placement plus payment (a "sale": open an order of two lines, pay it by card, which
 * takes the recipes from stock) through the whole API, against the same SQL sent directly with
 * pg in the same run. The load driver (bench/till.ts) and Brigade's API (`brigade serve` at
 * LOG_LEVEL=info, bench/processes.ts) each run in a process of their own; a warm-up, then at least
 * five alternating rounds: medians of the per-round ratios with min and max.
 */
import path from 'node:path';
import { spawn } from 'node:child_process';
import pg from 'pg';
import { createTestContext, aTenant, aBranch, aMember } from '../test/harness.ts';
import { aMenuItem, anInventoryItem, deliver } from '../test/hospitality.fixtures.ts';
import { billingModule } from '../src/modules/billing/index.ts';
import { fmt, type LoadResult } from './load.ts';
import { alternate, brigadeApi, loadNote, rounds, seconds, spread, warmupSeconds, type Server } from './processes.ts';
import type { TillConfig, TillResult } from './till.ts';

const concurrency = Number(process.env.BENCH_CONCURRENCY ?? 16);
const BRANCHES = 8;

const t = await createTestContext({ LOG_LEVEL: 'silent', BRIGADE_TENANT_RATE_LIMIT: '1000000' });
let api: Server | null = null;
try {
  const owner = await aTenant(t.app, 'Bench Café Group');
  // A plan with no order quota and no rate of its own: the benchmark sells well past a trial's.
  await t.platform.tenancy.withSystem('bench: plan', (trx) => trx.updateTable('subscriptions').set({ plan: 'enterprise', status: 'active' }).where('tenant_id', '=', owner.tenant.id).execute());
  billingModule(t.platform).service.invalidate(owner.tenant.id);
  const stock = [];
  for (const [name, unit] of [['Beans', 'kg'], ['Milk', 'l'], ['Flour', 'kg'], ['Butter', 'kg']] as const) {
    stock.push(await anInventoryItem(t, owner, { name, unit, reorderLevel: 1 }));
  }
  const [beans, milk, flour, butter] = stock.map((s) => s.id) as [string, string, string, string];
  const menu = [
    await aMenuItem(t, owner, { name: 'Latte', priceMinor: 350, recipe: [{ inventoryItemId: beans, quantity: 0.018 }, { inventoryItemId: milk, quantity: 0.2 }] }),
    await aMenuItem(t, owner, { name: 'Espresso', priceMinor: 200, recipe: [{ inventoryItemId: beans, quantity: 0.018 }] }),
    await aMenuItem(t, owner, { name: 'Croissant', priceMinor: 260, recipe: [{ inventoryItemId: flour, quantity: 0.06 }, { inventoryItemId: butter, quantity: 0.03 }] }),
    await aMenuItem(t, owner, { name: 'Scone', priceMinor: 300, recipe: [{ inventoryItemId: flour, quantity: 0.07 }, { inventoryItemId: butter, quantity: 0.02 }] }),
  ];
  const tills: TillConfig['tills'] = [];
  for (let b = 0; b < BRANCHES; b++) {
    const branchId = await aBranch(t, owner.tenant.id, `Branch ${b + 1}`);
    for (const item of stock) await deliver(t, owner, item.id, branchId, 1_000_000);
    const cashier = await aMember(t, owner, 'cashier', branchId);
    tills.push({ token: cashier.token, userId: cashier.user.id, branchId });
  }
  process.stderr.write('orders bench: set up\n');
  const before = loadNote();
  api = await brigadeApi(t.ownerUrl);

  const base: Omit<TillConfig, 'mode' | 'seconds'> = {
    concurrency,
    baseUrl: api.url,
    ownerUrl: t.ownerUrl,
    runtimeUrl: t.platform.db.runtimeUrl,
    queuePrefix: t.platform.config.BRIGADE_QUEUE_PREFIX,
    tenantId: owner.tenant.id,
    currency: owner.tenant.currency,
    tills,
    menu: menu.map((m) => ({ id: m.id, priceMinor: m.priceMinor })),
  };
  const run = async (mode: TillConfig['mode'], secs: number): Promise<TillResult> => {
    process.stderr.write(`orders bench: ${mode} for ${secs}s\n`);
    const child = spawn(process.execPath, ['--import', 'tsx', path.resolve('bench/till.ts')], {
      env: { ...process.env, TILL_CONFIG: JSON.stringify({ ...base, mode, seconds: secs }) },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString('utf8')));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    if (code !== 0) throw new Error(`till ${mode} exited with ${code}`);
    const result = JSON.parse(out) as TillResult;
    if (result.errors) throw new Error(`till ${mode}: ${result.errors} failed sales, first: ${result.firstError}`);
    return result;
  };

  // Modes take turns (alternating order), so a neighbour's burst on this shared machine hits all of them.
  const modes = ['sql', 'service', 'api', 'api-keyed'] as const;
  const asLoad = (r: TillResult): LoadResult => ({ requestsPerSecond: r.salesPerSecond, p50: r.p50, p99: r.p99, errors: 0, non2xx: 0 });
  const results = await alternate(modes.map((mode) => ({ name: mode, run: async (secs: number) => asLoad(await run(mode, secs)) })));
  const sql = results.get('sql')!;
  const summary = (mode: (typeof modes)[number]) => {
    const rs = results.get(mode)!;
    return {
      rate: spread(rs.map((r) => r.requestsPerSecond)),
      ratio: spread(rs.map((r, i) => r.requestsPerSecond / sql[i]!.requestsPerSecond)),
      p50: spread(rs.map((r) => r.p50)).median,
      p99: spread(rs.map((r) => r.p99)).median,
    };
  };

  // The runs must have left the books straight: every sale paid once, stock equal to its ledger.
  const check = new pg.Client({ connectionString: t.ownerUrl });
  await check.connect();
  const books = (
    await check.query<{ paid: string; payments: string; drift: string; movements: string }>(
      `SELECT (SELECT count(*) FROM orders WHERE tenant_id = $1 AND status = 'paid') AS paid,
              (SELECT count(*) FROM payments WHERE tenant_id = $1) AS payments,
              (SELECT count(*) FROM stock_movements WHERE tenant_id = $1 AND kind = 'sale') AS movements,
              (SELECT count(*) FROM stock_levels s WHERE tenant_id = $1 AND on_hand <>
                 (SELECT sum(quantity_delta) FROM stock_movements m WHERE m.tenant_id = s.tenant_id AND m.inventory_item_id = s.inventory_item_id AND m.branch_id = s.branch_id)) AS drift`,
      [owner.tenant.id],
    )
  ).rows[0]!;
  await check.end();
  if (books.paid !== books.payments || books.drift !== '0') throw new Error(`books do not balance: ${JSON.stringify(books)}`);

  const pct = (x: number) => `${fmt(x * 100)}%`;
  const row = (name: string, mode: (typeof modes)[number]) => {
    const s = summary(mode);
    return `| ${name} | ${fmt(s.rate.median)} | ${fmt(s.rate.min)} – ${fmt(s.rate.max)} | ${pct(s.ratio.median)} (${pct(s.ratio.min)} – ${pct(s.ratio.max)}) | ${s.p50} | ${s.p99} |`;
  };
  process.stdout.write(`## Orders: placement and payment through the API vs the same SQL

A sale = \`POST /v1/orders\` (two lines) then \`POST /v1/orders/:id/pay\` (card), which takes the
recipes from stock (locks the order, records the payment and the status, locks the branch's
stock levels in item order, writes the levels and the ledger) in one transaction. ${concurrency} tills selling
back to back, spread over ${BRANCHES} branches (two tills per branch share
its stock rows), as branch cashiers of a business on a plan without an order quota. The load
driver runs in its own process, as does the API (\`brigade serve\`, \`NODE_ENV=production\`,
\`LOG_LEVEL=info\`, every line written); PostgreSQL on the same machine. ${warmupSeconds} s warm-up per
mode, then ${rounds} alternating rounds of ${seconds} s; medians over the rounds, ratios per round.

| | sales/s (median) | min – max | of direct SQL (min – max) | p50 ms | p99 ms |
| --- | ---: | ---: | ---: | ---: | ---: |
${row('direct SQL: the same statements with pg, runtime role, RLS, same transactions', 'sql')}
${row('use cases in-process (placeOrder + payOrder, no HTTP)', 'service')}
${row('API: HTTP, token check, rate limit, validation, permission per branch, logs', 'api')}
${row('API with an Idempotency-Key on both calls', 'api-keyed')}

**API: ${pct(summary('api').ratio.median)} of direct SQL** (target ≥ 70%); **with an Idempotency-Key: ${pct(summary('api-keyed').ratio.median)}** (target ≥ 60%).

After the runs: ${books.paid} orders paid, ${books.payments} payments, ${books.movements} sale movements,
${books.drift} stock levels differing from their ledger.

Round trips to PostgreSQL per sale, direct SQL and the use cases alike: 5 (placement: BEGIN, the
context, the branch check, the plan's quota and the menu prices pipelined; the order and its
lines in one statement with the COMMIT; payment: BEGIN, the context, the order's lock, its lines and
their recipes pipelined; the payment and status in one statement pipelined with the stock rows
ensured and locked in item order; levels and ledger in one statement with the COMMIT: the stock
rows every till of a branch shares are held for two round trips). The API adds the auth-changed
probe to each COMMIT; the cashier's permission to pay needs the order's branch, which the process
that placed the order already knows (an order never changes branch; another process reads it
once): 5 in all here (before: 15).
An Idempotency-Key on each call adds its lock and read (pipelined with BEGIN) and the stored
response (sent with the COMMIT), and makes the use case a savepoint whose SAVEPOINT and RELEASE
ride with neighbouring statements: 9 in all (before: 27). Named statements on both sides.
The machine's 2 cores are shared with PostgreSQL, the
load driver and other work, so absolute numbers move between runs; the ratios are the point.
Machine load before: ${before}; after: ${loadNote()}.
`);
} finally {
  await api?.stop();
  await t.close();
}
