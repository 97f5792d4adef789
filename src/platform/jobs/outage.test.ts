import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import path from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { sql } from 'kysely';
import pg from 'pg';
import { createTestContext, aTenant, anOperator, bearer, eventually, adminUrl, type TestContext } from '../../../test/harness.ts';
import { createEffectTables, faultJobs, slowEffectJob } from '../../../test/fixtures/test-jobs.ts';
import { jobRegistry } from '../../jobs.ts';
import { startJobs, type JobsRuntime } from './index.ts';
import { Queue } from 'bullmq';
import { startTcpProxy, throughProxy } from '../../../test/fixtures/tcp-proxy.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

let t: TestContext;
let op: string;
const children: ChildProcess[] = [];
const runtimes: JobsRuntime[] = [];

before(async () => {
  t = await createTestContext({}, { jobs: faultJobs });
  await createEffectTables(t.platform);
  op = (await anOperator(t)).token;
});
after(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const r of runtimes) await r.close();
  await t.close();
});

/** A worker process (test/fixtures/job-worker.ts) on this test's database and queue prefix. */
async function workerProcess(env: Record<string, string> = {}): Promise<ChildProcess & { exited: Promise<number | null> }> {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'test/fixtures/job-worker.ts')], {
    cwd: root,
    env: { ...process.env, DATABASE_URL: t.ownerUrl, BRIGADE_QUEUE_PREFIX: t.platform.config.BRIGADE_QUEUE_PREFIX, BRIGADE_DEMO: 'false', ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.push(child);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let out = '';
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (chunk) => {
      out += String(chunk);
      if (out.includes('worker-ready')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`worker process exited early (${code}): ${out}`)));
  });
  return Object.assign(child, { exited });
}

async function runtime(opts: Parameters<typeof startJobs>[2] = {}): Promise<JobsRuntime> {
  const r = await startJobs(t.platform, jobRegistry(faultJobs), { schedulers: false, pollMs: 200, stalledIntervalMs: 300, lockDurationMs: 1000, ...opts });
  runtimes.push(r);
  return r;
}

async function stop(r: JobsRuntime): Promise<void> {
  runtimes.splice(runtimes.indexOf(r), 1);
  await r.close();
}

const enqueue = (tenantId: string, key: string, sleepMs: number) =>
  t.platform.tenancy.withTenant({ tenantId }, (trx) => slowEffectJob.later(trx, tenantId, { key, sleepMs }));

const effects = async (jobId: string) => {
  const r = await t.platform.tenancy.withSystem('test: read effects', (trx) =>
    sql<{ effects: string; runs: string; finished: string }>`
      SELECT (SELECT count(*) FROM test_effects WHERE job_id = ${jobId}) AS effects,
             (SELECT count(*) FROM test_runs WHERE job_id = ${jobId}) AS runs,
             (SELECT count(*) FROM test_runs WHERE job_id = ${jobId} AND finished_at IS NOT NULL) AS finished`.execute(trx),
  );
  const row = r.rows[0]!;
  return { effects: Number(row.effects), runs: Number(row.runs), finished: Number(row.finished) };
};

const jobState = async (jobId: string) => {
  const res = await t.app.inject({ method: 'GET', url: `/ops/api/jobs/test/${jobId}`, headers: bearer(op) });
  return res.statusCode === 200 ? res.json() : null;
};

test('a database outage spends no attempt of a running job, and no job dies without a record', async () => {
  const target = new URL(adminUrl);
  const proxy = await startTcpProxy(target.hostname, Number(target.port || 5432));
  // Two attempts 50 ms apart: without holding, the outage would use both up in a blink.
  const child = await workerProcess({ DATABASE_URL: throughProxy(t.ownerUrl, proxy), BRIGADE_JOB_ATTEMPTS: '2', BRIGADE_JOB_BACKOFF_MS: '50', BRIGADE_DB_CONNECT_TIMEOUT_MS: '500' });
  const connection = t.platform.redis.duplicate();
  const queue = new Queue('test', { connection, prefix: t.platform.config.BRIGADE_QUEUE_PREFIX });
  try {
    const owner = await aTenant(t.app);
    const jobId = await enqueue(owner.tenant.id, 'outage', 800);
    await eventually(async () => (await effects(jobId)).runs === 1, 'the child to start the job');
    proxy.refuse();
    // The job comes back again and again while the database is away, its attempts untouched.
    const held = await eventually(async () => {
      const j = await queue.getJob(jobId);
      return j && (j.attemptsStarted ?? 0) >= 4 ? j : null;
    }, 'the job to be held several times', 30_000);
    assert.equal(held.attemptsMade, 0);
    // Held means put back: delayed until its next try, or already running that try again.
    assert.ok(['delayed', 'waiting', 'prioritized', 'active'].includes(await held.getState()), 'the held job is back in the queue, never failed');
    proxy.restore();
    const done = await eventually(async () => {
      const j = await jobState(jobId);
      return j?.state === 'completed' ? j : null;
    }, 'the job to complete once the database is back', 30_000);
    assert.equal((await effects(jobId)).effects, 1);
    assert.equal((await effects(jobId)).finished, 1);
    const dead = await t.platform.tenancy.withSystem('test: dead record', (trx) => trx.selectFrom('dead_jobs').select('job_id').where('job_id', '=', jobId).execute());
    assert.deepEqual(dead, []);
    assert.ok(done.history.every((h: { state: string }) => h.state !== 'failed'), 'no attempt was recorded as failed');
  } finally {
    proxy.restore();
    child.kill('SIGTERM');
    await child.exited;
    await queue.close();
    connection.disconnect();
    await proxy.close();
  }
});
