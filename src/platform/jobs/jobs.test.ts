import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { Type } from 'typebox';
import { createTestContext, aTenant, anOperator, bearer, eventually, type TestContext } from '../../../test/harness.ts';
import { createLogger } from '../log.ts';
import { jobRegistry } from '../../jobs.ts';
import {
  defineJob,
  definePerTenantSchedule,
  enqueueLater,
  startJobs,
  runTenantSchedules,
  cleanUp,
  backoffDelay,
  type JobsRuntime,
} from './index.ts';

interface Seen {
  jobId: string;
  tenantId: string;
  note: string;
  attempt: number;
  visibleTenants: string[];
}
const seen: Seen[] = [];

const recordJob = defineJob('test.record', Type.Object({ note: Type.String() }), async (job) => {
  job.log.info({ note: job.payload.note }, 'recording');
  // RLS inside the handler's transaction shows its own tenant and no other.
  const visible = await job.withTenant((trx) => trx.selectFrom('tenants').select('id').execute());
  seen.push({ jobId: job.jobId, tenantId: job.tenantId, note: job.payload.note, attempt: job.attempt, visibleTenants: visible.map((v) => v.id) });
});

const alwaysFailsJob = defineJob('test.always_fails', Type.Object({ n: Type.Integer() }), async () => {
  throw new Error('the printer is on fire');
});

let flakyCalls = 0;
const flakyJob = defineJob(
  'test.flaky',
  Type.Object({}),
  async () => {
    flakyCalls++;
    if (flakyCalls < 3) throw new Error(`flake ${flakyCalls}`);
  },
  { attempts: 3 },
);

const testJobs = [recordJob, alwaysFailsJob, flakyJob];

let t: TestContext;
let runtime: JobsRuntime;
let op: string;
const logLines: Record<string, unknown>[] = [];

before(async () => {
  t = await createTestContext({}, { jobs: testJobs });
  const sink = new Writable({
    write(chunk, _enc, done) {
      for (const line of String(chunk).split('\n')) if (line.trim()) logLines.push(JSON.parse(line));
      done();
    },
  });
  runtime = await startJobs(t.platform, jobRegistry(testJobs), { pollMs: 200, log: createLogger('info', sink) });
  op = (await anOperator(t)).token;
});
after(async () => {
  await runtime.close();
  await t.close();
});

const later = (tenantId: string, type: string, payload: Record<string, unknown>, runAt?: Date) =>
  t.platform.tenancy.withTenant({ tenantId }, (trx) => enqueueLater(trx, tenantId, type, payload, runAt ? { runAt } : {}));

const getJob = async (queue: string, id: string) => {
  const res = await t.app.inject({ method: 'GET', url: `/ops/api/jobs/${queue}/${id}`, headers: bearer(op) });
  return res.statusCode === 200 ? res.json() : null;
};

test('a job committed with its use case runs once, in its tenant, with tenantId and jobId on every log line', async () => {
  const a = await aTenant(t.app);
  const jobId = await later(a.tenant.id, 'test.record', { note: 'hello' });
  const run = await eventually(async () => seen.find((s) => s.jobId === jobId), 'the job to run');
  assert.equal(run.tenantId, a.tenant.id);
  assert.deepEqual(run.visibleTenants, [a.tenant.id]);

  // The outbox id is the job id, and the row is marked relayed.
  const row = await t.platform.tenancy.withTenant({ tenantId: a.tenant.id }, (trx) => trx.selectFrom('outbox').selectAll().where('id', '=', jobId).executeTakeFirstOrThrow());
  assert.ok(row.relayed_at);
  const job = await eventually(async () => {
    const j = await getJob('test', jobId);
    return j?.state === 'completed' ? j : null;
  }, 'the job to read as completed');
  assert.equal(job.type, 'test.record');
  assert.equal(job.tenantId, a.tenant.id);

  const lines = logLines.filter((l) => l.jobId === jobId);
  assert.ok(lines.some((l) => l.msg === 'recording'));
  for (const l of lines) assert.equal(l.tenantId, a.tenant.id);
  assert.equal(seen.filter((s) => s.jobId === jobId).length, 1);
});

