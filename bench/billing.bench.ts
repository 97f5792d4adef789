/**
 * Billing: (1) webhook events verified, stored and acknowledged per second, against a bare
 * baseline in the same run (node:http + the same HMAC check + one INSERT, no framework, no
 * tenant lookup, no job), each in a process of its own (`brigade serve` at LOG_LEVEL=info), a
 * warm-up, then at least five alternating rounds: medians with min and max; (2) a
 * reconciliation of 10,000 businesses against the simulator, against the bare cost of reading
 * both sides (one SELECT here, the paged listing there). BENCH_RECONCILE=0 skips (2).
 */
import crypto from 'node:crypto';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import pino from 'pino';
import Stripe from 'stripe';
import { createTestContext, aTenant, type TestContext } from '../test/harness.ts';
import { createLogger } from '../src/platform/log.ts';
import { fmt } from './load.ts';
import { baselineProcess, brigadeApi, loadNote, rounds, spread, type Server } from './processes.ts';
import { billingModule, simulatorSecretKey, simulatorWebhookSecret, startPaymentSimulator, type PaymentSimulator } from '../src/modules/billing/index.ts';

/** Events per side and round. */
const WEBHOOKS = Number(process.env.BENCH_WEBHOOKS ?? 5_000);
const WARMUP = Number(process.env.BENCH_WEBHOOK_WARMUP ?? 3_000);
const TENANTS = Number(process.env.BENCH_TENANTS ?? 10_000);
const RECONCILE = process.env.BENCH_RECONCILE !== '0';
const CONNECTIONS = 16;
const work = mkdtempSync(path.join(tmpdir(), 'brigade-bench-'));
const signer = new Stripe('sk_test_unused');
const progress = (message: string) => process.stderr.write(`billing bench: ${message}\n`);

function signedLines(count: number, tenantId: string, subscriptionId: string, customerId: string, duplicateOf?: string[]): { file: string; ids: string[] } {
  const ids: string[] = [];
  const out: string[] = [];
  const now = Math.floor(Date.now() / 1000);
  for (let i = 0; i < count; i++) {
    const id = duplicateOf ? duplicateOf[i % duplicateOf.length]! : `evt_bench_${crypto.randomBytes(9).toString('hex')}`;
    ids.push(id);
    const body = JSON.stringify({
      id,
      object: 'event',
      api_version: Stripe.API_VERSION,
      created: now,
      livemode: false,
      pending_webhooks: 1,
      request: { id: null, idempotency_key: null },
      type: 'customer.subscription.updated',
      data: { object: { id: subscriptionId, object: 'subscription', customer: customerId, status: 'trialing', metadata: { tenantId } }, previous_attributes: {} },
    });
    out.push(JSON.stringify({ body, signature: signer.webhooks.generateTestHeaderString({ payload: body, secret: simulatorWebhookSecret, timestamp: now }) }));
  }
  const file = path.join(work, `${crypto.randomBytes(4).toString('hex')}.jsonl`);
  writeFileSync(file, out.join('\n'));
  return { file, ids };
}

/** Runs the load generator in its own process; asynchronously, since the servers it drives live in this one. */
async function drive(url: string, file: string): Promise<{ count: number; perSecond: number; p50: number; p99: number; non2xx: number }> {
  const child = spawn(process.execPath, ['--import', 'tsx', path.resolve('bench/post-signed.ts'), url, file, String(CONNECTIONS)], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString('utf8')));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  if (code !== 0) throw new Error(`load generator failed (exit ${code})`);
  return JSON.parse(out);
}

