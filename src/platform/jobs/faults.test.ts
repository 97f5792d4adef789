import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { Writable } from 'node:stream';
import pg from 'pg';
import { aTenant, eventually, adminUrl } from '../../../test/harness.ts';
import { jobFaultSuite } from '../../../test/fixtures/job-faults.ts';
import { createLogger } from '../log.ts';

const f = jobFaultSuite();
const { workerProcess, runtime, stop, enqueue, effects, jobState } = f;

test('a worker killed with SIGKILL mid-job: the job runs again elsewhere and its effect happens once', async () => {
  const owner = await aTenant(f.t.app);
  const child = await workerProcess({ WORKER_LOCK_MS: '1000', WORKER_STALLED_MS: '500' });
  const jobId = await enqueue(owner.tenant.id, 'killed', 2000);
  await eventually(async () => (await effects(jobId)).runs === 1, 'the child to start the job');
  child.kill('SIGKILL');
  await child.exited;

  // Another worker notices the lost lock (stalled-job check) and runs the job again.
  const r = await runtime({ relay: false });
  const job = await eventually(async () => {
    const j = await jobState(jobId);
    return j?.state === 'completed' ? j : null;
  }, 'the job to complete on the second worker', 30_000);
  assert.deepEqual(await effects(jobId), { effects: 1, runs: 2, finished: 1 });
  assert.ok(job.history.some((h: { state: string }) => h.state === 'stalled'), 'the lost attempt is in the history');
  await stop(r);
});

test('SIGTERM lets a running job finish before the worker exits', async () => {
  const owner = await aTenant(f.t.app);
  const child = await workerProcess();
  const jobId = await enqueue(owner.tenant.id, 'finish-me', 1500);
  await eventually(async () => (await effects(jobId)).runs === 1, 'the child to start the job');
  child.kill('SIGTERM');
  assert.equal(await child.exited, 0);
  assert.deepEqual(await effects(jobId), { effects: 1, runs: 1, finished: 1 });
  const job = await eventually(async () => {
    const j = await jobState(jobId);
    return j?.state === 'completed' ? j : null;
  }, 'the job to read as completed');
  assert.equal(job.history.length, 1);
});

test('SIGTERM gives a job that cannot finish in the drain time back to the queue, and another worker completes it', async () => {
  const owner = await aTenant(f.t.app);
  const child = await workerProcess({ WORKER_DRAIN_MS: '200' });
  const jobId = await enqueue(owner.tenant.id, 'give-back', 4000);
  await eventually(async () => (await effects(jobId)).runs === 1, 'the child to start the job');
  child.kill('SIGTERM');
  assert.equal(await child.exited, 0);
  assert.equal((await effects(jobId)).finished, 0, 'the child did not finish it');
  const back = await jobState(jobId);
  assert.ok(['waiting', 'delayed'].includes(back.state), `the job is back in the queue (${back.state})`);

  const r = await runtime({ relay: false });
  await eventually(async () => (await jobState(jobId))?.state === 'completed', 'the job to complete', 30_000);
  assert.deepEqual(await effects(jobId), { effects: 1, runs: 2, finished: 1 });
  await stop(r);
});

test('Redis away when a use case commits: the outbox keeps the job and delivers it when Redis is back', async () => {
  // The relay reaches Redis through a proxy this test can cut; the workers talk to Redis directly.
  const sockets = new Set<net.Socket>();
  const forward = (client: net.Socket) => {
    const redisUrl = new URL(f.t.platform.config.REDIS_URL);
    const upstream = net.connect(Number(redisUrl.port || 6379), redisUrl.hostname);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => undefined);
      s.on('close', () => sockets.delete(s));
    }
    client.pipe(upstream).pipe(client);
  };
  const cut = () => {
    for (const s of sockets) s.destroy();
  };
  const proxy = net.createServer(forward);
  proxy.on('error', () => undefined);
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
  const port = (proxy.address() as net.AddressInfo).port;
  // The relay's log tells when a pass failed: the event this test waits for.
  let relayFailures = 0;
  const failed: { after: number; resolve: () => void }[] = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      if (String(chunk).includes('outbox relay pass failed')) {
        relayFailures++;
        for (const w of failed.filter((w) => relayFailures >= w.after)) {
          failed.splice(failed.indexOf(w), 1);
          w.resolve();
        }
      }
      done();
    },
  });
  const relayFailed = (count: number) => new Promise<void>((resolve) => failed.push({ after: relayFailures + count, resolve }));
  const r = await runtime({ relayRedisUrl: `redis://127.0.0.1:${port}`, log: createLogger('warn', sink) });
  const owner = await aTenant(f.t.app);

  await new Promise<void>((resolve) => {
    proxy.close(() => resolve());
    cut();
  });
  const jobId = await enqueue(owner.tenant.id, 'redis-away', 10);
  // Two failed passes after the commit: the second began after it, so it tried this row.
  await relayFailed(2);
  const pending = await f.t.platform.tenancy.withTenant({ tenantId: owner.tenant.id }, (trx) =>
    trx.selectFrom('outbox').select('relayed_at').where('tenant_id', '=', owner.tenant.id).where('id', '=', jobId).executeTakeFirstOrThrow(),
  );
  assert.equal(pending.relayed_at, null, 'the row waits in the outbox');
  assert.equal((await effects(jobId)).runs, 0);

  const back = net.createServer(forward);
  back.on('error', () => undefined);
  await new Promise<void>((res) => back.listen(port, '127.0.0.1', res));
  try {
    await eventually(async () => (await effects(jobId)).finished === 1, 'the job to run once Redis is back', 30_000);
    assert.deepEqual(await effects(jobId), { effects: 1, runs: 1, finished: 1 });
  } finally {
    await stop(r);
    await new Promise<void>((res) => {
      back.close(() => res());
      cut();
    });
  }
});

test('PostgreSQL connections lost (backends terminated): the relay listens again and keeps delivering', async () => {
  // Polling so slow that only a restored LISTEN can deliver within the test.
  const r = await runtime({ pollMs: 600_000 });
  const owner = await aTenant(f.t.app);
  const first = await enqueue(owner.tenant.id, 'before', 10);
  await eventually(async () => (await effects(first)).finished === 1, 'the first job');

  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  const relayBackend = async () =>
    (await admin.query(`SELECT pid FROM pg_stat_activity WHERE datname = $1 AND application_name = 'brigade-listen'`, [f.t.dbName])).rows[0]?.pid as number | undefined;
  try {
    const before = await relayBackend();
    assert.ok(before, 'the relay is listening');
    await admin.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1`, [f.t.dbName]);
    const after = await eventually(async () => {
      const pid = await relayBackend();
      return pid && pid !== before ? pid : null;
    }, 'the relay to reconnect');
    assert.notEqual(after, before);
  } finally {
    await admin.end();
  }
  // Pooled connections that were cut are replaced on their next use.
  const second = await eventually(() => enqueue(owner.tenant.id, 'after', 10).catch(() => null), 'a use case to commit again');
  await eventually(async () => (await effects(second)).finished === 1, 'the job committed after the outage', 15_000);
  await stop(r);
});
