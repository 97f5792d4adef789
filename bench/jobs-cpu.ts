/**
 * Per-job CPU of the outbox path (scratch tool for decision 0683): N no-op jobs committed 100 per
 * transaction across 10 tenants, relayed and run in this process; reports jobs/s and CPU ms per
 * 1000 jobs of this node process, the database's postgres backends and redis-server (/proc).
 * Also the raw BullMQ path for comparison. JOBS_CPU_ROUNDS rounds (3).
 */
import { performance } from 'node:perf_hooks';
import { readFileSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { execSync } from 'node:child_process';
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { sql } from 'kysely';
import { createTestContext, aTenant, type TestContext } from '../test/harness.ts';
import { jobRegistry } from '../src/jobs.ts';
import { startJobs } from '../src/platform/jobs/index.ts';
import { benchJobs } from './jobs-types.ts';

const N = Number(process.env.JOBS_CPU_N ?? 5000);
const ROUNDS = Number(process.env.JOBS_CPU_ROUNDS ?? 3);
const TICK = 100; // clock ticks per second (getconf CLK_TCK)
const ticks = (pid: number) => {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return Number(f[11]) + Number(f[12]);
  } catch {
    return 0;
  }
};
const redisPid = Number(execSync('pgrep -x redis-server').toString().trim().split('\n')[0]);
let arrived = 0;
const jobs = benchJobs(() => void arrived++);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const t: TestContext = await createTestContext({ BRIGADE_JOB_CONCURRENCY: '20' }, { jobs });
const runtime = await startJobs(t.platform, jobRegistry(jobs), { schedulers: false });
const dbName = new URL(t.platform.config.DATABASE_URL!).pathname.slice(1);
const backends = async () => (await sql<{ pid: number }>`SELECT pid FROM pg_stat_activity WHERE datname = ${dbName} AND pid <> pg_backend_pid()`.execute(t.platform.db.system)).rows.map((r) => r.pid);
const tenants: string[] = [];
for (let i = 0; i < 10; i++) tenants.push((await aTenant(t.app, `Cpu ${i}`)).tenant.id);
await sleep(1000);

const prof = process.env.JOBS_CPU_PROF ? new Session() : null;
if (prof) {
  prof.connect();
  await prof.post('Profiler.enable');
}
let profiled = 0;
async function measure(label: string, run: () => Promise<void>) {
  if (prof) await prof.post('Profiler.start');
  const pg0 = new Map((await backends()).map((p) => [p, ticks(p)]));
  const r0 = ticks(redisPid);
  const c0 = process.cpuUsage();
  const start = performance.now();
  await run();
  const secs = (performance.now() - start) / 1000;
  const c1 = process.cpuUsage(c0);
  if (prof) writeFileSync(`${process.env.JOBS_CPU_PROF}/${label}-${profiled++}.cpuprofile`, JSON.stringify((await prof.post('Profiler.stop')).profile));
  let pgTicks = 0;
  for (const p of new Set([...pg0.keys(), ...(await backends())])) pgTicks += Math.max(0, ticks(p) - (pg0.get(p) ?? 0));
  const node = (c1.user + c1.system) / 1000;
  const pg = (pgTicks * 1000) / TICK;
  const redis = ((ticks(redisPid) - r0) * 1000) / TICK;
  const per = (x: number) => ((x / N) * 1000).toFixed(0);
  console.log(`${label.padEnd(7)} ${(N / secs).toFixed(0).padStart(6)} jobs/s  cpu ms/1000 jobs: node ${per(node)} pg ${per(pg)} redis ${per(redis)} total ${per(node + pg + redis)}`);
}

async function outbox() {
  const before = arrived;
  const since = new Date();
  const xacts = async () => Number((await sql<{ n: string }>`SELECT xact_commit + xact_rollback AS n FROM pg_stat_database WHERE datname = ${dbName}`.execute(t.platform.db.system)).rows[0]!.n);
  const x0 = await xacts();
  for (let i = 0; i < N; i += 100) {
    const tenantId = tenants[(i / 100) % tenants.length]!;
    await t.platform.tenancy.withTenant({ tenantId }, (trx) =>
      trx.insertInto('outbox').values(Array.from({ length: 100 }, (_, k) => ({ tenant_id: tenantId, type: 'bench.tick', payload: JSON.stringify({ n: i + k, tenantId }) }))).execute(),
    );
  }
  while (arrived - before < N) await sleep(2);
  const x1 = await xacts();
  const r = (await sql<{ passes: string; rows: string }>`SELECT count(DISTINCT relayed_at) AS passes, count(*) AS rows FROM outbox WHERE relayed_at >= ${since}`.execute(t.platform.db.system)).rows[0]!;
  console.log(`  pg transactions ${x1 - x0}, relay transactions that moved rows ${r.passes} (${(Number(r.rows) / Number(r.passes)).toFixed(0)} rows each)`);
}

async function raw() {
  const { REDIS_URL, BRIGADE_QUEUE_PREFIX } = t.platform.config;
  const producer = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  const consumer = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  const queue = new Queue('rawcpu', { connection: producer, prefix: BRIGADE_QUEUE_PREFIX });
  let done = 0;
  const worker = new Worker('rawcpu', async () => void done++, { connection: consumer, prefix: BRIGADE_QUEUE_PREFIX, concurrency: 20 });
  await worker.waitUntilReady();
  await measure('raw', async () => {
    for (let i = 0; i < N; i += 100)
      // The outbox rows' own payload (RAW_SMALL=1: `{ n }` alone, Redis's compact hash encoding).
      await queue.addBulk(Array.from({ length: 100 }, (_, k) => ({ name: 'bench.raw', data: { payload: process.env.RAW_SMALL ? { n: i + k } : { n: i + k, tenantId: tenants[(i / 100) % tenants.length] } }, opts: { removeOnComplete: { age: 86400, count: 5000 }, attempts: 5 } })));
    while (done < N) await sleep(2);
  });
  await worker.close();
  await queue.close();
  producer.disconnect();
  consumer.disconnect();
}

try {
  await outbox(); // warm-up
  for (let r = 0; r < ROUNDS; r++) {
    if (!process.env.JOBS_CPU_NORAW) await raw();
    if (!process.env.JOBS_CPU_NOOUTBOX) await measure('outbox', outbox);
    await sleep(300); // the ledger's tail
  }
} finally {
  await runtime.close();
  await t.close();
}