test('a job of a rolled-back transaction never exists', async () => {
  const a = await aTenant(t.app);
  let rolledBackId = '';
  await assert.rejects(
    t.platform.tenancy.withTenant({ tenantId: a.tenant.id }, async (trx) => {
      rolledBackId = await enqueueLater(trx, a.tenant.id, 'test.record', { note: 'never' });
      throw new Error('use case failed');
    }),
  );
  const marker = await later(a.tenant.id, 'test.record', { note: 'after' });
  await eventually(async () => seen.find((s) => s.jobId === marker), 'the marker job');
  assert.equal(seen.find((s) => s.jobId === rolledBackId), undefined);
  assert.equal(await getJob('test', rolledBackId), null);
});

test('a job that keeps failing is tried BRIGADE_JOB_ATTEMPTS times, then is dead with its reason, payload, stack and attempts', async () => {
  const a = await aTenant(t.app);
  const jobId = await later(a.tenant.id, 'test.always_fails', { n: 7 });
  const dead = await eventually(async () => {
    const j = await getJob('test', jobId);
    return j?.state === 'dead' ? j : null;
  }, 'the job to be dead');
  assert.equal(t.platform.config.BRIGADE_JOB_ATTEMPTS, 5);
  assert.equal(dead.attempts, 5);
  assert.equal(dead.failedReason, 'the printer is on fire');
  assert.deepEqual(dead.data, { n: 7, tenantId: a.tenant.id });
  assert.ok(dead.stacktrace.some((s: string) => s.includes('the printer is on fire')));
  assert.deepEqual(
    dead.history.map((h: { attempt: number; state: string }) => [h.attempt, h.state]),
    [[1, 'failed'], [2, 'failed'], [3, 'failed'], [4, 'failed'], [5, 'failed']],
  );

  const list = await t.app.inject({ method: 'GET', url: `/ops/api/jobs?state=dead&tenantId=${a.tenant.id}`, headers: bearer(op) });
  assert.deepEqual(
    list.json().data.map((j: { id: string; type: string; state: string }) => [j.id, j.type, j.state]),
    [[jobId, 'test.always_fails', 'dead']],
  );
});

test('a job that fails and then succeeds is retried, and its history shows each attempt', async () => {
  const a = await aTenant(t.app);
  const jobId = await later(a.tenant.id, 'test.flaky', {});
  const done = await eventually(async () => {
    const j = await getJob('test', jobId);
    return j?.state === 'completed' && j.history.length === 3 ? j : null;
  }, 'the flaky job to complete');
  assert.deepEqual(done.history.map((h: { state: string }) => h.state), ['failed', 'failed', 'completed']);
  assert.deepEqual(done.history.map((h: { error: string | null }) => h.error), ['flake 1', 'flake 2', null]);
});

test('retry delays double from BRIGADE_JOB_BACKOFF_MS, with jitter of at most half', () => {
  for (let attempt = 1; attempt <= 5; attempt++) {
    const nominal = 1000 * 2 ** (attempt - 1);
    for (let i = 0; i < 50; i++) {
      const d = backoffDelay(attempt, 1000);
      assert.ok(d >= nominal / 2 && d <= nominal, `attempt ${attempt}: ${d} outside [${nominal / 2}, ${nominal}]`);
    }
  }
});

