import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import crypto from 'node:crypto';
import { createTestContext, aTenant, anOperator, bearer, eventually, type TestContext } from '../../../test/harness.ts';
import { jobRegistry } from '../../jobs.ts';
import { startJobs, type JobsRuntime } from '../../platform/jobs/index.ts';
import { raiseAlert, dispatchNotifications } from './index.ts';

/**
 * Notifications leave through jobs against a real HTTP endpoint and the mail catcher: a webhook
 * that answers 500 is retried, then dead-lettered, and the alert stays listed with each
 * notification's state.
 */
const secret = 'test-webhook-secret-0123456789';
let answer: number | 'hang' = 500;
const received: { headers: http.IncomingHttpHeaders; body: string }[] = [];
// Requests of an endpoint that hangs (accepts, never answers until let go).
const hanging: http.ServerResponse[] = [];
const hook = http.createServer((req, res) => {
  let body = '';
  req.on('data', (c) => (body += c));
  req.on('end', () => {
    received.push({ headers: req.headers, body });
    if (answer === 'hang') hanging.push(res);
    else res.writeHead(answer).end();
  });
});

let t: TestContext;
let runtime: JobsRuntime;
let op: string;
before(async () => {
  await new Promise<void>((r) => hook.listen(0, '127.0.0.1', r));
  const port = (hook.address() as { port: number }).port;
  t = await createTestContext({
    BRIGADE_ALERT_WEBHOOK_URL: `http://127.0.0.1:${port}/hooks/brigade?token=abc`,
    BRIGADE_ALERT_WEBHOOK_SECRET: secret,
    BRIGADE_ALERT_MAIL_TO: 'oncall@ops.example, lead@ops.example',
    BRIGADE_JOB_ATTEMPTS: '3',
  });
  runtime = await startJobs(t.platform, jobRegistry(), { pollMs: 200, schedulers: false });
  op = (await anOperator(t)).token;
});
after(async () => {
  await runtime.close();
  await t.close();
  await new Promise((r) => hook.close(r));
});

const verify = (header: string, body: string) => {
  const [ts, v1] = header.split(',').map((p) => p.split('=')[1]!);
  const expected = crypto.createHmac('sha256', secret).update(`${ts}.${body}`).digest('hex');
  return crypto.timingSafeEqual(Buffer.from(v1!, 'hex'), Buffer.from(expected, 'hex'));
};

async function anAlert(tenantId: string) {
  const raised = await t.platform.tenancy.withSystem('test: raise', (trx) =>
    raiseAlert(trx, t.platform.config, { rule: 'tenant.error_rate', tenantId, summary: '30% of requests failed', observed: 0.3, expected: 0.005 }),
  );
  await dispatchNotifications(t.platform);
  return raised.id;
}

const alertOf = async (id: string) => (await t.app.inject({ method: 'GET', url: `/ops/api/alerts/${id}`, headers: bearer(op) })).json();

