import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Type } from 'typebox';
import { sql } from 'kysely';
import { createTestContext, aTenant, eventually, type TestContext } from '../../../test/harness.ts';
import { jobRegistry } from '../../jobs.ts';
import { defineJob, enqueueLater, startJobs, type JobsRuntime } from './index.ts';

const done: { tenantId: string; at: number }[] = [];
const workJob = defineJob('test.work', Type.Object({ n: Type.Integer() }), async (job) => {
  await new Promise((r) => setTimeout(r, 1));
  done.push({ tenantId: job.tenantId, at: Date.now() });
});

let t: TestContext;
let runtime: JobsRuntime;
before(async () => {
  t = await createTestContext({ BRIGADE_JOB_TENANT_CAP: '20', BRIGADE_JOB_CONCURRENCY: '10' }, { jobs: [workJob] });
  runtime = await startJobs(t.platform, jobRegistry([workJob]), { pollMs: 200, schedulers: false });
});
after(async () => {
  await runtime.close();
  await t.close();
});

test('a tenant that enqueues 10,000 jobs does not starve another tenant, and never has more than its cap in the queue', async () => {
  const big = await aTenant(t.app, 'Flood Kitchen');
  const small = await aTenant(t.app, 'Quiet Café');
  const cap = t.platform.config.BRIGADE_JOB_TENANT_CAP;

  // The flood commits first, in one transaction, so all 10,000 are ahead of the small tenant.
  await t.platform.tenancy.withTenant({ tenantId: big.tenant.id }, (trx) =>
    sql`
      INSERT INTO outbox (tenant_id, type, payload)
      SELECT ${big.tenant.id}::uuid, 'test.work', jsonb_build_object('n', n, 'tenantId', ${big.tenant.id}::text)
      FROM generate_series(1, 10000) AS n`.execute(trx),
  );
  await eventually(async () => done.some((d) => d.tenantId === big.tenant.id), 'the flood to start');

  let maxInFlight = 0;
  const sampler = setInterval(() => {
    t.platform.redis
      .zcard(`${t.platform.config.BRIGADE_QUEUE_PREFIX}:fair:${big.tenant.id}`)
      .then((n) => (maxInFlight = Math.max(maxInFlight, n)), () => undefined);
  }, 5);
  try {
    for (let i = 0; i < 20; i++) {
      await t.platform.tenancy.withTenant({ tenantId: small.tenant.id }, (trx) => enqueueLater(trx, small.tenant.id, 'test.work', { n: i }));
    }
    await eventually(async () => done.filter((d) => d.tenantId === small.tenant.id).length === 20, "the small tenant's jobs", 60_000);
  } finally {
    clearInterval(sampler);
  }

  const bigDoneWhenSmallFinished = done.filter((d) => d.tenantId === big.tenant.id).length;
  assert.ok(bigDoneWhenSmallFinished < 9000, `the small tenant finished after ${bigDoneWhenSmallFinished} of the flood's jobs, not after all 10,000`);
  assert.ok(maxInFlight > 0 && maxInFlight <= cap, `the flood had at most ${cap} jobs in the queue (saw ${maxInFlight})`);

  // The rest of the flood is still in the outbox, its tenant's own backlog, not in Redis.
  const backlog = await t.platform.tenancy.withTenant({ tenantId: big.tenant.id }, (trx) =>
    trx.selectFrom('outbox').select((eb) => eb.fn.countAll<string>().as('n')).where('tenant_id', '=', big.tenant.id).where('relayed_at', 'is', null).executeTakeFirstOrThrow(),
  );
  assert.ok(Number(backlog.n) > 0);
});