test('a payload that does not match its schema, or a type nobody handles, is dead at once', async () => {
  const a = await aTenant(t.app);
  const badPayload = await later(a.tenant.id, 'test.record', { note: 42 });
  const unknownType = await later(a.tenant.id, 'nobody.handles_this', { x: 1 });
  const bad = await eventually(async () => {
    const j = await getJob('test', badPayload);
    return j?.state === 'dead' ? j : null;
  }, 'the bad payload to be dead');
  assert.equal(bad.attempts, 1);
  assert.match(bad.failedReason, /does not match test\.record/);
  const unknown = await eventually(async () => {
    const j = await getJob('system', unknownType);
    return j?.state === 'dead' ? j : null;
  }, 'the unknown type to be dead');
  assert.match(unknown.failedReason, /No handler is defined for job type "nobody.handles_this"/);
});

test('a job due later waits as a delayed job and runs when it is due', async () => {
  const a = await aTenant(t.app);
  const runAt = new Date(Date.now() + 2000);
  const jobId = await later(a.tenant.id, 'test.record', { note: 'later' }, runAt);
  const waiting = await eventually(async () => {
    const j = await getJob('test', jobId);
    return j?.state === 'delayed' ? j : null;
  }, 'the job to be delayed');
  assert.equal(waiting.runAt, runAt.toISOString());
  await eventually(async () => seen.find((s) => s.jobId === jobId), 'the delayed job to run');
  assert.ok(Date.now() >= runAt.getTime() - 5, 'it ran after it was due');
});

test('two relays side by side enqueue every outbox row exactly once', async () => {
  const second = await startJobs(t.platform, jobRegistry(testJobs), { workers: false, schedulers: false, pollMs: 50 });
  try {
    const tenants = await Promise.all([aTenant(t.app), aTenant(t.app), aTenant(t.app)]);
    const ids: string[] = [];
    await Promise.all(
      tenants.map(async (ten) => {
        for (let i = 0; i < 30; i++) ids.push(await later(ten.tenant.id, 'test.record', { note: `pair-${i}` }));
      }),
    );
    await eventually(async () => ids.every((id) => seen.some((s) => s.jobId === id)), 'every job to run', 30_000);
    for (const id of ids) assert.equal(seen.filter((s) => s.jobId === id).length, 1, `job ${id} ran once`);
  } finally {
    await second.close();
  }
});

test('a per-tenant schedule runs once per tenant at its local time, inside that tenant', async () => {
  const runs: { tenantId: string; fireAt: string; visible: string[] }[] = [];
  let failFor: string | null = null;
  const morning = definePerTenantSchedule('test.morning', '0 6 * * *', async (ctx, trx) => {
    if (ctx.tenantId === failFor) throw new Error('not today');
    const visible = await trx.selectFrom('tenants').select('id').execute();
    runs.push({ tenantId: ctx.tenantId, fireAt: ctx.fireAt.toISOString(), visible: visible.map((v) => v.id) });
  });
  const signup = (businessName: string, timezone: string) =>
    t.app.inject({ method: 'POST', url: '/v1/signup', payload: { businessName, name: 'Owner', email: `o+${timezone.replace('/', '')}${Date.now()}@example.com`, password: 'correct horse battery', timezone } });
  const lisbon = (await signup('Lisbon Café', 'Europe/Lisbon')).json().tenant.id as string;
  const tokyo = (await signup('Tokyo Kissa', 'Asia/Tokyo')).json().tenant.id as string;
  const mine = (r: { tenantId: string }) => r.tenantId === lisbon || r.tenantId === tokyo;
  const log = t.platform.log;

  // 06:00 in Lisbon (UTC+0 in January) is 06:00Z; 06:00 in Tokyo is 21:00Z the day before.
  // Lisbon's run fails the first time: it alone is tried again on the next pass.
  failFor = lisbon;
  const first = await runTenantSchedules(t.platform, [morning], new Date('2030-01-15T06:00:30Z'), log);
  assert.equal(first.failed, 1);
  assert.deepEqual(runs.filter(mine), []);

  failFor = null;
  const second = await runTenantSchedules(t.platform, [morning], new Date('2030-01-15T21:00:30Z'), log);
  assert.equal(second.failed, 0);
  const byTime = (x: string[], y: string[]) => x[1]!.localeCompare(y[1]!);
  assert.deepEqual(runs.filter(mine).map((r) => [r.tenantId, r.fireAt]).sort(byTime), [
    [lisbon, '2030-01-15T06:00:00.000Z'],
    [tokyo, '2030-01-15T21:00:00.000Z'],
  ]);
  assert.deepEqual(runs.find((r) => r.tenantId === lisbon)!.visible, [lisbon]);

  // Running the same window again does nothing: each tenant and due time runs once.
  await runTenantSchedules(t.platform, [morning], new Date('2030-01-15T21:00:30Z'), log);
  assert.equal(runs.filter(mine).length, 2);
});

