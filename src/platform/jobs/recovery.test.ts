import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { sql } from 'kysely';
import { Queue, Worker, UnrecoverableError } from 'bullmq';
import { createTestContext, aTenant, eventually, type TestContext } from '../../../test/harness.ts';
import { createEffectTables, faultJobs, slowEffectJob } from '../../../test/fixtures/test-jobs.ts';
import { jobRegistry } from '../../jobs.ts';
import { startJobs, SYSTEM_QUEUE, type JobsRuntime } from './index.ts';

let t: TestContext;
const runtimes: JobsRuntime[] = [];
before(async () => {
  t = await createTestContext({}, { jobs: faultJobs });
  await createEffectTables(t.platform);
});
after(async () => {
  for (const r of runtimes) await r.close();
  await t.close();
});

const runtime = async (opts: Parameters<typeof startJobs>[2]) => {
  const r = await startJobs(t.platform, jobRegistry(faultJobs), { pollMs: 200, epochCheckMs: 100, ...opts });
  runtimes.push(r);
  return r;
};
const stop = async (r: JobsRuntime) => {
  runtimes.splice(runtimes.indexOf(r), 1);
  await r.close();
};

/** What a Redis restart without its data does to Brigade: every key of its prefix is gone. */
async function wipeRedis(): Promise<void> {
  const keys = await t.platform.redis.keys(`${t.platform.config.BRIGADE_QUEUE_PREFIX}:*`);
  if (keys.length) await t.platform.redis.del(...keys);
}

const outbox = (ids: string[]) =>
  t.platform.tenancy.withSystem('test: outbox rows', (trx) => trx.selectFrom('outbox').select(['id', 'relayed_at', 'finished_at']).where('id', 'in', ids).execute());
const doneEffects = async (ids: string[]) =>
  Number((await t.platform.tenancy.withSystem('test: effects', (trx) => sql<{ n: string }>`SELECT count(*) AS n FROM test_effects WHERE job_id = ANY(${ids})`.execute(trx))).rows[0]!.n);

test('jobs relayed to a Redis that then loses its data are relayed again and run, each once', async () => {
  const owner = await aTenant(t.app);
  // A relay alone: the jobs reach Redis and wait there, unrun.
  const relayOnly = await runtime({ workers: false, schedulers: false });
  const ids: string[] = [];
  for (let i = 0; i < 20; i++) ids.push(await t.platform.tenancy.withTenant({ tenantId: owner.tenant.id }, (trx) => slowEffectJob.later(trx, owner.tenant.id, { key: `lost-${i}`, sleepMs: 0 })));
  await eventually(async () => (await outbox(ids)).every((r) => r.relayed_at), 'the relay to move every row to Redis');
  assert.ok((await outbox(ids)).every((r) => r.finished_at === null), 'relayed is not finished');
  await stop(relayOnly);

  await wipeRedis();
  await runtime({ schedulers: false });
  await eventually(async () => (await doneEffects(ids)) === ids.length, 'every lost job to run', 30_000);
  await eventually(async () => (await outbox(ids)).every((r) => r.finished_at), 'every row to be marked finished');
  const runs = await t.platform.tenancy.withSystem('test: runs', (trx) => sql<{ n: string }>`SELECT count(*) AS n FROM test_runs WHERE job_id = ANY(${ids})`.execute(trx));
  assert.equal(Number(runs.rows[0]!.n), ids.length, 'each job ran once');
});

test('the system job schedulers come back after Redis lost them, without a restart', async () => {
  const r = await runtime({ workers: false, relay: false, schedulers: true });
  const connection = t.platform.redis.duplicate();
  const queue = new Queue(SYSTEM_QUEUE, { connection, prefix: t.platform.config.BRIGADE_QUEUE_PREFIX });
  try {
    const names = async () => (await queue.getJobSchedulers()).map((s) => s.key).sort();
    const expected = jobRegistry(faultJobs).systemJobs.filter((j) => j.schedule).map((j) => j.type).sort();
    assert.ok(expected.length >= 2);
    await eventually(async () => (await names()).length === expected.length, 'the schedulers at start');
    await wipeRedis();
    // The runtime's own periodic check may be restoring while we look (it restores one scheduler
    // after another): the wipe must have taken some, not necessarily all, of them.
    assert.ok((await names()).length < expected.length, 'the wipe took the schedulers away');
    await eventually(async () => (await names()).length === expected.length, 'the schedulers to come back', 10_000);
    assert.deepEqual(await names(), expected);
  } finally {
    await queue.close();
    connection.disconnect();
    await stop(r);
  }
});

test('a job that failed for good in Redis while its death could not be recorded gets its dead-job record', async () => {
  for (const r of [...runtimes]) await stop(r);
  const owner = await aTenant(t.app);
  const relayOnly = await runtime({ workers: false, schedulers: false });
  const id = await t.platform.tenancy.withTenant({ tenantId: owner.tenant.id }, (trx) => slowEffectJob.later(trx, owner.tenant.id, { key: 'failed-unrecorded', sleepMs: 0 }));
  await eventually(async () => (await outbox([id]))[0]?.relayed_at, 'the row to be relayed');
  await stop(relayOnly);
  // BullMQ failed it (a stall limit, say) and no record was written: a bare BullMQ worker
  // stands for the worker whose database write never happened.
  const connection = t.platform.redis.duplicate({ maxRetriesPerRequest: null, commandTimeout: undefined });
  const bare = new Worker('test', async () => {
    throw new UnrecoverableError('job stalled more than allowable limit');
  }, { connection, prefix: t.platform.config.BRIGADE_QUEUE_PREFIX });
  const reader = t.platform.redis.duplicate();
  const queue = new Queue('test', { connection: reader, prefix: t.platform.config.BRIGADE_QUEUE_PREFIX });
  try {
    await eventually(async () => (await queue.getJobState(id)) === 'failed', 'BullMQ to fail the job');
  } finally {
    await bare.close();
    await queue.close();
    connection.disconnect();
    reader.disconnect();
  }
  const { recoverOutbox } = await import('./recovery.ts');
  const { jobLedger } = await import('./ledger.ts');
  const { openQueues, producerConnection } = await import('./queues.ts');
  const registry = jobRegistry(faultJobs);
  const queues = openQueues(t.platform.config, registry, producerConnection(t.platform.config.REDIS_URL, t.platform.log, 'test'));
  try {
    const result = await recoverOutbox({ platform: t.platform, registry, queues, ledger: jobLedger(t.platform.tenancy, t.platform.log), log: t.platform.log }, { olderThanMs: 0 });
    assert.equal(result.dead, 1);
  } finally {
    await queues.close();
    queues.redis.disconnect();
  }
  const dead = await t.platform.tenancy.withSystem('test: dead', (trx) => trx.selectFrom('dead_jobs').select(['job_id', 'failed_reason', 'tenant_id']).where('job_id', '=', id).execute());
  assert.deepEqual(dead, [{ job_id: id, failed_reason: 'job stalled more than allowable limit', tenant_id: owner.tenant.id }]);
  assert.ok((await outbox([id]))[0]!.finished_at);
});
