import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createTestContext, aTenant, aMember, eventually, type TestContext, type Session } from '../../../test/harness.ts';
import { aCafe, anOrder, sqlAsOwner } from '../../../test/hospitality.fixtures.ts';
import { startJobs, type JobsRuntime } from '../../platform/jobs/index.ts';
import { jobRegistry } from '../../jobs.ts';
import { startSmtpServer, type TestSmtpServer } from '../../../test/fixtures/smtp-server.ts';
import { runRetention, deleteTenantNow } from './index.ts';
import { writeSignalBatch, emptyFigures, F } from '../../platform/signals/index.ts';

const DAY = 86_400_000;
let t: TestContext;
let runtime: JobsRuntime;
let smtp: TestSmtpServer;
let received: TestSmtpServer['received'] = [];

before(async () => {
  smtp = await startSmtpServer();
  received = smtp.received;
  t = await createTestContext({ SMTP_URL: smtp.url });
  runtime = await startJobs(t.platform, jobRegistry(), { pollMs: 200, schedulers: false });
});
after(async () => {
  await runtime.close();
  await t.close();
  await smtp.close();
});

/** A business whose subscription ended, kept until `retainUntil`. */
async function anEndedBusiness(retainUntil: Date): Promise<Session> {
  const owner = await aTenant(t.app);
  const cafe = await aCafe(t, owner);
  await anOrder(t, owner, cafe.branchId, [{ menuItemId: cafe.latte.id, quantity: 1 }]);
  await aMember(t, owner, 'cashier', cafe.branchId);
  await sqlAsOwner(t, `UPDATE subscriptions SET status = 'canceled', canceled_at = now(), retain_until = $2 WHERE tenant_id = $1`, [owner.tenant.id, retainUntil]);
  return owner;
}
const warnings = (owner: Session) => received.filter((m) => m.to.includes(owner.user.email) && /will be deleted in/.test(m.raw));
const rowsOf = async (tenantId: string) => {
  const tables = await sqlAsOwner<{ table_name: string }>(t, `SELECT table_name FROM information_schema.columns WHERE table_schema = 'public' AND column_name = 'tenant_id' AND table_name <> 'tenant_deletions'`);
  const left: Record<string, number> = {};
  for (const { table_name } of tables) {
    const [row] = await sqlAsOwner<{ n: number }>(t, `SELECT count(*)::int AS n FROM ${table_name} WHERE tenant_id = $1`, [tenantId]);
    if (row!.n > 0) left[table_name] = row!.n;
  }
  const [tenant] = await sqlAsOwner<{ n: number }>(t, 'SELECT count(*)::int AS n FROM tenants WHERE id = $1', [tenantId]);
  if (tenant!.n > 0) left.tenants = tenant!.n;
  return left;
};