test('the daily cleanup removes expired sessions and keys, old relayed outbox rows and old job records, and keeps the rest', async () => {
  const a = await aTenant(t.app);
  const tid = a.tenant.id;
  const long = new Date(Date.now() - 60 * 86_400_000);
  await t.platform.tenancy.withTenant({ tenantId: tid }, async (trx) => {
    await trx.insertInto('sessions').values({ tenant_id: tid, user_id: a.user.id, token_hash: 'expired-session', expires_at: new Date(Date.now() - 1000) }).execute();
    await trx.insertInto('idempotency_keys').values({ tenant_id: tid, key: 'old', user_id: a.user.id, request_hash: 'x', expires_at: new Date(Date.now() - 1000) }).execute();
    await trx.insertInto('idempotency_keys').values({ tenant_id: tid, key: 'fresh', user_id: a.user.id, request_hash: 'x', expires_at: new Date(Date.now() + 3600_000) }).execute();
    await trx.insertInto('outbox').values({ tenant_id: tid, type: 'test.record', payload: '{}', relayed_at: long, finished_at: long, created_at: long, run_at: long }).execute();
  });
  await t.platform.tenancy.withSystem('test: old job records', async (trx) => {
    await trx.insertInto('job_runs').values({ queue: 'test', job_id: 'old-done', type: 'test.record', tenant_id: tid, attempt: 1, state: 'completed', finished_at: long }).execute();
    await trx.insertInto('job_runs').values({ queue: 'test', job_id: 'old-dead', type: 'test.record', tenant_id: tid, attempt: 1, state: 'failed', finished_at: long }).execute();
    await trx
      .insertInto('dead_jobs')
      .values({ queue: 'test', job_id: 'old-dead', type: 'test.record', tenant_id: tid, payload: '{}', attempts: 1, failed_reason: 'x', died_at: long })
      .execute();
  });
  const counts = await cleanUp(t.platform);
  assert.ok(counts.sessions! >= 1 && counts.idempotencyKeys! >= 1 && counts.outbox! >= 1 && counts.jobRuns! >= 1);
  const left = await t.platform.tenancy.withSystem('test: what is left', async (trx) => ({
    sessions: await trx.selectFrom('sessions').select('token_hash').where('tenant_id', '=', tid).execute(),
    keys: await trx.selectFrom('idempotency_keys').select('key').where('tenant_id', '=', tid).execute(),
    oldOutbox: await trx.selectFrom('outbox').select('id').where('tenant_id', '=', tid).where('relayed_at', '<', new Date(Date.now() - 30 * 86_400_000)).execute(),
    runs: await trx.selectFrom('job_runs').select('job_id').where('job_id', 'in', ['old-done', 'old-dead']).execute(),
    dead: await trx.selectFrom('dead_jobs').select('job_id').where('job_id', '=', 'old-dead').execute(),
  }));
  assert.equal(left.sessions.length, 1, 'the live session stays');
  assert.deepEqual(left.keys.map((k) => k.key), ['fresh']);
  assert.equal(left.oldOutbox.length, 0);
  assert.deepEqual(left.runs.map((r) => r.job_id), ['old-dead'], 'the attempts of a dead job stay until it is resolved');
  assert.equal(left.dead.length, 1, 'a dead job stays until replayed or discarded');
});
