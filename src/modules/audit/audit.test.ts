import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import pg from 'pg';
import { createTestContext, aTenant, aMember, bearer, problem, type TestContext, type Session } from '../../../test/harness.ts';
import { verifyAuditChain } from './index.ts';

let t: TestContext;
before(async () => {
  t = await createTestContext();
});
after(() => t.close());

/** A business with a few audited changes: signup, three members added, one role change. */
async function busyBusiness(): Promise<{ owner: Session; memberIds: string[] }> {
  const owner = await aTenant(t.app);
  const memberIds: string[] = [];
  for (const [i, role] of ['support', 'accountant', 'support'].entries()) {
    const res = await t.app.inject({
      method: 'POST',
      url: '/v1/members',
      headers: bearer(owner),
      payload: { name: `Member ${i}`, email: `m${i}-${Date.now()}-${Math.random()}@example.com`, password: 'correct horse battery', roles: [{ role }] },
    });
    assert.equal(res.statusCode, 201);
    memberIds.push(res.json().member.id);
  }
  const changed = await t.app.inject({ method: 'PUT', url: `/v1/members/${memberIds[0]}/roles`, headers: bearer(owner), payload: { roles: [{ role: 'accountant' }] } });
  assert.equal(changed.statusCode, 200);
  return { owner, memberIds };
}

async function asDatabaseOwner<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: t.ownerUrl });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

test('the audit log lists events newest first with actor, permission, target, changes and request id', async () => {
  const { owner, memberIds } = await busyBusiness();
  const res = await t.app.inject({ method: 'GET', url: '/v1/audit-events', headers: { ...bearer(owner), 'x-request-id': 'req-audit-1' } });
  assert.equal(res.statusCode, 200);
  const events = res.json().data;
  assert.deepEqual(events.map((e: { action: string }) => e.action), ['member.roles_changed', 'member.created', 'member.created', 'member.created', 'tenant.created']);
  const latest = events[0];
  assert.deepEqual(latest.actor, { type: 'user', userId: owner.user.id, operatorId: null, apiKeyId: null, name: owner.user.name });
  assert.equal(latest.permission, 'roles.manage');
  assert.deepEqual(latest.target, { type: 'member', id: memberIds[0] });
  assert.deepEqual(latest.changes.before, { roles: [{ role: 'support', branchId: null }] });
  assert.deepEqual(latest.changes.after, { roles: [{ role: 'accountant', branchId: null }] });
  assert.ok(latest.requestId);
  assert.ok(Date.parse(latest.at) > Date.now() - 60_000);
});

test('the audit log filters by action, actor and time, page by page', async () => {
  const { owner } = await busyBusiness();
  const get = (qs: string) => t.app.inject({ method: 'GET', url: `/v1/audit-events?${qs}`, headers: bearer(owner) });

  const created = await get('action=member.created');
  assert.equal(created.json().data.length, 3);
  const family = await get('action=member.*');
  assert.equal(family.json().data.length, 4);
  const byOwner = await get(`actorId=${owner.user.id}&limit=200`);
  assert.equal(byOwner.json().data.length, 5);
  const nobody = await get(`actorId=${crypto.randomUUID()}`);
  assert.deepEqual(nobody.json(), { data: [], nextCursor: null });
  const future = await get(`from=${new Date(Date.now() + 3600_000).toISOString()}`);
  assert.equal(future.json().data.length, 0);
  const past = await get(`to=${new Date(Date.now() + 3600_000).toISOString()}&from=2020-01-01T00:00:00Z`);
  assert.equal(past.json().data.length, 5);

  const seen: string[] = [];
  let cursor: string | null = null;
  do {
    const page = await get(`limit=2${cursor ? `&cursor=${cursor}` : ''}`);
    seen.push(...page.json().data.map((e: { id: string }) => e.id));
    cursor = page.json().nextCursor;
  } while (cursor);
  assert.equal(seen.length, 5);
  assert.equal(new Set(seen).size, 5);

  assert.equal((await get('from=yesterday')).statusCode, 400);
  assert.equal((await get('cursor=abc')).statusCode, 400);
});

test('members who may not read the audit log get 403 with an explanation', async () => {
  const owner = await aTenant(t.app);
  for (const role of ['support', 'cashier']) {
    const member = await aMember(t, owner, role);
    const res = await t.app.inject({ method: 'GET', url: '/v1/audit-events', headers: bearer(member) });
    assert.equal(res.statusCode, 403);
    assert.equal(problem(res).requiredPermission, 'audit.read');
    assert.deepEqual(problem(res).scope, { tenant: true });
  }
  const accountant = await aMember(t, owner, 'accountant');
  assert.equal((await t.app.inject({ method: 'GET', url: '/v1/audit-events', headers: bearer(accountant) })).statusCode, 200);
});