test('an ended business is told 14 and 3 days before, then every row of it in every tenant table is deleted and a record kept', async () => {
  const retainUntil = new Date(Date.UTC(2031, 5, 1, 12));
  const owner = await anEndedBusiness(retainUntil);
  const at = (ms: number) => new Date(retainUntil.getTime() + ms);

  assert.equal((await runRetention(t.platform, at(-20 * DAY))).notices, 0);
  assert.equal((await runRetention(t.platform, at(-14 * DAY + 3600_000))).notices, 1);
  assert.equal((await runRetention(t.platform, at(-13 * DAY))).notices, 0);
  await eventually(async () => warnings(owner).length === 1, 'the 14-day warning');
  assert.equal((await runRetention(t.platform, at(-3 * DAY + 3600_000))).notices, 1);
  await eventually(async () => warnings(owner).length === 2, 'the 3-day warning');
  assert.match(warnings(owner)[0]!.raw, /Subject: .*deleted in 14 days/);
  assert.match(warnings(owner)[1]!.raw, /Subject: .*deleted in 3 days/);
  assert.ok(Object.keys(await rowsOf(owner.tenant.id)).length > 5, 'nothing is deleted before the end');

  const [headBefore] = await sqlAsOwner<{ seq: string }>(t, 'SELECT seq::text FROM audit_heads WHERE tenant_id = $1', [owner.tenant.id]);
  const pass = await runRetention(t.platform, at(60_000));
  assert.deepEqual(pass.deletions, [owner.tenant.id]);
  const record = await eventually(async () => {
    const [r] = await sqlAsOwner<{ finished_at: Date | null; tenant_name: string; row_counts: Record<string, number>; audit_head: { seq: string; hash: string } }>(
      t,
      'SELECT finished_at, tenant_name, row_counts, audit_head FROM tenant_deletions WHERE tenant_id = $1',
      [owner.tenant.id],
    );
    return r?.finished_at ? r : null;
  }, 'the deletion job');
  assert.deepEqual(await rowsOf(owner.tenant.id), {}, JSON.stringify(await sqlAsOwner(t, "SELECT type, state, job_id, started_at, finished_at FROM job_runs WHERE tenant_id = $1", [owner.tenant.id])));
  // Counts an API process made before the deletion and flushes after it write no row back.
  const counted = emptyFigures();
  counted[F.requests] = 3;
  await writeSignalBatch(t.platform.tenancy, { id: `late-${owner.tenant.id}`, tenantRows: [{ tenantId: owner.tenant.id, minute: Math.floor(Date.now() / 60_000), figures: counted }], platformRows: [] });
  assert.deepEqual(await rowsOf(owner.tenant.id), {}, 'a flush after the deletion writes nothing for the business');
  assert.equal(record.tenant_name, owner.tenant.name);
  assert.equal(record.row_counts.orders, 1);
  assert.equal(record.row_counts.users, 2);
  assert.equal(record.row_counts.tenants, 1);
  // The final head: the chain up to and including "deletion started", every event of it deleted.
  assert.equal(Number(record.audit_head.seq), Number(headBefore!.seq) + 1);
  assert.equal(record.row_counts.audit_events, Number(record.audit_head.seq));
  assert.match(record.audit_head.hash, /^[0-9a-f]{64}$/);
});

test('a business reactivated before the end keeps everything', async () => {
  const retainUntil = new Date(Date.UTC(2031, 7, 1, 12));
  const owner = await anEndedBusiness(retainUntil);
  assert.equal((await runRetention(t.platform, new Date(retainUntil.getTime() - 10 * DAY))).notices, 1);
  const before = await rowsOf(owner.tenant.id);
  await sqlAsOwner(t, `UPDATE subscriptions SET status = 'active', retain_until = NULL WHERE tenant_id = $1`, [owner.tenant.id]);
  const pass = await runRetention(t.platform, new Date(retainUntil.getTime() + DAY));
  assert.ok(!pass.deletions.includes(owner.tenant.id));
  const after = await rowsOf(owner.tenant.id);
  for (const table of ['orders', 'users', 'branches', 'menu_items', 'audit_events']) assert.equal(after[table], before[table], table);
  assert.equal((await sqlAsOwner(t, 'SELECT 1 FROM tenant_deletions WHERE tenant_id = $1', [owner.tenant.id])).length, 0);
});

test('an operator deletes an ended business at once (brigade tenants delete); a paying business is refused', async () => {
  const paying = await aTenant(t.app);
  await sqlAsOwner(t, `UPDATE subscriptions SET status = 'active' WHERE tenant_id = $1`, [paying.tenant.id]);
  await assert.rejects(deleteTenantNow(t.platform, paying.tenant.id, 'oscar'), (err: { code?: string }) => err.code === 'invalid_state');
  const trial = await aTenant(t.app);
  await assert.rejects(deleteTenantNow(t.platform, trial.tenant.id, 'oscar'), (err: { code?: string }) => err.code === 'invalid_state');
  assert.ok((await rowsOf(paying.tenant.id)).users);
  assert.equal((await sqlAsOwner(t, 'SELECT 1 FROM tenant_deletions WHERE tenant_id = $1', [paying.tenant.id])).length, 0);

  const ended = await anEndedBusiness(new Date(Date.now() + 60 * DAY));
  const counts = await deleteTenantNow(t.platform, ended.tenant.id, 'oscar');
  assert.equal(counts.orders, 1);
  assert.deepEqual(await rowsOf(ended.tenant.id), {});
  const [rec] = await sqlAsOwner<{ requested_by: string }>(t, 'SELECT requested_by FROM tenant_deletions WHERE tenant_id = $1', [ended.tenant.id]);
  assert.equal(rec!.requested_by, 'operator oscar');
  // Running it again is harmless: the record says it is done.
  assert.deepEqual(await deleteTenantNow(t.platform, ended.tenant.id, 'oscar'), counts);
});
