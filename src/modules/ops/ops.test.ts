import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import fs from 'node:fs';
import os from 'node:os';
import Fastify from 'fastify';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Type } from 'typebox';
import { createTestContext, aTenant, anOperator, bearer, eventually, problem, type TestContext } from '../../../test/harness.ts';
import { jobRegistry } from '../../jobs.ts';
import { defineJob, enqueueLater, startJobs, type JobsRuntime } from '../../platform/jobs/index.ts';
import { installProblemHandlers } from '../../platform/http/problems.ts';
import { consoleRoutes, loadConsole } from './index.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

// Fails until `healed` is set: a job that is dead now and succeeds when replayed.
let healed = false;
const ran: string[] = [];
const fragileJob = defineJob(
  'test.fragile',
  Type.Object({ label: Type.String() }),
  async (job) => {
    if (!healed) throw new Error(`cannot handle ${job.payload.label} yet`);
    ran.push(job.jobId);
  },
  { attempts: 2 },
);

let t: TestContext;
let runtime: JobsRuntime;
let op: string;
before(async () => {
  t = await createTestContext({}, { jobs: [fragileJob] });
  runtime = await startJobs(t.platform, jobRegistry([fragileJob]), { pollMs: 200 });
  op = (await anOperator(t)).token;
});
after(async () => {
  await runtime.close();
  await t.close();
});

const ops = (method: 'GET' | 'POST', url: string, payload?: unknown) =>
  t.app.inject({ method, url, headers: bearer(op), ...(payload === undefined ? {} : { payload: payload as object }) });

async function deadJob(tenantId: string, label: string): Promise<string> {
  const id = await t.platform.tenancy.withTenant({ tenantId }, (trx) => fragileJob.later(trx, tenantId, { label }));
  await eventually(async () => (await ops('GET', `/ops/api/jobs/test/${id}`)).json().state === 'dead', `job ${label} to be dead`);
  return id;
}

test('tenant tokens and anonymous callers get 401 on the operations API', async () => {
  const owner = await aTenant(t.app);
  for (const url of ['/ops/api/queues', '/ops/api/jobs?state=dead', '/ops/api/mails', '/ops/api/jobs/mail/x']) {
    const asTenant = await t.app.inject({ method: 'GET', url, headers: bearer(owner) });
    assert.equal(asTenant.statusCode, 401, url);
    assert.equal(problem(asTenant).code, 'unauthenticated');
    assert.equal((await t.app.inject({ method: 'GET', url })).statusCode, 401, url);
  }
  const replay = await t.app.inject({ method: 'POST', url: '/ops/api/jobs/mail/x/replay', headers: bearer(owner) });
  assert.equal(replay.statusCode, 401);
});

test('queues list their counts, dead jobs included', async () => {
  healed = false;
  const owner = await aTenant(t.app);
  await deadJob(owner.tenant.id, 'counted');
  const res = await ops('GET', '/ops/api/queues');
  assert.equal(res.statusCode, 200);
  const byName = Object.fromEntries(res.json().data.map((q: { name: string; counts: Record<string, number> }) => [q.name, q.counts]));
  assert.deepEqual(Object.keys(byName).sort(), ['billing', 'lifecycle', 'mail', 'reports', 'system', 'tenant', 'test']);
  for (const counts of Object.values(byName) as Record<string, number>[]) {
    assert.deepEqual(Object.keys(counts).sort(), ['active', 'backlog', 'completed', 'dead', 'delayed', 'failed', 'waiting']);
  }
  assert.ok(byName.test.dead >= 1);
  assert.ok(byName.mail.completed >= 1 || byName.mail.waiting + byName.mail.active + byName.mail.backlog >= 1, 'the welcome mail is counted');
});

