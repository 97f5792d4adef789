/**
 * The fault suite (`npm run test:faults`): Brigade's API and worker as separate processes on
 * PostgreSQL and Redis servers of the suite's own, which it kills, hangs and restarts under
 * load, counting what was lost, duplicated or left half done.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import pg from 'pg';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { startPostgres, startRedis, type PgServer, type RedisServer } from './servers.ts';
import { brigade, run, freePort, type BrigadeProcess } from './brigade.ts';

let pgServer: PgServer;
let redis: RedisServer;
let api: BrigadeProcess;
let worker: BrigadeProcess;
let base: string;
let env: Record<string, string>;
const PREFIX = 'faults';

before(async () => {
  pgServer = await startPostgres();
  redis = await startRedis();
  const admin = new pg.Client({ connectionString: pgServer.url() });
  await admin.connect();
  await admin.query('CREATE DATABASE brigade');
  await admin.end();
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  env = {
    DATABASE_URL: pgServer.url('brigade'),
    REDIS_URL: redis.url,
    BRIGADE_QUEUE_PREFIX: PREFIX,
    PORT: String(port),
    BRIGADE_SIMULATOR_PORT: String(await freePort()),
    BRIGADE_DB_CONNECT_TIMEOUT_MS: '1000',
    BRIGADE_REDIS_TIMEOUT_MS: '1000',
    BRIGADE_DB_QUERY_TIMEOUT_MS: '3000',
    BRIGADE_CLIENT_RATE_LIMIT: '0',
    BRIGADE_TENANT_RATE_LIMIT: '0',
  };
  await run('migrate', env);
  api = brigade('serve', env);
  worker = brigade('worker', env);
  await until(async () => (await get('/readyz')).status === 200, 'the API to be ready', 240_000);
});
after(async () => {
  await api?.stop();
  await worker?.stop();
  await redis?.destroy();
  pgServer?.destroy();
});

async function until<T>(probe: () => Promise<T | false | null | undefined>, what: string, ms = 30_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probe().catch(() => null);
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
const get = (url: string) => fetch(base + url, { signal: AbortSignal.timeout(5000) });
const sqlQuery = async <R extends pg.QueryResultRow>(text: string, values: unknown[] = []) => {
  const c = new pg.Client({ connectionString: pgServer.url('brigade') });
  await c.connect();
  try {
    return (await c.query<R>(text, values)).rows;
  } finally {
    await c.end();
  }
};

interface Signup {
  email: string;
  key: string;
  answers: number[];
  done: boolean;
}

/**
 * Clients that sign up businesses the way a careful client does: each with its own
 * Idempotency-Key, retried with the same key on 503, 409 in-use or a network error.
 */
function signupLoad(clients: number) {
  const signups: Signup[] = [];
  let stopped = false;
  const one = async () => {
    const s: Signup = { email: `f+${crypto.randomBytes(5).toString('hex')}@example.com`, key: crypto.randomUUID(), answers: [], done: false };
    signups.push(s);
    const body = JSON.stringify({ businessName: `Fault ${s.email}`, name: 'Fay', email: s.email, password: 'correct horse battery' });
    const deadline = Date.now() + 60_000;
    while (!s.done && Date.now() < deadline) {
      try {
        const r = await fetch(`${base}/v1/signup`, { method: 'POST', body, headers: { 'content-type': 'application/json', 'idempotency-key': s.key }, signal: AbortSignal.timeout(10_000) });
        s.answers.push(r.status);
        await r.arrayBuffer();
        if (r.status === 201) s.done = true;
        else await new Promise((res) => setTimeout(res, 200));
      } catch {
        s.answers.push(0);
        await new Promise((res) => setTimeout(res, 200));
      }
    }
  };
  const loops = Array.from({ length: clients }, async () => {
    while (!stopped) await one();
  });
  return {
    signups,
    async stop() {
      stopped = true;
      await Promise.all(loops);
    },
  };
}

/** Every signup happened once, and its welcome mail was sent once (caught by the built-in catcher). */
async function assertNothingLostOrDoubled(signups: Signup[]) {
  assert.ok(signups.length > 0);
  assert.ok(signups.every((s) => s.done), `signups never answered 201: ${signups.filter((s) => !s.done).length}`);
  const emails = signups.map((s) => s.email);
  const users = await sqlQuery<{ email: string; n: string }>(`SELECT email, count(*) AS n FROM users WHERE email = ANY($1) GROUP BY email`, [emails]);
  assert.equal(users.length, emails.length, 'every business exists');
  assert.deepEqual(users.filter((u) => u.n !== '1'), [], 'no business twice');
  await until(async () => {
    const mails = await sqlQuery<{ n: string }>(`SELECT count(DISTINCT recipient) AS n FROM caught_mails WHERE recipient = ANY($1)`, [emails]);
    return Number(mails[0]!.n) === emails.length;
  }, 'every welcome mail', 120_000);
  const doubled = await sqlQuery(`SELECT recipient FROM caught_mails WHERE recipient = ANY($1) GROUP BY recipient HAVING count(*) > 1`, [emails]);
  assert.deepEqual(doubled, [], 'no welcome mail twice');
  const dead = await sqlQuery(`SELECT job_id, failed_reason FROM dead_jobs WHERE resolved_at IS NULL`);
  assert.deepEqual(dead, [], 'no dead job');
  // Completions are recorded in batches, a moment after the mail went out.
  await until(async () => (await sqlQuery(`SELECT id FROM outbox WHERE finished_at IS NULL AND type = 'mail.welcome'`)).length === 0, 'every welcome mail marked finished in the outbox', 30_000);
}