test('the audit log exports as CSV and JSON Lines, and each export is itself audited', async () => {
  const { owner } = await busyBusiness();
  const csv = await t.app.inject({ method: 'GET', url: '/v1/audit-events/export?format=csv', headers: bearer(owner) });
  assert.equal(csv.statusCode, 200);
  assert.match(String(csv.headers['content-type']), /^text\/csv/);
  assert.match(String(csv.headers['content-disposition']), /attachment; filename="audit-.*\.csv"/);
  const lines = csv.body.trimEnd().split('\r\n');
  assert.equal(lines[0], 'id,seq,at,actor_type,actor_id,actor_name,action,permission,target_type,target_id,changes,request_id,ip,user_agent,prev_hash,hash');
  // signup, 3 members, a role change, and the export itself (recorded before the rows are read)
  assert.equal(lines.length, 1 + 6);
  assert.ok(lines[1]!.includes(',tenant.created,'));
  assert.ok(lines[6]!.includes(',audit.exported,audit.read,'));

  // A name that a spreadsheet would run as a formula is defused.
  const signup = await t.app.inject({
    method: 'POST',
    url: '/v1/signup',
    payload: { businessName: 'Formula Café', name: '=HYPERLINK("http://evil.example")', email: `f-${Date.now()}@example.com`, password: 'correct horse battery' },
  });
  const formula = await t.app.inject({ method: 'GET', url: '/v1/audit-events/export?format=csv', headers: bearer(signup.json().token) });
  assert.ok(formula.body.includes(`,"'=HYPERLINK(""http://evil.example"")",`), formula.body);

  const jsonl = await t.app.inject({ method: 'GET', url: '/v1/audit-events/export?format=jsonl&action=member.created', headers: bearer(owner) });
  assert.equal(jsonl.statusCode, 200);
  assert.match(String(jsonl.headers['content-type']), /^application\/jsonl/);
  const rows = jsonl.body.trimEnd().split('\n').map((l) => JSON.parse(l));
  assert.deepEqual(rows.map((r) => r.action), ['member.created', 'member.created', 'member.created']);
  assert.ok(rows.every((r) => r.hash && r.prevHash));

  const exports = await t.app.inject({ method: 'GET', url: '/v1/audit-events?action=audit.exported', headers: bearer(owner) });
  assert.deepEqual(exports.json().data.map((e: { changes: { format: string } }) => e.changes.format), ['jsonl', 'csv']);
  assert.equal(exports.json().data[0].changes.filters.action, 'member.created');

  const bad = await t.app.inject({ method: 'GET', url: '/v1/audit-events/export?format=xlsx', headers: bearer(owner) });
  assert.equal(bad.statusCode, 400);
});

test('chain verification passes on an untouched log', async () => {
  const { owner } = await busyBusiness();
  const verdict = await verifyAuditChain(t.platform.tenancy, owner.tenant.id);
  assert.equal(verdict.ok, true);
  assert.equal(verdict.checked, 5);
  assert.equal(verdict.head.seq, '5');
  const viaApi = await t.app.inject({ method: 'GET', url: '/v1/audit-events/verification', headers: bearer(owner) });
  assert.equal(viaApi.json().ok, true);
});

test('chain verification names a row changed behind the application\'s back', async () => {
  const { owner } = await busyBusiness();
  const target = await asDatabaseOwner(async (c) => {
    const row = await c.query(`SELECT id FROM audit_events WHERE tenant_id = $1 AND seq = 3`, [owner.tenant.id]);
    await c.query(`UPDATE audit_events SET changes = jsonb_set(changes, '{after,name}', '"Someone Else"') WHERE tenant_id = $1 AND seq = 3`, [owner.tenant.id]);
    return row.rows[0].id as string;
  });
  const verdict = await verifyAuditChain(t.platform.tenancy, owner.tenant.id);
  assert.equal(verdict.ok, false);
  assert.deepEqual({ kind: verdict.problem!.kind, seq: verdict.problem!.seq, id: verdict.problem!.id }, { kind: 'altered', seq: '3', id: target });
  assert.equal(verdict.checked, 2);
});

