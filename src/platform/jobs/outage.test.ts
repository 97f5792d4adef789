import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Queue } from 'bullmq';
import { aTenant, eventually, adminUrl } from '../../../test/harness.ts';
import { jobFaultSuite } from '../../../test/fixtures/job-faults.ts';
import { startTcpProxy, throughProxy } from '../../../test/fixtures/tcp-proxy.ts';

const f = jobFaultSuite();
const { workerProcess, enqueue, effects, jobState } = f;

test('a database outage spends no attempt of a running job, and no job dies without a record', async () => {
  const target = new URL(adminUrl);
  const proxy = await startTcpProxy(target.hostname, Number(target.port || 5432));
  // Two attempts 50 ms apart: without holding, the outage would use both up in a blink.
  const child = await workerProcess({ DATABASE_URL: throughProxy(f.t.ownerUrl, proxy), BRIGADE_JOB_ATTEMPTS: '2', BRIGADE_JOB_BACKOFF_MS: '50', BRIGADE_DB_CONNECT_TIMEOUT_MS: '500' });
  const connection = f.t.platform.redis.duplicate();
  const queue = new Queue('test', { connection, prefix: f.t.platform.config.BRIGADE_QUEUE_PREFIX });
  try {
    const owner = await aTenant(f.t.app);
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
    const dead = await f.t.platform.tenancy.withSystem('test: dead record', (trx) => trx.selectFrom('dead_jobs').select('job_id').where('job_id', '=', jobId).execute());
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
