/**
 * CPU per new webhook event (docs/decisions/0682): the API process and its PostgreSQL backends,
 * utime+stime from /proc, over a fixed load, the sweep included. ROOT=<a worktree> runs that
 * tree's API (compare main and a branch alternately); N events (default 10,000) after 3,000 of warm-up.
 */
import Stripe from 'stripe';
import crypto from 'node:crypto';
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import pg from 'pg';
import pino from 'pino';
const ROOT = process.env.ROOT!;
const N = Number(process.env.N ?? 10000);
const { createTestContext, aTenant } = await import(`${ROOT}/test/harness.ts`);
const { brigadeApi } = await import(`${ROOT}/bench/processes.ts`);
const { createLogger } = await import(`${ROOT}/src/platform/log.ts`);
const { simulatorWebhookSecret } = await import(`${ROOT}/src/modules/billing/index.ts`);
const signer = new Stripe('sk_test_unused');
function lines(count: number, tenantId: string): string {
  const out: string[] = []; const now = Math.floor(Date.now() / 1000);
  for (let i = 0; i < count; i++) {
    const body = JSON.stringify({ id: `evt_cpu_${crypto.randomBytes(9).toString('hex')}`, object: 'event', api_version: Stripe.API_VERSION, created: now, livemode: false, pending_webhooks: 1, request: { id: null, idempotency_key: null }, type: 'customer.subscription.updated', data: { object: { id: 'sub_x', object: 'subscription', customer: 'cus_x', status: 'trialing', metadata: { tenantId } }, previous_attributes: {} } });
    out.push(JSON.stringify({ body, signature: signer.webhooks.generateTestHeaderString({ payload: body, secret: simulatorWebhookSecret, timestamp: now }) }));
  }
  const f = `/tmp/wh/${crypto.randomBytes(4).toString('hex')}.jsonl`; writeFileSync(f, out.join('\n')); return f;
}
async function drive(url: string, file: string) {
  const child = spawn(process.execPath, ['--import', 'tsx', `${ROOT}/bench/post-signed.ts`, url, file, '16'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  let out = ''; child.stdout.on('data', (c: Buffer) => (out += c));
  await new Promise((r) => child.on('close', r)); return JSON.parse(out);
}
const ticks = (pid: number) => { try { const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' '); return Number(f[11]) + Number(f[12]); } catch { return 0; } };
const t = await createTestContext({ LOG_LEVEL: 'warn', BRIGADE_TENANT_RATE_LIMIT: '0' }, { log: createLogger('warn', pino.destination('/dev/null')) });
const admin = new pg.Client({ connectionString: t.ownerUrl }); await admin.connect();
const dbname = (await admin.query('SELECT current_database() AS d')).rows[0].d;
const owner = await aTenant(t.app, 'Cpu Bistro');
const api = await brigadeApi(t.ownerUrl, {});
const url = `${api.url}/v1/billing/webhooks/stripe`;
await drive(url, lines(3000, owner.tenant.id));
const backends = async () => (await admin.query(`SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid() AND application_name LIKE 'brigade%'`, [dbname])).rows.map((r: any) => r.pid as number);
const file = lines(N, owner.tenant.id);
const b0 = await backends(); const s0 = new Map(b0.map((p) => [p, ticks(p)])); const a0 = ticks(api.pid);
const r = await drive(url, file);
// let any background sweep finish
const hasCol = (await admin.query(`SELECT 1 FROM information_schema.columns WHERE table_name='billing_events' AND column_name='job_queued_at'`)).rowCount;
if (hasCol) for (let i = 0; i < 200; i++) { const n = (await admin.query(`SELECT count(*)::int n FROM billing_events WHERE outcome='pending' AND job_queued_at IS NULL`)).rows[0].n; if (n === 0) break; await new Promise((x) => setTimeout(x, 50)); }
else await new Promise((x) => setTimeout(x, 200));
const a1 = ticks(api.pid); const b1 = await backends();
let pgt = 0; for (const p of new Set([...b0, ...b1])) pgt += ticks(p) - (s0.get(p) ?? 0);
const jobs = (await admin.query(`SELECT count(*)::int n FROM outbox WHERE type='billing.webhook_event'`)).rows[0].n;
console.log(JSON.stringify({ root: ROOT, perSecond: Math.round(r.perSecond), p50: r.p50, p99: r.p99, apiMsPerEvent: ((a1 - a0) * 10 / N).toFixed(3), pgMsPerEvent: (pgt * 10 / N).toFixed(3), totalMsPerEvent: (((a1 - a0) + pgt) * 10 / N).toFixed(3), jobs }));
await admin.end(); await api.stop(); await t.close();