test('jobs are listed by state, tenant and type', async () => {
  healed = false;
  const a = await aTenant(t.app);
  const b = await aTenant(t.app);
  const deadA = await deadJob(a.tenant.id, 'a');
  await deadJob(b.tenant.id, 'b');
  const list = await ops('GET', `/ops/api/jobs?state=dead&tenantId=${a.tenant.id}&type=test.fragile`);
  assert.equal(list.statusCode, 200);
  const body = list.json();
  assert.equal(body.nextCursor, null);
  assert.equal(body.data.length, 1);
  const item = body.data[0];
  assert.deepEqual(Object.keys(item).sort(), ['attempts', 'createdAt', 'failedReason', 'finishedAt', 'id', 'queue', 'replayOf', 'state', 'tenantId', 'tenantName', 'type']);
  assert.equal(item.tenantName, a.tenant.name, 'the business name travels beside its id');
  assert.deepEqual(
    { queue: item.queue, id: item.id, type: item.type, tenantId: item.tenantId, state: item.state, attempts: item.attempts, failedReason: item.failedReason, replayOf: item.replayOf },
    { queue: 'test', id: deadA, type: 'test.fragile', tenantId: a.tenant.id, state: 'dead', attempts: 2, failedReason: 'cannot handle a yet', replayOf: null },
  );

  // The welcome mail of each signup is a completed mail job of its tenant.
  const completed = await eventually(async () => {
    const r = (await ops('GET', `/ops/api/jobs?state=completed&tenantId=${a.tenant.id}`)).json();
    return r.data.length ? r : null;
  }, 'the welcome mail to be listed as completed');
  assert.deepEqual(completed.data.map((j: { type: string; state: string }) => [j.type, j.state]), [['mail.welcome', 'completed']]);

  const paged = (await ops('GET', '/ops/api/jobs?state=dead&limit=1')).json();
  assert.equal(paged.data.length, 1);
  assert.ok(paged.nextCursor);
  const next = (await ops('GET', `/ops/api/jobs?state=dead&limit=1&cursor=${paged.nextCursor}`)).json();
  assert.notEqual(next.data[0].id, paged.data[0].id);

  assert.equal((await ops('GET', '/ops/api/jobs?state=sleeping')).statusCode, 400);
});

test('one job shows its data, stack trace and attempts; a missing one is 404', async () => {
  healed = false;
  const owner = await aTenant(t.app);
  const id = await deadJob(owner.tenant.id, 'detailed');
  const res = await ops('GET', `/ops/api/jobs/test/${id}`);
  const job = res.json();
  assert.equal(job.state, 'dead');
  assert.deepEqual(job.data, { label: 'detailed', tenantId: owner.tenant.id });
  assert.ok(job.stacktrace.length >= 1);
  assert.deepEqual(job.history.map((h: { attempt: number; state: string; error: string }) => [h.attempt, h.state, h.error]), [
    [1, 'failed', 'cannot handle detailed yet'],
    [2, 'failed', 'cannot handle detailed yet'],
  ]);
  assert.equal((await ops('GET', '/ops/api/jobs/test/00000000-0000-0000-0000-000000000000')).statusCode, 404);
  assert.equal((await ops('GET', `/ops/api/jobs/nosuchqueue/${id}`)).statusCode, 404);
});

test('replaying a dead job runs it as a new job linked to the original, and records who and why', async () => {
  healed = false;
  const owner = await aTenant(t.app);
  const original = await deadJob(owner.tenant.id, 'replay-me');
  healed = true;
  const res = await ops('POST', `/ops/api/jobs/test/${original}/replay`, { reason: 'printer fixed' });
  assert.equal(res.statusCode, 202);
  const { queue, id } = res.json();
  assert.equal(queue, 'test');
  assert.notEqual(id, original);

  const replayed = await eventually(async () => {
    const j = (await ops('GET', `/ops/api/jobs/${queue}/${id}`)).json();
    return j.state === 'completed' ? j : null;
  }, 'the replay to complete');
  assert.equal(replayed.replayOf, original);
  assert.ok(ran.includes(id));

  const before = (await ops('GET', `/ops/api/jobs/test/${original}`)).json();
  assert.equal(before.state, 'replayed');
  assert.equal(before.replayedAs, id);
  assert.equal(before.operations.length, 1);
  assert.match(before.operations[0].actor, /^operator:op\+/);
  assert.equal(before.operations[0].reason, 'printer fixed');
  assert.equal(before.operations[0].newJobId, id);
  const dead = (await ops('GET', `/ops/api/jobs?state=dead&tenantId=${owner.tenant.id}`)).json();
  assert.equal(dead.data.length, 0, 'a replayed job leaves the dead list');

  // A bare POST (no body) replays as well; a job that is not dead or completed cannot be replayed.
  const again = await t.app.inject({ method: 'POST', url: `/ops/api/jobs/test/${original}/replay`, headers: bearer(op) });
  assert.equal(again.statusCode, 202);
  // A new job of its own, a replay of the same original.
  const replayedAgain = again.json() as { queue: string; id: string; replayOf: string; tenantId: string | null };
  assert.deepEqual({ ...replayedAgain, id: undefined }, { queue: 'test', id: undefined, replayOf: original, tenantId: owner.tenant.id });
  assert.notEqual(replayedAgain.id, id);
  const unknownField = await ops('POST', `/ops/api/jobs/test/${original}/replay`, { reason: 'x', tenantId: owner.tenant.id });
  assert.equal(unknownField.statusCode, 400);
});