test('chain verification names a row rewritten with a freshly computed hash', async () => {
  const { owner } = await busyBusiness();
  const { chainHash } = await import('./index.ts');
  await asDatabaseOwner(async (c) => {
    // A careful forger recomputes the row's own hash; its successor still links to the original.
    const { rows } = await c.query(`SELECT * FROM audit_events WHERE tenant_id = $1 AND seq = 2`, [owner.tenant.id]);
    const r = rows[0];
    const forged = { ...r, actor_name: 'Nobody' };
    const hash = chainHash(r.prev_hash, {
      tenantId: r.tenant_id, id: r.id, seq: r.seq, at: r.at.toISOString(), actorType: r.actor_type, actorId: r.actor_id, actorName: forged.actor_name,
      action: r.action, permission: r.permission, targetType: r.target_type, targetId: r.target_id, changes: r.changes, requestId: r.request_id, ip: r.ip, userAgent: r.user_agent,
    });
    await c.query(`UPDATE audit_events SET actor_name = 'Nobody', hash = $2 WHERE tenant_id = $1 AND seq = 2`, [owner.tenant.id, hash]);
  });
  const verdict = await verifyAuditChain(t.platform.tenancy, owner.tenant.id);
  assert.equal(verdict.ok, false);
  assert.equal(verdict.problem!.kind, 'altered');
  assert.equal(verdict.problem!.seq, '2');
});

test('chain verification names a deleted row, in the middle or at the end', async () => {
  const middle = await busyBusiness();
  await asDatabaseOwner((c) => c.query(`DELETE FROM audit_events WHERE tenant_id = $1 AND seq = 4`, [middle.owner.tenant.id]));
  const m = await verifyAuditChain(t.platform.tenancy, middle.owner.tenant.id);
  assert.deepEqual({ ok: m.ok, kind: m.problem?.kind, seq: m.problem?.seq }, { ok: false, kind: 'missing', seq: '4' });

  const end = await busyBusiness();
  await asDatabaseOwner((c) => c.query(`DELETE FROM audit_events WHERE tenant_id = $1 AND seq = 5`, [end.owner.tenant.id]));
  const e = await verifyAuditChain(t.platform.tenancy, end.owner.tenant.id);
  assert.deepEqual({ ok: e.ok, kind: e.problem?.kind, seq: e.problem?.seq }, { ok: false, kind: 'missing', seq: '5' });
});

test('the runtime database role cannot update or delete audit events', async () => {
  const { owner } = await busyBusiness();
  const client = await t.platform.db.runtimePool.connect();
  try {
    await client.query('BEGIN');
    await client.query(`SELECT set_config('app.tenant_id', $1, true)`, [owner.tenant.id]);
    const visible = await client.query(`SELECT count(*)::int AS n FROM audit_events`);
    assert.equal(visible.rows[0].n, 5);
    await assert.rejects(client.query(`UPDATE audit_events SET action = 'nothing' WHERE tenant_id = $1`, [owner.tenant.id]), { code: '42501' });
    await client.query('ROLLBACK');
    await client.query('BEGIN');
    await client.query(`SELECT set_config('app.tenant_id', $1, true)`, [owner.tenant.id]);
    await assert.rejects(client.query(`DELETE FROM audit_events WHERE tenant_id = $1`, [owner.tenant.id]), { code: '42501' });
    await client.query('ROLLBACK');
    await assert.rejects(client.query(`TRUNCATE audit_events`), { code: '42501' });
  } finally {
    client.release();
  }
  assert.equal((await verifyAuditChain(t.platform.tenancy, owner.tenant.id)).ok, true);
});

test('`brigade audit verify --tenant` reports an intact chain, and a broken one with a failing exit code', async () => {
  const { owner } = await busyBusiness();
  const run = (tenant: string) =>
    new Promise<{ code: number | null; out: string }>((resolve) => {
      const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'audit', 'verify', '--tenant', tenant], {
        env: { ...process.env, DATABASE_URL: t.ownerUrl, LOG_LEVEL: 'silent', BRIGADE_DEMO: 'false' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      child.stdout.on('data', (d) => (out += d));
      child.stderr.on('data', (d) => (out += d));
      child.on('close', (code) => resolve({ code, out }));
    });
  const intact = await run(owner.tenant.slug);
  assert.equal(intact.code, 0, intact.out);
  assert.match(intact.out, /audit chain intact/);
  assert.match(intact.out, /events checked: 5/);

  await asDatabaseOwner((c) => c.query(`UPDATE audit_events SET permission = 'nothing.special' WHERE tenant_id = $1 AND seq = 5`, [owner.tenant.id]));
  const broken = await run(owner.tenant.id);
  assert.equal(broken.code, 1, broken.out);
  assert.match(broken.out, /BROKEN: Event #5 \([0-9a-f-]+\) was altered/);
});
