import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import readline from 'node:readline';
import { createTestContext, aTenant, eventually, type TestContext } from './harness.ts';
import { raiseAlert } from '../src/modules/alerts/index.ts';

/**
 * `brigade worker` as it runs in production, in a process of its own on this test's database and
 * queue prefix, with BRIGADE_WORKER_PORT=0 (the port it took is in its log): its /healthz,
 * /readyz and /metrics, the metrics an outside Prometheus alerts on, with bounded labels only.
 */
let t: TestContext;
let worker: ChildProcess;
let base: string;
const exited = () => new Promise((resolve) => (worker.exitCode !== null ? resolve(worker.exitCode) : worker.once('exit', resolve)));

before(async () => {
  t = await createTestContext();
  worker = spawn(process.execPath, ['--import', 'tsx', path.resolve('src/cli.ts'), 'worker'], {
    env: { ...process.env, DATABASE_URL: t.ownerUrl, BRIGADE_QUEUE_PREFIX: t.platform.config.BRIGADE_QUEUE_PREFIX, BRIGADE_WORKER_PORT: '0', BRIGADE_DEMO: 'false', BRIGADE_SIMULATOR_PORT: '1', LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  for await (const line of readline.createInterface({ input: worker.stdout! })) {
    const entry = (() => {
      try {
        return JSON.parse(line) as { msg?: string; port?: number };
      } catch {
        return {};
      }
    })();
    if (entry.msg?.startsWith('worker probes and metrics listening') && entry.port) {
      base = `http://127.0.0.1:${entry.port}`;
      break;
    }
  }
  assert.ok(base, 'the worker logged its port');
  worker.stdout!.resume();
});
after(async () => {
  if (worker.exitCode === null) {
    worker.kill('SIGTERM');
    await exited();
  }
  await t.close();
});

test("the worker serves its own /healthz, /readyz and /metrics: jobs by queue, type and state, outbox lag and backlog, open alerts by rule and severity, tenants by plan and status; no label holds a tenant id", async () => {
  assert.equal((await fetch(`${base}/healthz`)).status, 200);
  assert.equal((await fetch(`${base}/readyz`)).status, 200);

  // A signup enqueues the owner's mail through the outbox; the worker relays and runs it.
  const owner = await aTenant(t.app, 'Metered Bistro');
  await t.platform.tenancy.withSystem('test: raise', (trx) =>
    raiseAlert(trx, t.platform.config, { rule: 'tenant.error_rate', tenantId: owner.tenant.id, summary: 'errors', observed: 0.3, expected: 0.005 }),
  );
  const metrics = await eventually(async () => {
    const text = await (await fetch(`${base}/metrics`)).text();
    return /^brigade_jobs_total\{queue="[^"]+",type="[^"]+",state="completed"\} [1-9]/m.test(text) ? text : null;
  }, 'a job the worker ran to be counted');
  assert.match(metrics, /^brigade_job_duration_seconds_bucket\{le="[^"]+",queue="[^"]+",type="[^"]+",state="completed"\} /m);
  assert.match(metrics, /^brigade_outbox_lag_seconds \d/m);
  assert.match(metrics, /^brigade_outbox_pending\{state="due"\} \d+/m);
  assert.match(metrics, /^brigade_outbox_pending\{state="scheduled"\} \d+/m);
  assert.match(metrics, /^brigade_alerts_open\{rule="tenant.error_rate",severity="critical"\} 1$/m);
  assert.match(metrics, /^brigade_tenants\{plan="trial",status="trialing"\} [1-9]/m);

  // Bounded labels: no tenant id (nor any other id) in any label of any series.
  assert.ok(!metrics.includes(owner.tenant.id), 'the tenant id appears in /metrics');
  const labelled = metrics.split('\n').filter((l) => l && !l.startsWith('#') && l.includes('{'));
  assert.ok(labelled.length > 0);
  const ids = labelled.filter((l) => /\{[^}]*[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/i.test(l));
  assert.deepEqual(ids, []);

  // Draining on SIGTERM, it stops cleanly.
  worker.kill('SIGTERM');
  assert.equal(await exited(), 0);
});