test('dead jobs are replayed or discarded in bulk by filter', async () => {
  healed = false;
  const a = await aTenant(t.app);
  const b = await aTenant(t.app);
  const ofA = [await deadJob(a.tenant.id, 'bulk-1'), await deadJob(a.tenant.id, 'bulk-2')];
  const ofB = await deadJob(b.tenant.id, 'bulk-3');
  healed = true;
  const res = await ops('POST', '/ops/api/jobs/replay', { tenantId: a.tenant.id, type: 'test.fragile', reason: 'bulk fix' });
  assert.equal(res.statusCode, 202);
  const body = res.json();
  assert.equal(body.count, 2);
  assert.deepEqual(body.jobs.map((j: { replayOf: string }) => j.replayOf).sort(), [...ofA].sort());
  for (const j of body.jobs) await eventually(async () => (await ops('GET', `/ops/api/jobs/test/${j.id}`)).json().state === 'completed', 'bulk replay to complete');

  const discard = await ops('POST', '/ops/api/jobs/discard', { tenantId: b.tenant.id, reason: 'customer left' });
  assert.equal(discard.statusCode, 200);
  assert.deepEqual(discard.json().jobs.map((j: { id: string }) => j.id), [ofB]);
  const gone = (await ops('GET', `/ops/api/jobs/test/${ofB}`)).json();
  assert.equal(gone.state, 'discarded');
  assert.deepEqual(gone.operations.map((o: { action: string; reason: string }) => [o.action, o.reason]), [['discard', 'customer left']]);
  const twice = await ops('POST', `/ops/api/jobs/test/${ofB}/discard`, { reason: 'again' });
  assert.equal(twice.statusCode, 409);
});