test('PostgreSQL killed and restarted under load: nothing lost or doubled, one LISTEN connection per process, ready again within seconds', async () => {
  const load = signupLoad(3);
  await until(async () => load.signups.filter((s) => s.done).length >= 5, 'load to start');
  pgServer.kill();
  await new Promise((r) => setTimeout(r, 8000)); // the outage itself
  const during = await get('/readyz').catch(() => null);
  pgServer.start();
  const back = Date.now();
  await until(async () => (await get('/readyz')).status === 200, 'readiness after the restart', 30_000);
  const readyAfter = Date.now() - back;
  const doneBefore = load.signups.filter((s) => s.done).length;
  await until(async () => load.signups.filter((s) => s.done).length > doneBefore + 3, 'signups to succeed again', 30_000);
  await load.stop();
  assert.equal(during?.status, 503);
  assert.ok(load.signups.some((s) => s.answers.includes(503)), 'clients were told 503 during the outage');
  assert.ok(!load.signups.some((s) => s.answers.includes(500)), 'never a 500');
  assert.ok(readyAfter < 10_000, `ready ${readyAfter} ms after PostgreSQL was back`);
  await assertNothingLostOrDoubled(load.signups);
  // Each process reconnects its one listener with a backoff capped at 5 s (plus a connect
  // timeout): it may still be waiting for its next try right after PostgreSQL came back.
  const listenerCounts: number[] = [];
  await until(async () => {
    const n = Number((await sqlQuery<{ n: string }>(`SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = 'brigade-listen'`))[0]!.n);
    listenerCounts.push(n);
    return n === 2;
  }, 'one LISTEN connection for the API, one for the worker', 20_000);
  assert.ok(listenerCounts.every((n) => n <= 2), `never more than one LISTEN connection per process: ${listenerCounts.join(', ')}`);
  const all = await sqlQuery<{ n: string }>(`SELECT count(*) AS n FROM pg_stat_activity WHERE datname = 'brigade'`);
  assert.ok(Number(all[0]!.n) < 60, `connections after the outage: ${all[0]!.n}`);
  process.stdout.write(`# postgres restart: ready again after ${readyAfter} ms, ${load.signups.length} signups\n`);
});

test('Redis killed and restarted empty under load: every job still runs once, and the schedules come back', async () => {
  const load = signupLoad(3);
  await until(async () => load.signups.filter((s) => s.done).length >= 5, 'load to start');
  await redis.kill();
  await new Promise((r) => setTimeout(r, 3000));
  await redis.start();
  const back = Date.now();
  await until(async () => (await get('/readyz')).status === 200, 'readiness after the Redis restart', 30_000);
  const readyAfter = Date.now() - back;
  const doneBefore = load.signups.filter((s) => s.done).length;
  await until(async () => load.signups.filter((s) => s.done).length > doneBefore + 3, 'signups after the restart', 30_000);
  await load.stop();
  await assertNothingLostOrDoubled(load.signups);
  const conn = new Redis(redis.url, { maxRetriesPerRequest: null });
  const queue = new Queue('system', { connection: conn, prefix: PREFIX });
  try {
    const schedulers = await until(async () => {
      const s = await queue.getJobSchedulers();
      return s.length >= 2 ? s : null;
    }, 'the job schedulers to come back', 20_000);
    assert.ok(schedulers.some((s) => s.key === 'system.cleanup'));
  } finally {
    await queue.close();
    conn.disconnect();
  }
  assert.ok(readyAfter < 10_000, `ready ${readyAfter} ms after Redis was back`);
  process.stdout.write(`# redis restart: ready again after ${readyAfter} ms, ${load.signups.length} signups\n`);
});

test('Redis hung: logins still answer within bounded time', async () => {
  const email = `h+${crypto.randomBytes(4).toString('hex')}@example.com`;
  const r = await fetch(`${base}/v1/signup`, { method: 'POST', body: JSON.stringify({ businessName: 'Hung', name: 'H', email, password: 'correct horse battery' }), headers: { 'content-type': 'application/json' } });
  assert.equal(r.status, 201);
  redis.hang();
  try {
    for (let i = 0; i < 3; i++) {
      const started = Date.now();
      const login = await fetch(`${base}/v1/auth/login`, { method: 'POST', body: JSON.stringify({ email, password: 'correct horse battery' }), headers: { 'content-type': 'application/json' }, signal: AbortSignal.timeout(10_000) });
      assert.equal(login.status, 200);
      assert.ok(Date.now() - started < 5000, `login took ${Date.now() - started} ms`);
    }
  } finally {
    redis.resume();
  }
});

test('PostgreSQL hung: requests answer 503 within bounded time, and recover when it resumes', async () => {
  pgServer.hang();
  try {
    const started = Date.now();
    const r = await fetch(`${base}/v1/auth/login`, { method: 'POST', body: JSON.stringify({ email: 'x@example.com', password: 'correct horse battery' }), headers: { 'content-type': 'application/json' }, signal: AbortSignal.timeout(20_000) });
    assert.equal(r.status, 503);
    assert.ok(r.headers.get('retry-after'));
    assert.ok(Date.now() - started < 15_000, `answered after ${Date.now() - started} ms`);
    assert.equal((await get('/readyz').catch(() => ({ status: 0 }))).status, 503);
  } finally {
    pgServer.resume();
  }
  await until(async () => (await get('/readyz')).status === 200, 'readiness after the hang', 30_000);
});
