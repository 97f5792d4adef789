/**
 * The scale-out leg (`bash scripts/scale-out.sh`, called from .ci/run): Brigade as two API and
 * two worker processes on a three-master Redis Cluster (the queue prefix a hash tag) and behind
 * PgBouncer in transaction mode, with named statements off and LISTEN on a direct connection.
 * What must hold across processes: row-level isolation and session revocation, a job enqueued
 * through the outbox runs once, a billing webhook delivered to both APIs is processed once, and
 * the per-tenant request rate and in-flight job cap are shared, not per process.
 *
 * The script starts the servers and passes their addresses: SCALE_REDIS_URL (one cluster node),
 * SCALE_PGBOUNCER_URL (PgBouncer, as the PostgreSQL superuser) and SCALE_PORT_BASE (ports for
 * the processes). Without them this file fails: it is not part of `npm test`.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import Stripe from 'stripe';
import { createTestDatabase, eventually } from '../harness.ts';
import { brigade, type BrigadeProcess } from '../faults/brigade.ts';
import { loadConfig } from '../../src/config.ts';
import { createLogger } from '../../src/platform/log.ts';
import { startPlatform, type StartedPlatform } from '../../src/platform/bootstrap.ts';
import { simulatorWebhookSecret } from '../../src/modules/billing/billing.simulator-host.ts';

const redisUrl = process.env.SCALE_REDIS_URL;
const bouncerUrl = process.env.SCALE_PGBOUNCER_URL;
const portBase = Number(process.env.SCALE_PORT_BASE ?? 0);
const RATE = 20; // requests per second per tenant: 200 in a 10-second window
const WINDOW_MS = 10_000;
const CAP = 2; // in-flight jobs per tenant

let db: Awaited<ReturnType<typeof createTestDatabase>>;
let platform: StartedPlatform;
let direct: pg.Pool;
let dataDir: string;
const apis: string[] = [];
const processes: BrigadeProcess[] = [];

before(async () => {
  assert.ok(redisUrl && bouncerUrl && portBase, 'run this file through scripts/scale-out.sh (it starts the Redis Cluster and PgBouncer)');
  db = await createTestDatabase();
  const prefix = `{bs${crypto.randomBytes(3).toString('hex')}}`;
  const viaBouncer = new URL(bouncerUrl);
  viaBouncer.pathname = `/${db.name}`;
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'brigade-scale-'));
  const env: Record<string, string> = {
    DATABASE_URL: viaBouncer.toString(),
    BRIGADE_DIRECT_DATABASE_URL: db.url,
    BRIGADE_DB_NAMED_STATEMENTS: 'false',
    REDIS_URL: redisUrl,
    BRIGADE_REDIS_CLUSTER: 'true',
    BRIGADE_QUEUE_PREFIX: prefix,
    BRIGADE_DATA_DIR: dataDir,
    BRIGADE_SIMULATOR_PORT: String(portBase + 40),
    BRIGADE_TENANT_RATE_LIMIT: String(RATE),
    BRIGADE_CLIENT_RATE_LIMIT: '0',
    BRIGADE_JOB_TENANT_CAP: String(CAP),
    BRIGADE_JOB_BACKOFF_MS: '50',
    BRIGADE_RELAY_POLL_MS: '200',
    // The simulator's webhooks go to PORT of whichever process hosts it: the first API.
    PORT: String(portBase + 21),
    LOG_LEVEL: 'warn',
  };
  // Migrations in this process, on the direct connection: it is also how the test reads the truth.
  const config = loadConfig({ ...process.env, ...env, DATABASE_URL: db.url, BRIGADE_DEMO: 'false', LOG_LEVEL: 'silent' });
  platform = await startPlatform(config, createLogger('silent'), { migrate: true });
  direct = new pg.Pool({ connectionString: db.url, max: 2 });
  for (const i of [1, 2]) {
    const port = portBase + 20 + i;
    processes.push(brigade('serve', { ...env, PORT: String(port) }, { logDir: dataDir }));
    apis.push(`http://127.0.0.1:${port}`);
    processes.push(brigade('worker', { ...env, BRIGADE_WORKER_PORT: String(portBase + 30 + i) }, { logDir: dataDir }));
  }
  const ready = async (url: string) => (await fetch(url).catch(() => null))?.status === 200;
  await eventually(async () => (await Promise.all([...apis.map((a) => `${a}/readyz`), `http://127.0.0.1:${portBase + 31}/readyz`, `http://127.0.0.1:${portBase + 32}/readyz`].map(ready))).every(Boolean), 'two APIs and two workers to be ready', 120_000, 200);
});

after(async () => {
  await Promise.allSettled(processes.map((p) => p.stop()));
  // What the processes logged at warn and above, for a failure's post-mortem (the files go with dataDir).
  for (const p of processes) {
    const text = fs.readFileSync(p.log, 'utf8').trim();
    if (text) process.stderr.write(`--- ${path.basename(p.log)}\n${text.slice(-6000)}\n`);
  }
  await direct?.end();
  await platform?.close();
  await db?.drop();
  if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
});

async function call(api: string, method: string, url: string, token?: string, body?: unknown): Promise<{ status: number; json: any }> {
  const res = await fetch(`${api}${url}`, {
    method,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : null };
}

async function signup(api: string, name: string): Promise<{ token: string; tenant: { id: string } }> {
  const email = `owner+${crypto.randomBytes(4).toString('hex')}@example.com`;
  const res = await call(api, 'POST', '/v1/signup', undefined, { businessName: name, name: 'Olive Owner', email, password: 'correct horse battery' });
  assert.equal(res.status, 201, JSON.stringify(res.json));
  return res.json;
}

const [first, second] = [() => apis[0]!, () => apis[1]!];

test('row-level isolation and session revocation hold across API processes behind PgBouncer', async () => {
  const a = await signup(first(), 'Scale Alpha');
  const b = await signup(second(), 'Scale Beta');
  const created = await call(second(), 'POST', '/v1/branches', a.token, { name: 'Alpha Harbour', timezone: 'Europe/Lisbon' });
  assert.equal(created.status, 201, JSON.stringify(created.json));
  const branchId = created.json.branch.id as string;
  // Many reads through both processes and every pooled server connection: a context that leaked
  // from one transaction to the next (a session-level SET) would show one tenant another's row.
  for (let i = 0; i < 20; i++) {
    const api = i % 2 ? first() : second();
    const [mine, theirs, list] = await Promise.all([
      call(api, 'GET', `/v1/branches/${branchId}`, a.token),
      call(api, 'GET', `/v1/branches/${branchId}`, b.token),
      call(api, 'GET', '/v1/branches', b.token),
    ]);
    assert.equal(mine.status, 200, JSON.stringify(mine.json));
    assert.equal(theirs.status, 404, JSON.stringify(theirs.json));
    assert.ok(!(list.json.data as { id: string }[]).some((r) => r.id === branchId));
  }
  // Each process listens on a connection of its own, straight to PostgreSQL (through PgBouncer
  // in transaction mode a notification would reach whichever client had the server session).
  const listeners = await direct.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND application_name = 'brigade-listen' AND client_port IS NOT NULL`, [db.name]);
  assert.equal(listeners.rows[0].n, 4, 'two APIs and two workers, one LISTEN connection each');
  // Revoked on one process, refused at once on the other (its cache hears it over LISTEN).
  assert.equal((await call(second(), 'GET', '/v1/me', a.token)).status, 200);
  assert.equal((await call(first(), 'POST', '/v1/auth/logout', a.token)).status < 300, true);
  assert.equal((await call(second(), 'GET', '/v1/me', a.token)).status, 401);
});

test('jobs through the outbox run once each, and a tenant never has more than its cap in flight, across two workers', async () => {
  const owner = await signup(first(), 'Scale Jobs');
  const invited: string[] = [];
  for (let i = 0; i < 8; i++) {
    const email = `invitee${i}+${crypto.randomBytes(3).toString('hex')}@example.com`;
    const res = await call(i % 2 ? first() : second(), 'POST', '/v1/members', owner.token, { name: `Invitee ${i}`, email, roles: [{ role: 'cashier' }] });
    assert.equal(res.status, 201, JSON.stringify(res.json));
    invited.push(email);
  }
  const tenantId = owner.tenant.id;
  await eventually(async () => {
    const { rows } = await direct.query(`SELECT count(*)::int AS n FROM outbox WHERE tenant_id = $1 AND type = 'mail.invitation' AND finished_at IS NOT NULL`, [tenantId]);
    return rows[0].n === invited.length;
  }, 'every invitation job to finish', 60_000, 100);
  const mails = await direct.query(`SELECT recipient, count(*)::int AS n FROM caught_mails WHERE tenant_id = $1 AND subject ILIKE '%invit%' GROUP BY recipient`, [tenantId]);
  assert.deepEqual(mails.rows.map((r) => r.recipient).sort(), [...invited].sort());
  assert.ok(mails.rows.every((r) => r.n === 1), 'one mail per invitation');
  const runs = await direct.query(`SELECT job_id, count(*)::int AS n, array_agg(DISTINCT worker) AS workers FROM job_runs WHERE tenant_id = $1 AND type = 'mail.invitation' AND state = 'completed' GROUP BY job_id`, [tenantId]);
  assert.equal(runs.rows.length, invited.length);
  assert.ok(runs.rows.every((r) => r.n === 1), 'each job completed once');
  // The cap holds across both workers: at no instant were more than CAP of this tenant's jobs running.
  const spans = await direct.query<{ started_at: Date; finished_at: Date; type: string; worker: string; state: string }>(`SELECT started_at, finished_at, type, worker, state FROM job_runs WHERE tenant_id = $1 AND started_at IS NOT NULL ORDER BY started_at`, [tenantId]);
  const edges = spans.rows.flatMap((r) => [[r.started_at.getTime(), 1], [r.finished_at.getTime(), -1]] as [number, number][]);
  edges.sort((x, y) => x[0] - y[0] || x[1] - y[1]);
  let running = 0;
  let most = 0;
  for (const [, d] of edges) most = Math.max(most, (running += d));
  assert.ok(most <= CAP, `at most ${CAP} of one tenant's jobs ran at once, saw ${most}: ${JSON.stringify(spans.rows)}`);
});

test('a billing webhook delivered to both APIs at once is stored once and processed once', async () => {
  const owner = await signup(second(), 'Scale Billing');
  const tenantId = owner.tenant.id;
  // Provisioning at the provider is itself a job through the outbox.
  const customerId = await eventually(async () => {
    const { rows } = await direct.query(`SELECT provider_customer_id FROM subscriptions WHERE tenant_id = $1`, [tenantId]);
    return rows[0]?.provider_customer_id as string | null;
  }, 'the business to be provisioned at the provider', 60_000, 100);
  const event = {
    id: `evt_scale_${crypto.randomBytes(6).toString('hex')}`,
    object: 'event',
    api_version: Stripe.API_VERSION,
    created: Math.floor(Date.now() / 1000),
    livemode: false,
    pending_webhooks: 1,
    request: { id: null, idempotency_key: null },
    type: 'customer.updated',
    data: { object: { id: customerId, object: 'customer', metadata: { tenantId } } },
  };
  const body = JSON.stringify(event);
  const signature = new Stripe('sk_test_unused').webhooks.generateTestHeaderString({ payload: body, secret: simulatorWebhookSecret });
  const deliveries = await Promise.all([first(), second(), first(), second()].map((api) =>
    fetch(`${api}/v1/billing/webhooks/stripe`, { method: 'POST', headers: { 'content-type': 'application/json', 'stripe-signature': signature }, body }).then((r) => r.status),
  ));
  assert.deepEqual(deliveries, [200, 200, 200, 200]);
  const stored = await eventually(async () => {
    const { rows } = await direct.query(`SELECT outcome, attempts FROM billing_events WHERE provider_event_id = $1 AND outcome <> 'pending'`, [event.id]);
    return rows[0];
  }, 'the event to be processed', 60_000, 100);
  assert.equal(stored.outcome, 'applied');
  assert.equal(stored.attempts, 1);
  const jobs = await direct.query(`SELECT o.id, (SELECT count(*)::int FROM job_runs r WHERE r.job_id = o.id::text AND r.state = 'completed') AS runs FROM outbox o WHERE o.payload->>'eventId' = $1`, [event.id]);
  assert.equal(jobs.rows.length, 1, 'one processing job');
  await eventually(async () => (await direct.query(`SELECT 1 FROM job_runs WHERE job_id = $1 AND state = 'completed'`, [jobs.rows[0].id])).rows.length === 1, 'the job record', 20_000, 100);
});

test('a tenant\'s request rate is shared by both API processes', async () => {
  const allowed = RATE * (WINDOW_MS / 1000);
  // The limit counts in fixed 10-second windows: a run that crosses a window boundary proves
  // nothing (the count starts again), so it is run again, at most three times, each time for a
  // new business (the one before has used part of the new window already).
  for (let attempt = 1; ; attempt++) {
    const owner = await signup(first(), `Scale Rate ${attempt}`);
    const window = Math.floor(Date.now() / WINDOW_MS);
    let admittedFirst = 0;
    const seen: number[] = [];
    // The first process uses up the window (ten requests at a time) ...
    while (admittedFirst < allowed + 50) {
      const statuses = await Promise.all(Array.from({ length: 10 }, () => call(first(), 'GET', '/v1/branches', owner.token).then((r) => r.status)));
      seen.push(...statuses);
      admittedFirst += statuses.filter((s) => s === 200).length;
      if (statuses.includes(429)) break;
    }
    assert.ok(seen.every((s) => s === 200 || s === 429), `only 200 and 429, got ${seen.join(' ')}`);
    // ... its counts reach Redis (the key the limiter writes) ...
    const key = `${platform.config.BRIGADE_QUEUE_PREFIX}:rate:${owner.tenant.id}:${window}`;
    await eventually(async () => Number(await platform.redis.get(key)) >= allowed || Math.floor(Date.now() / WINDOW_MS) !== window, 'the first process to share its count', 10_000, 20);
    if (Math.floor(Date.now() / WINDOW_MS) !== window && attempt < 3) continue;
    // ... and the second, which has admitted nothing for this tenant, learns it after one flush.
    let admittedSecond = 0;
    let refused = false;
    for (let i = 0; i < allowed && !refused; i++) {
      const status = (await call(second(), 'GET', '/v1/branches', owner.token)).status;
      if (status === 200) admittedSecond++;
      else if (status === 429) refused = true;
      else assert.fail(`unexpected status ${status}`);
    }
    if (Math.floor(Date.now() / WINDOW_MS) !== window && attempt < 3) continue;
    assert.ok(admittedFirst >= allowed && admittedFirst < allowed + 50, `the first process admitted ${admittedFirst} of a window of ${allowed}`);
    assert.ok(refused, 'the second process refused the tenant');
    assert.ok(admittedSecond < allowed / 2, `the second process admitted ${admittedSecond}; on its own count it would admit ${allowed}`);
    return;
  }
});