test('caught mails are listed for operators with the business they belong to', async () => {
  const owner = await aTenant(t.app);
  const mails = await eventually(async () => {
    const r = (await ops('GET', `/ops/api/mails?to=${encodeURIComponent(owner.user.email)}`)).json();
    return r.data.length ? r.data : null;
  }, 'the welcome mail to be caught');
  assert.equal(mails[0].to, owner.user.email);
  assert.match(mails[0].subject, /^Welcome to Brigade/);
  assert.match(mails[0].text, /Sign in to Brigade: http/);
  assert.match(mails[0].html, /<a href="http/);
  assert.equal(mails[0].tenantId, owner.tenant.id);
  assert.equal(mails[0].tenantName, owner.tenant.name);
});

test('`brigade jobs` lists, shows and replays jobs from a shell', async () => {
  const owner = await aTenant(t.app);
  // A product job with a payload that cannot work: dead at its first attempt.
  const id = await t.platform.tenancy.withTenant({ tenantId: owner.tenant.id }, (trx) => enqueueLater(trx, owner.tenant.id, 'mail.welcome', { userId: 'not-a-user-id' }));
  await eventually(async () => (await ops('GET', `/ops/api/jobs/mail/${id}`)).json().state === 'dead', 'the mail job to be dead');
  const env = { ...process.env, DATABASE_URL: t.ownerUrl, BRIGADE_QUEUE_PREFIX: t.platform.config.BRIGADE_QUEUE_PREFIX, LOG_LEVEL: 'silent' };
  const brigade = (...args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', path.join(root, 'src/cli.ts'), 'jobs', ...args], { cwd: root, env, encoding: 'utf8', timeout: 60_000 });

  const list = brigade('list', '--state', 'dead', '--tenant', owner.tenant.id);
  assert.equal(list.status, 0, list.stderr);
  assert.match(list.stdout, new RegExp(`mail\\s+${id}\\s+mail.welcome\\s+dead`));
  const show = brigade('show', 'mail', id, '--json');
  assert.equal(show.status, 0, show.stderr);
  assert.equal(JSON.parse(show.stdout).state, 'dead');
  const replay = brigade('replay', 'mail', id, '--reason', 'shell test', '--json');
  assert.equal(replay.status, 0, replay.stderr);
  const out = JSON.parse(replay.stdout);
  assert.equal(out.replayOf, id);
  const original = (await ops('GET', `/ops/api/jobs/mail/${id}`)).json();
  assert.equal(original.state, 'replayed');
  assert.equal(original.replayedAs, out.id);
  assert.match(original.operations[0].actor, /^cli:/);
  assert.equal(original.operations[0].reason, 'shell test');
});

test('a job is found by its id in whichever queue holds it', async () => {
  healed = false;
  const owner = await aTenant(t.app);
  const id = await deadJob(owner.tenant.id, 'findable');
  const found = await ops('GET', `/ops/api/jobs/lookup?id=${id}`);
  assert.equal(found.statusCode, 200);
  assert.deepEqual(found.json().data.map((j: { queue: string; id: string; state: string; tenantName: string }) => [j.queue, j.id, j.state, j.tenantName]), [['test', id, 'dead', owner.tenant.name]]);
  assert.deepEqual((await ops('GET', '/ops/api/jobs/lookup?id=no-such-job')).json().data, []);
});

test('the chain of replays reads both ways, with who replayed, when and why', async () => {
  healed = false;
  const owner = await aTenant(t.app);
  const first = await deadJob(owner.tenant.id, 'chained');
  const second = (await ops('POST', `/ops/api/jobs/test/${first}/replay`, { reason: 'try again' })).json().id as string;
  await eventually(async () => (await ops('GET', `/ops/api/jobs/test/${second}`)).json().state === 'dead', 'the first replay to die too');
  healed = true;
  const third = (await ops('POST', `/ops/api/jobs/test/${second}/replay`, { reason: 'fixed now' })).json().id as string;
  await eventually(async () => (await ops('GET', `/ops/api/jobs/test/${third}`)).json().state === 'completed', 'the second replay to complete');

  const middle = (await ops('GET', `/ops/api/jobs/test/${second}`)).json();
  assert.deepEqual(middle.ancestors.map((a: { id: string; state: string; reason: string }) => [a.id, a.state, a.reason]), [[first, 'replayed', 'try again']]);
  assert.deepEqual(middle.replays.map((r: { id: string; state: string; reason: string }) => [r.id, r.state, r.reason]), [[third, 'completed', 'fixed now']]);
  assert.match(middle.replays[0].replayedBy, /^operator:op\+/);
  const last = (await ops('GET', `/ops/api/jobs/test/${third}`)).json();
  assert.deepEqual(last.ancestors.map((a: { id: string }) => a.id), [first, second], 'oldest first, back to the first job');
  assert.deepEqual(last.replays, []);
});

test('jobs are filtered by time, and a bulk replay says how many were replayed, skipped and failed', async () => {
  healed = false;
  const owner = await aTenant(t.app);
  await deadJob(owner.tenant.id, 'timed');
  const future = new Date(Date.now() + 3600_000).toISOString();
  const past = new Date(Date.now() - 3600_000).toISOString();
  assert.equal((await ops('GET', `/ops/api/jobs?state=dead&tenantId=${owner.tenant.id}&from=${future}`)).json().data.length, 0);
  assert.equal((await ops('GET', `/ops/api/jobs?state=dead&tenantId=${owner.tenant.id}&from=${past}&to=${future}`)).json().data.length, 1);
  healed = true;
  const res = await ops('POST', '/ops/api/jobs/replay', { tenantId: owner.tenant.id, from: past, reason: 'bulk' });
  assert.equal(res.statusCode, 202);
  const body = res.json();
  assert.deepEqual({ done: body.done, skipped: body.skipped, failed: body.failed, problems: body.problems }, { done: 1, skipped: 0, failed: 0, problems: [] });
  // A bare POST (no body) of the bulk endpoint is the whole dead list: nothing left here.
  const bare = await t.app.inject({ method: 'POST', url: '/ops/api/jobs/discard', headers: { ...bearer(op), 'content-type': 'application/json' } });
  assert.equal(bare.statusCode, 200, bare.body);
});

test('every operator action is in the activity log: who, what, about which business, why, and how it ended', async () => {
  healed = false;
  const owner = await aTenant(t.app);
  const id = await deadJob(owner.tenant.id, 'audited');
  healed = true;
  assert.equal((await ops('POST', `/ops/api/jobs/test/${id}/replay`, { reason: 'audit me' })).statusCode, 202);
  assert.equal((await ops('POST', `/ops/api/jobs/test/${id}/discard`, { reason: 'too late' })).statusCode, 409);
  await ops('GET', '/ops/api/queues');
  const operatorId = (await ops('GET', '/ops/api/me')).json().operator.id;
  const log = await eventually(async () => {
    const r = (await ops('GET', `/ops/api/activity?operatorId=${operatorId}&limit=2`)).json();
    return r.data[0]?.action === 'jobs.discard' ? r : null;
  }, 'the activity to be recorded');
  const aboutTenant = (await ops('GET', `/ops/api/activity?tenantId=${owner.tenant.id}`)).json();
  assert.deepEqual(aboutTenant.data.map((a: { action: string }) => a.action), ['jobs.replay'], 'found by the business it was about');
  const [discard, replay] = log.data;
  assert.deepEqual(
    { action: replay.action, target: replay.target, tenant: replay.tenantName, reason: replay.reason, status: replay.status, outcome: replay.outcome },
    { action: 'jobs.replay', target: { queue: 'test', id }, tenant: owner.tenant.name, reason: 'audit me', status: 202, outcome: 'done' },
  );
  assert.match(replay.operator.email, /^op\+/);
  assert.equal(replay.result.replayOf, id);
  assert.deepEqual({ action: discard.action, status: discard.status, outcome: discard.outcome, code: discard.result.code }, { action: 'jobs.discard', status: 409, outcome: 'refused', code: 'invalid_state' });
  const reads = (await ops('GET', '/ops/api/activity?action=queues')).json();
  assert.equal(reads.data.length, 0, 'plain reads are not actions');
});

test('an operator sees who they are and how mail leaves; signing out ends the token', async () => {
  const { token } = await anOperator(t);
  const me = await t.app.inject({ method: 'GET', url: '/ops/api/me', headers: bearer(token) });
  assert.equal(me.statusCode, 200);
  assert.equal(me.json().operator.name, 'Oscar Operator');
  assert.deepEqual(me.json().mail, { transport: 'catcher', smtpServer: null });
  assert.ok(Date.parse(me.json().session.expiresAt) > Date.now());
  const out = await t.app.inject({ method: 'POST', url: '/ops/api/logout', headers: bearer(token) });
  assert.equal(out.statusCode, 204);
  assert.equal((await t.app.inject({ method: 'GET', url: '/ops/api/me', headers: bearer(token) })).statusCode, 401);
});

test('the console is served for every /ops path but /ops/api, its built files cached for good', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'console-dist-'));
  fs.mkdirSync(path.join(dir, 'assets'));
  fs.writeFileSync(path.join(dir, 'index.html'), '<!doctype html><title>console</title><script type="module" src="/ops/assets/app-1234.js"></script>');
  fs.writeFileSync(path.join(dir, 'assets/app-1234.js'), `console.log(${JSON.stringify('x'.repeat(2000))});`);
  const app = Fastify();
  installProblemHandlers(app);
  await app.register(consoleRoutes, { assets: loadConsole(dir) });
  try {
    for (const url of ['/ops', '/ops/', '/ops/jobs/mail/1234', '/ops/billing?view=events']) {
      const res = await app.inject({ url });
      assert.equal(res.statusCode, 200, url);
      assert.match(res.body, /<title>console<\/title>/, url);
      assert.equal(res.headers['cache-control'], 'no-cache', url);
      assert.match(String(res.headers['content-security-policy']), /script-src 'self'/);
    }
    const asset = await app.inject({ url: '/ops/assets/app-1234.js', headers: { 'accept-encoding': 'gzip' } });
    assert.equal(asset.statusCode, 200);
    assert.equal(asset.headers['content-encoding'], 'gzip');
    assert.match(String(asset.headers['cache-control']), /immutable/);
    assert.equal((await app.inject({ url: '/ops/assets/app-1234.js', headers: { 'if-none-match': String(asset.headers.etag) } })).statusCode, 304);
    const gone = await app.inject({ url: '/ops/assets/app-old.js' });
    assert.equal(gone.statusCode, 404, 'a missing built file is not the page');
    const api = await app.inject({ url: '/ops/api/nothing-here' });
    assert.equal(api.statusCode, 404);
    assert.equal(problem(api).code, 'not_found');
    const unbuilt = Fastify();
    await unbuilt.register(consoleRoutes, { assets: null });
    const page = await unbuilt.inject({ url: '/ops/jobs' });
    assert.equal(page.statusCode, 503);
    assert.match(page.body, /npm run build:console/);
    await unbuilt.close();
  } finally {
    await app.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
