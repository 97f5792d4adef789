/**
 * Issue 9's benchmarks: the time from a dependency's restart until Brigade answers normally
 * again (goal: under 5 s), and the jobs lost across repeated restarts (goal: 0). `brigade serve`
 * and `brigade worker` run as separate processes on the fault suite's own PostgreSQL and Redis
 * (test/faults/servers.ts), with production log level; a client signs businesses up the whole
 * time (each with its Idempotency-Key, retried on 503). Every signup sends a welcome mail
 * through the outbox and a job: a mail missing at the end is a job lost.
 * The baseline, measured in the same run, is the time the bare server takes to accept a query
 * again after the same restart (PostgreSQL) or to answer PING (Redis): Brigade's part is the rest.
 */
import crypto from 'node:crypto';
import pg from 'pg';
import { Redis } from 'ioredis';
import { startPostgres, startRedis } from '../test/faults/servers.ts';
import { brigade, run, freePort } from '../test/faults/brigade.ts';

const restarts = Number(process.env.FAULTS_BENCH_RESTARTS ?? 10);
const downMs = Number(process.env.FAULTS_BENCH_DOWN_MS ?? 2000);
const pgServer = await startPostgres();
const redis = await startRedis();
const admin = new pg.Client({ connectionString: pgServer.url() });
await admin.connect();
await admin.query('CREATE DATABASE brigade');
await admin.end();
const port = await freePort();
const base = `http://127.0.0.1:${port}`;
const env = {
  DATABASE_URL: pgServer.url('brigade'),
  REDIS_URL: redis.url,
  BRIGADE_QUEUE_PREFIX: 'bench',
  PORT: String(port),
  BRIGADE_SIMULATOR_PORT: String(await freePort()),
  LOG_LEVEL: 'info',
  BRIGADE_CLIENT_RATE_LIMIT: '0',
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until(probe: () => Promise<boolean>, ms = 120_000): Promise<number> {
  const start = Date.now();
  while (Date.now() - start < ms) {
    if (await probe().catch(() => false)) return Date.now() - start;
    await sleep(25);
  }
  throw new Error('timed out');
}
const signup = async (email: string, key: string) =>
  (await fetch(`${base}/v1/signup`, { method: 'POST', body: JSON.stringify({ businessName: `Bench ${email}`, name: 'B', email, password: 'correct horse battery' }), headers: { 'content-type': 'application/json', 'idempotency-key': key }, signal: AbortSignal.timeout(10_000) })).status;

await run('migrate', env);
const api = brigade('serve', env);
const worker = brigade('worker', env);
const emails: string[] = [];
try {
  await until(async () => (await fetch(`${base}/readyz`)).status === 200, 300_000);
  let stop = false;
  const client = (async () => {
    while (!stop) {
      const email = `b+${crypto.randomBytes(5).toString('hex')}@example.com`;
      const key = crypto.randomUUID();
      emails.push(email);
      for (let i = 0; i < 300 && (await signup(email, key).catch(() => 0)) !== 201; i++) await sleep(100);
    }
  })();
  const normal = async () => (await signup(`n+${crypto.randomBytes(5).toString('hex')}@example.com`, crypto.randomUUID())) === 201;
  const results: { dep: string; brigadeMs: number[]; bareMs: number[] }[] = [];
  for (const dep of ['PostgreSQL', 'Redis']) {
    const brigadeMs: number[] = [];
    const bareMs: number[] = [];
    for (let i = 0; i < restarts; i++) {
      if (dep === 'PostgreSQL') pgServer.kill();
      else await redis.kill();
      await sleep(downMs);
      if (dep === 'PostgreSQL') pgServer.start();
      else await redis.start();
      const back = Date.now();
      const bare = dep === 'PostgreSQL'
        ? await until(async () => {
            const c = new pg.Client({ connectionString: pgServer.url('brigade') });
            await c.connect();
            await c.query('SELECT 1');
            await c.end();
            return true;
          })
        : await until(async () => {
            const r = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 0 });
            try {
              await r.connect();
              return (await r.ping()) === 'PONG';
            } finally {
              r.disconnect();
            }
          });
      bareMs.push(bare);
      // Normal answers: readiness and a signup (database, outbox, Redis-backed throttle).
      await until(async () => (await fetch(`${base}/readyz`)).status === 200 && (await normal()));
      brigadeMs.push(Date.now() - back);
      await sleep(1000);
    }
    results.push({ dep, brigadeMs, bareMs });
  }
  stop = true;
  await client;
  const c = new pg.Client({ connectionString: pgServer.url('brigade') });
  await c.connect();
  let lost = -1;
  await until(async () => {
    const sent = Number((await c.query(`SELECT count(DISTINCT recipient) AS n FROM caught_mails WHERE recipient = ANY($1)`, [emails])).rows[0].n);
    lost = emails.length - sent;
    return lost === 0;
  }, 60_000).catch(() => undefined);
  const doubled = Number((await c.query(`SELECT count(*) AS n FROM (SELECT recipient FROM caught_mails WHERE recipient = ANY($1) GROUP BY recipient HAVING count(*) > 1) d`, [emails])).rows[0].n);
  const dead = Number((await c.query(`SELECT count(*) AS n FROM dead_jobs`)).rows[0].n);
  await c.end();
  const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const max = (xs: number[]) => Math.max(...xs);
  const lines = [
    '## Faults: recovery after a dependency restart (issue 9)',
    '',
    `${restarts} restarts of each dependency (down ${downMs} ms each) under a signup load; API and worker as separate processes, LOG_LEVEL=info.`,
    '',
    '| dependency | bare server back (median / max) | Brigade answering normally (median / max) | Brigade\'s own part (median) |',
    '| --- | --- | --- | --- |',
    ...results.map((r) => `| ${r.dep} | ${med(r.bareMs)} / ${max(r.bareMs)} ms | ${med(r.brigadeMs)} / ${max(r.brigadeMs)} ms | ${med(r.brigadeMs) - med(r.bareMs)} ms |`),
    '',
    `Jobs: ${emails.length} signups, welcome mails lost ${lost}, sent twice ${doubled}, dead jobs ${dead} (goal: 0, 0, 0).`,
  ];
  process.stdout.write(lines.join('\n') + '\n');
} finally {
  await api.stop();
  await worker.stop();
  await redis.destroy();
  pgServer.destroy();
}