test('a notification webhook that answers 500 is retried and finally dead-lettered; the alert is still listed with its notification states', async () => {
  answer = 500;
  const owner = await aTenant(t.app, 'Hooked Bistro');
  const id = await anAlert(owner.tenant.id);
  const alert = await eventually(async () => {
    const a = await alertOf(id);
    const webhook = a.notifications.find((n: { channel: string }) => n.channel === 'webhook');
    return webhook?.state === 'dead' && a.notifications.filter((n: { state: string }) => n.state === 'sent').length === 2 ? a : null;
  }, 'the webhook notification to be dead and both mails sent');
  const webhook = alert.notifications.find((n: { channel: string }) => n.channel === 'webhook');
  assert.equal(webhook.attempts, 3);
  assert.match(webhook.lastError, /answered 500/);
  assert.equal(webhook.target, `http://127.0.0.1:${(hook.address() as { port: number }).port}/hooks/brigade`, 'the token in the query is not shown');
  assert.equal(alert.state, 'open');

  const tries = received.filter((r) => JSON.parse(r.body).alert.id === id);
  assert.equal(tries.length, 3);
  for (const r of tries) assert.ok(verify(String(r.headers['brigade-signature']), r.body), 'signed');
  assert.equal(new Set(tries.map((r) => r.headers['brigade-event-id'])).size, 1, 'one event id across retries');
  assert.equal(JSON.parse(tries[0]!.body).alert.tenantName, 'Hooked Bistro');

  // The dead-job record is written as the job fails for good, beside (not before) the notification's state.
  await eventually(async () => {
    const dead = await t.app.inject({ method: 'GET', url: '/ops/api/jobs?state=dead&type=alerts.notify', headers: bearer(op) });
    return dead.json().data.some((j: { id: string }) => j.id === webhook.id);
  }, 'the job in the dead letters');
  const listed = await t.app.inject({ method: 'GET', url: `/ops/api/alerts?state=open&tenantId=${owner.tenant.id}`, headers: bearer(op) });
  assert.deepEqual(listed.json().data.map((a: { id: string }) => a.id), [id]);

  const mails = await t.platform.tenancy.withSystem('test', (trx) => trx.selectFrom('caught_mails').select(['recipient', 'subject']).where('subject', 'like', '%Hooked Bistro%').execute());
  assert.deepEqual(mails.map((m) => m.recipient).sort(), ['lead@ops.example', 'oncall@ops.example']);
  assert.match(mails[0]!.subject, /^\[critical\] /);

  // Fixed endpoint: a replay of the dead job delivers it.
  answer = 200;
  const replay = await t.app.inject({ method: 'POST', url: `/ops/api/jobs/system/${webhook.id}/replay`, headers: bearer(op), payload: { reason: 'endpoint fixed' } });
  assert.equal(replay.statusCode, 202, replay.body);
  await eventually(async () => (await alertOf(id)).notifications.find((n: { channel: string }) => n.channel === 'webhook').state === 'sent', 'the replayed notification to be sent');
});

test('a resolution is notified too, and a healthy webhook gets each event once', async () => {
  answer = 200;
  const owner = await aTenant(t.app, 'Calm Bistro');
  const id = await anAlert(owner.tenant.id);
  const res = await t.app.inject({ method: 'POST', url: `/ops/api/alerts/${id}/resolve`, headers: bearer(op), payload: { note: 'false alarm: load test' } });
  assert.equal(res.statusCode, 200);
  // The answer is the alert as it now stands: resolved, with the note in its history.
  assert.equal(res.json().id, id);
  assert.equal(res.json().state, 'resolved');
  const last = res.json().history.at(-1);
  assert.equal(last.action, 'resolved');
  assert.equal(last.note, 'false alarm: load test');
  await dispatchNotifications(t.platform);
  await eventually(async () => (await alertOf(id)).notifications.filter((n: { state: string }) => n.state === 'sent').length === 6, 'six notifications sent');
  const events = received.filter((r) => JSON.parse(r.body).alert.id === id).map((r) => JSON.parse(r.body).type);
  assert.deepEqual(events.sort(), ['alert.opened', 'alert.resolved']);
});

test('a webhook that hangs holds up neither the alert, nor another alert, nor a request', async () => {
  answer = 'hang';
  const owner = await aTenant(t.app, 'Stuck Hook Bistro');
  const id = await anAlert(owner.tenant.id);
  await eventually(async () => received.some((r) => JSON.parse(r.body).alert.id === id) && hanging.length > 0, 'the webhook to be called and hang');
  // While the endpoint holds its connection: the alert is listed, its webhook notification is on its way,
  const alert = await alertOf(id);
  assert.equal(alert.state, 'open');
  assert.ok(['queued', 'retrying'].includes(alert.notifications.find((n: { channel: string }) => n.channel === 'webhook').state));
  // another tenant's alert opens and is handed to the queue, and the API answers.
  const other = await aTenant(t.app, 'Unbothered Bistro');
  const second = await anAlert(other.tenant.id);
  assert.equal((await alertOf(second)).state, 'open');
  assert.equal((await t.app.inject({ method: 'GET', url: '/v1/me', headers: bearer(other) })).statusCode, 200);
  assert.ok(hanging.some((res) => !res.writableEnded), 'the endpoint still had not answered');
  // Let go: the notifications are delivered.
  answer = 200;
  for (const res of hanging.splice(0)) res.writeHead(200).end();
  await eventually(async () => {
    const states = [...(await alertOf(id)).notifications, ...(await alertOf(second)).notifications].filter((n: { channel: string }) => n.channel === 'webhook').map((n: { state: string }) => n.state);
    return states.length === 2 && states.every((s) => s === 'sent');
  }, 'both webhook notifications to be sent');
});