/** The simulator's state with `count` customers and trialing subscriptions cloned from one made through the API. */
async function seedProvider(count: number, statePath: string): Promise<{ subscriptions: { id: string; customer: string; tenantId: string; trialEnd: number; periodStart: number }[] }> {
  const sim = await startPaymentSimulator({ secretKey: simulatorSecretKey, webhookSecret: simulatorWebhookSecret, statePath, clockTickMs: 0 });
  const stripe = new Stripe(simulatorSecretKey, { host: '127.0.0.1', port: sim.port, protocol: 'http' });
  const price = (await stripe.prices.list({ lookup_keys: ['starter'] })).data[0]!;
  const customer = await stripe.customers.create({ name: 'template', metadata: { tenantId: 'template' } });
  const trialEnd = Math.floor(Date.now() / 1000) + 14 * 86_400;
  await stripe.subscriptions.create({ customer: customer.id, items: [{ price: price.id }], trial_end: trialEnd, metadata: { tenantId: 'template', planChosen: 'false' } });
  await sim.close();
  const data = JSON.parse(readFileSync(statePath, 'utf8'));
  const templateCustomer = Object.values(data.customers)[0] as Record<string, any>;
  const templateSubscription = Object.values(data.subscriptions)[0] as Record<string, any>;
  data.customers = {};
  data.subscriptions = {};
  data.invoices = {};
  data.events = [];
  data.subscriptionBookkeeping = {};
  const subscriptions = [];
  for (let i = 0; i < count; i++) {
    const tenantId = crypto.randomUUID();
    const c = { ...structuredClone(templateCustomer), id: `cus_bench${i.toString(36).padStart(8, '0')}`, metadata: { tenantId } };
    const s = structuredClone(templateSubscription);
    s.id = `sub_bench${i.toString(36).padStart(8, '0')}`;
    s.customer = c.id;
    s.metadata = { tenantId, planChosen: 'false' };
    s.latest_invoice = null;
    s.items.data[0].id = `si_bench${i.toString(36).padStart(8, '0')}`;
    s.items.data[0].subscription = s.id;
    data.customers[c.id] = c;
    data.subscriptions[s.id] = s;
    data.subscriptionBookkeeping[s.id] = { trialWillEndSentFor: null, pendingProrations: [] };
    subscriptions.push({ id: s.id, customer: c.id, tenantId, trialEnd: s.trial_end, periodStart: s.items.data[0].current_period_start });
  }
  writeFileSync(statePath, JSON.stringify(data));
  return { subscriptions };
}

/** The same businesses on Brigade's side, in two statements. */
async function seedBrigade(t: TestContext, subs: { id: string; customer: string; tenantId: string; trialEnd: number; periodStart: number }[]): Promise<void> {
  const pool = new pg.Pool({ connectionString: t.ownerUrl, max: 2 });
  try {
    await pool.query(`INSERT INTO tenants (id, name, slug) SELECT id, 'Bench ' || n, 'bench-' || n FROM unnest($1::uuid[]) WITH ORDINALITY AS u(id, n)`, [subs.map((s) => s.tenantId)]);
    await pool.query(
      `INSERT INTO subscriptions (tenant_id, plan, status, trial_started_at, trial_ends_at, current_period_start, current_period_end,
                                  provider, provider_customer_id, provider_subscription_id, provider_status, created_at)
       SELECT tenant_id, 'trial', 'trialing', to_timestamp(start), to_timestamp(trial_end), to_timestamp(start), to_timestamp(trial_end),
              'simulator', customer_id, subscription_id, 'trialing', now() - interval '1 day'
       FROM unnest($1::uuid[], $2::text[], $3::text[], $4::bigint[], $5::bigint[]) AS u(tenant_id, customer_id, subscription_id, trial_end, start)`,
      [subs.map((s) => s.tenantId), subs.map((s) => s.customer), subs.map((s) => s.id), subs.map((s) => s.trialEnd), subs.map((s) => s.periodStart)],
    );
  } finally {
    await pool.end();
  }
}

let sim: PaymentSimulator | null = null;
let t: TestContext | null = null;
let api: Server | null = null;
let bare: Server | null = null;
try {
  const statePath = path.join(work, 'simulator.json');
  progress('seeding the provider');
  const seeded = await seedProvider(RECONCILE ? TENANTS : 1, statePath);
  progress('starting');
  sim = await startPaymentSimulator({ secretKey: simulatorSecretKey, webhookSecret: simulatorWebhookSecret, statePath, readOnlyState: true, clockTickMs: 0, webhookDelivery: { automatic: false } });
  t = await createTestContext(
    { LOG_LEVEL: 'info', BRIGADE_SIMULATOR_PORT: String(sim.port), BRIGADE_TENANT_RATE_LIMIT: '0' },
    { log: createLogger('info', pino.destination('/dev/null')) },
  );
  const billing = billingModule(t.platform);

  // ---- (1) webhooks
  const owner = await aTenant(t.app, 'Webhook Bench Bistro');
  const before = loadNote();
  api = await brigadeApi(t.ownerUrl, { BRIGADE_SIMULATOR_PORT: String(sim.port) });
  const webhookUrl = `${api.url}/v1/billing/webhooks/stripe`;
  const bareTable = `bench_inbox_${crypto.randomBytes(3).toString('hex')}`;
  const barePool = new pg.Pool({ connectionString: t.ownerUrl, max: 1 });
  barePool.on('error', () => undefined);
  await barePool.query(`CREATE TABLE ${bareTable} (id text PRIMARY KEY, payload jsonb NOT NULL, received_at timestamptz NOT NULL DEFAULT now())`);
  bare = await baselineProcess('bench/bare-webhooks.ts', { BARE_DATABASE_URL: t.ownerUrl, BARE_TABLE: bareTable });
  const bareUrl = `${bare.url}/webhooks`;

  const ids = { tenantId: owner.tenant.id, subscriptionId: 'sub_webhook_bench', customerId: 'cus_webhook_bench' };
  const events = (n: number) => signedLines(n, ids.tenantId, ids.subscriptionId, ids.customerId);
  progress('webhooks: warm-up');
  await drive(bareUrl, events(WARMUP).file);
  await drive(webhookUrl, events(WARMUP).file);
  type Run = Awaited<ReturnType<typeof drive>>;
  const runs = { bare: [] as Run[], brigade: [] as Run[] };
  let firstFresh: { file: string; ids: string[] } | null = null;
  for (let r = 0; r < rounds; r++) {
    progress(`webhooks: round ${r + 1} of ${rounds}`);
    const sides = r % 2 === 0 ? (['bare', 'brigade'] as const) : (['brigade', 'bare'] as const);
    for (const side of sides) {
      const fresh = events(WEBHOOKS);
      if (side === 'brigade') firstFresh ??= fresh;
      const result = await drive(side === 'bare' ? bareUrl : webhookUrl, fresh.file);
      if (result.non2xx) throw new Error(`${side}: ${result.non2xx} non-2xx answers in round ${r + 1}`);
      runs[side].push(result);
    }
  }
  const duplicates = await drive(webhookUrl, signedLines(WEBHOOKS, ids.tenantId, ids.subscriptionId, ids.customerId, firstFresh!.ids).file);
  if (duplicates.non2xx) throw new Error(`duplicates: ${duplicates.non2xx} non-2xx answers`);
  const inbox = await t.platform.tenancy.withSystem('bench', (trx) =>
    trx.selectFrom('billing_events').select((eb) => eb.fn.countAll<string>().as('n')).where('provider_event_id', 'in', firstFresh!.ids.slice(0, 1000)).executeTakeFirstOrThrow(),
  );
  if (Number(inbox.n) !== Math.min(1000, firstFresh!.ids.length)) throw new Error('events were acknowledged without being stored');
  const loadAfter = loadNote();
  await api.stop();
  api = null;
  await bare.stop();
  bare = null;
  await barePool.query(`DROP TABLE ${bareTable}`);
  await barePool.end();
  const rate = (side: 'bare' | 'brigade') => spread(runs[side].map((x) => x.perSecond));
  const ratio = spread(runs.brigade.map((x, i) => x.perSecond / runs.bare[i]!.perSecond));
  const med = (side: 'bare' | 'brigade', k: 'p50' | 'p99') => spread(runs[side].map((x) => x[k])).median;
  const webhookRow = (name: string, side: 'bare' | 'brigade') =>
    `| ${name} | ${fmt(rate(side).median)} | ${fmt(rate(side).min)} – ${fmt(rate(side).max)} | ${med(side, 'p50')} | ${med(side, 'p99')} |`;
  const webhookSection = `### Webhooks stored and acknowledged
Signed \`customer.subscription.updated\` events, ${fmt(WEBHOOKS)} per side and round, ${CONNECTIONS} keep-alive connections from a
separate process; Brigade (\`brigade serve\`, \`LOG_LEVEL=info\`) and the bare server each in a process of their own,
PostgreSQL on the same machine. ${fmt(WARMUP)} events of warm-up each, then ${rounds} alternating rounds.

| | events/s (median) | min – max | p50 ms | p99 ms |
| --- | ---: | ---: | ---: | ---: |
${webhookRow('bare: node:http, same HMAC check, one INSERT', 'bare')}
${webhookRow('Brigade: POST /v1/billing/webhooks/stripe, new events', 'brigade')}
| Brigade: the events of one round again (duplicates), once | ${fmt(duplicates.perSecond)} | | ${duplicates.p50} | ${duplicates.p99} |

**New events: ${fmt(ratio.median * 100, 1)}% of bare throughput** (median of the per-round ratios; min ${fmt(ratio.min * 100, 1)}%, max ${fmt(ratio.max * 100, 1)}%; target ≥ 60% and ≥ 1,500 events/s).
Each is verified, routed to its business and stored under its id in one statement (its own
transaction, one round trip) before the 200; its processing job follows from a batched sweep
(bare: no tenant lookup, no job, no framework). Duplicates end at the primary key.
Machine load before: ${before}; after: ${loadAfter}.
`;
  if (!RECONCILE) {
    process.stdout.write(`## Billing: webhook inbox and reconciliation\n\n${webhookSection}\n(Reconciliation skipped: BENCH_RECONCILE=0.)\n`);
  } else {
    // ---- (2) reconciliation of 10,000 businesses
    progress('reconciliation');
    await seedBrigade(t, seeded.subscriptions);
    const bareStarted = performance.now();
    const localRows = await t.platform.tenancy.withSystem('bench', (trx) => trx.selectFrom('subscriptions').select(['tenant_id', 'status', 'plan', 'current_period_end', 'provider_subscription_id']).execute());
    let listed = 0;
    for await (const _ of billing.provider.listSubscriptions()) listed++;
    const bareMs = performance.now() - bareStarted;

    const clean = await billing.reconciler.reconcile({ trigger: 'bench' });
    if (clean.tenantsChecked < TENANTS) throw new Error(`checked ${clean.tenantsChecked} of ${TENANTS}`);
    // 1% of the businesses drift (a lost cancel_at_period_end), and are repaired.
    const drifted = seeded.subscriptions.slice(0, Math.ceil(TENANTS / 100)).map((s) => s.tenantId);
    await t.platform.tenancy.withSystem('bench: drift', (trx) => trx.updateTable('subscriptions').set({ cancel_at_period_end: true }).where('tenant_id', 'in', drifted).execute());
    const repairing = await billing.reconciler.reconcile({ trigger: 'bench' });
    if (repairing.repaired < drifted.length) throw new Error(`repaired ${repairing.repaired} of ${drifted.length}`);
    const after = await billing.reconciler.reconcile({ trigger: 'bench' });
    if (after.divergences !== 0) throw new Error(`${after.divergences} divergences after repair`);

    process.stdout.write(`## Billing: webhook inbox and reconciliation

${webhookSection}
### Reconciliation of ${fmt(TENANTS)} businesses
Simulator seeded with ${fmt(TENANTS)} trialing subscriptions, Brigade with the same businesses (set-based inserts).

| | ms | vs bare |
| --- | ---: | ---: |
| bare: one SELECT of every subscription + the provider's paged listing (${fmt(listed)} subscriptions, ${Math.ceil(listed / 100)} pages) | ${fmt(bareMs)} | 1.00 |
| reconcile, nothing to repair (${fmt(clean.tenantsChecked)} checked) | ${fmt(clean.durationMs)} | ${fmt(clean.durationMs / bareMs, 2)} |
| reconcile, 1% drifted: ${fmt(repairing.divergences)} divergences found and ${fmt(repairing.repaired)} repaired | ${fmt(repairing.durationMs)} | ${fmt(repairing.durationMs / bareMs, 2)} |
| reconcile again: ${after.divergences} divergences | ${fmt(after.durationMs)} | ${fmt(after.durationMs / bareMs, 2)} |

Local rows read: ${fmt(localRows.length)}. A repair re-reads that subscription under the business's row lock
(one or two provider calls each, 4 at a time), so the cost beyond the bare reads grows with the
number of divergences, not of businesses.
`);
  }
} catch (err) {
  process.stderr.write(`billing bench failed: ${(err as Error).stack}\n`);
  process.exitCode = 1;
} finally {
  await api?.stop();
  await bare?.stop();
  await t?.close();
  await sim?.close();
  rmSync(work, { recursive: true, force: true });
}
