import zlib from 'node:zlib';
import { Readable } from 'node:stream';
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createTestContext, aTenant, aBranch, aMember, bearer, problem, eventually, type TestContext, type Session } from '../../../test/harness.ts';
import { aCafe, anOrder, as, expectStatus, sqlAsOwner } from '../../../test/hospitality.fixtures.ts';
import { startJobs, type JobsRuntime } from '../../platform/jobs/index.ts';
import { jobRegistry } from '../../jobs.ts';
import { exportsService, verifyTenantExport, purgeExpiredExports } from './index.ts';

let t: TestContext;
let runtime: JobsRuntime;
before(async () => {
  t = await createTestContext();
  runtime = await startJobs(t.platform, jobRegistry(), { pollMs: 200, schedulers: false });
});
after(async () => {
  await runtime.close();
  await t.close();
});

async function aReadyExport(owner: Session) {
  const requested = expectStatus(await as(t, owner).post('/v1/exports', undefined), 202).json().export;
  assert.equal(requested.status, 'pending');
  assert.equal(requested.downloadUrl, null);
  return eventually(async () => {
    const e = expectStatus(await as(t, owner).get(`/v1/exports/${requested.id}`), 200).json().export;
    return e.status === 'ready' ? e : null;
  }, 'the export job');
}
const download = (s: Session, url: string) => t.app.inject({ method: 'GET', url, headers: bearer(s) });
const linesOf = (gz: Buffer) => zlib.gunzipSync(gz).toString('utf8').trim().split('\n').map((l) => JSON.parse(l));

test('an owner exports the business: every tenant table as JSON lines, verifiable offline to the audit chain head', async () => {
  const owner = await aTenant(t.app);
  const cafe = await aCafe(t, owner);
  await anOrder(t, owner, cafe.branchId, [{ menuItemId: cafe.latte.id, quantity: 2 }]);
  await anOrder(t, owner, cafe.branchId, [{ menuItemId: cafe.latte.id, quantity: 1 }]);
  await aMember(t, owner, 'cashier', cafe.branchId);
  const other = await aTenant(t.app);
  await anOrder(t, other, (await aCafe(t, other)).branchId, []).catch(() => undefined);

  const ready = await aReadyExport(owner);
  assert.ok(ready.downloadUrl);
  assert.ok(Date.parse(ready.expiresAt) > Date.now() + 23 * 3600_000);
  const res = await download(owner, ready.downloadUrl);
  assert.equal(res.statusCode, 200);
  assert.equal(res.headers['content-type'], 'application/gzip');
  const file = res.rawPayload;
  assert.equal(file.length, ready.bytes);

  const verdict = await verifyTenantExport(Readable.from([file]));
  assert.equal(verdict.ok, true, verdict.problem ?? '');
  assert.equal(verdict.tenantId, owner.tenant.id);
  assert.deepEqual(verdict.chain!.head, ready.auditHead);

  // Every table of the catalogue with a tenant_id column is in the file, with all of its rows.
  const tables = await sqlAsOwner<{ table_name: string }>(t, `SELECT table_name FROM information_schema.columns WHERE table_schema = 'public' AND column_name = 'tenant_id' AND table_name NOT IN ('tenant_export_chunks', 'tenant_deletions')`);
  const lines = linesOf(file);
  const trailer = lines.at(-1);
  assert.deepEqual(Object.keys(trailer.rowCounts).sort(), ['tenants', ...tables.map((r) => r.table_name)].sort());
  // Business tables hold still while the export runs (job records and the like move on).
  for (const table of ['users', 'branches', 'menu_items', 'orders', 'order_lines', 'role_assignments', 'sessions', 'inventory_items']) {
    const [row] = await sqlAsOwner<{ n: number }>(t, `SELECT count(*)::int AS n FROM ${table} WHERE tenant_id = $1`, [owner.tenant.id]);
    assert.equal(trailer.rowCounts[table], row!.n, table);
  }
  assert.equal(trailer.rowCounts.audit_events, Number(ready.auditHead.seq));
  assert.equal(trailer.rowCounts.orders, 2);
  assert.equal(trailer.rowCounts.tenants, 1);
  // Nothing of another business, and no password or token hash.
  const text = zlib.gunzipSync(file).toString('utf8');
  assert.ok(!text.includes(other.tenant.id));
  assert.ok(!text.includes('password_hash') && !text.includes('token_hash') && !text.includes('scrypt$'));

  const audit = expectStatus(await as(t, owner).get('/v1/audit-events?action=tenant.*'), 200).json().data.map((e: { action: string }) => e.action);
  assert.deepEqual(audit.slice(0, 3), ['tenant.export_downloaded', 'tenant.export_ready', 'tenant.export_requested']);

  // A changed audit line is caught offline.
  const tampered = lines.map((l) => (l.kind === 'row' && l.table === 'audit_events' && l.row.seq === 1 ? { ...l, row: { ...l.row, actor_name: 'Mallory' } } : l));
  const bad = await verifyTenantExport(Readable.from([zlib.gzipSync(tampered.map((l) => JSON.stringify(l)).join('\n') + '\n')]));
  assert.equal(bad.ok, false);
  assert.match(bad.problem!, /Event #1 .* was altered/);
  // So is a file cut short.
  const cut = await verifyTenantExport(Readable.from([zlib.gzipSync(lines.slice(0, -1).map((l) => JSON.stringify(l)).join('\n') + '\n')]));
  assert.equal(cut.ok, false);
});

test('another business\'s export is 404, an expired link 410, and only owners export', async () => {
  const owner = await aTenant(t.app);
  const stranger = await aTenant(t.app);
  const ready = await aReadyExport(owner);
  for (const url of [`/v1/exports/${ready.id}`, ready.downloadUrl]) {
    const res = await download(stranger, url);
    assert.equal(res.statusCode, 404);
    assert.equal(problem(res).code, 'not_found');
  }
  const cashier = await aMember(t, owner, 'cashier');
  assert.equal((await download(cashier, ready.downloadUrl)).statusCode, 403);
  assert.equal((await as(t, cashier).post('/v1/exports', undefined)).statusCode, 403);

  await sqlAsOwner(t, `UPDATE tenant_exports SET expires_at = now() - interval '1 second' WHERE id = $1`, [ready.id]);
  const expired = await download(owner, ready.downloadUrl);
  assert.equal(expired.statusCode, 410);
  assert.equal(problem(expired).code, 'export_expired');
  const view = expectStatus(await as(t, owner).get(`/v1/exports/${ready.id}`), 200).json().export;
  assert.equal(view.status, 'expired');
  assert.equal(view.downloadUrl, null);
  const downloads = expectStatus(await as(t, owner).get('/v1/audit-events?action=tenant.export_downloaded'), 200).json().data;
  assert.equal(downloads.length, 0);

  // The hourly lifecycle pass deletes the expired file, and only it; the record stays.
  const fresh = await aReadyExport(stranger);
  const chunksOf = async (id: string) => (await sqlAsOwner<{ n: number }>(t, 'SELECT count(*)::int AS n FROM tenant_export_chunks WHERE export_id = $1', [id]))[0]!.n;
  assert.ok((await chunksOf(ready.id)) > 0);
  const freshChunks = await chunksOf(fresh.id);
  assert.ok(freshChunks > 0);
  assert.ok((await purgeExpiredExports(t.platform, new Date())) >= 1);
  assert.equal(await chunksOf(ready.id), 0);
  assert.equal(await chunksOf(fresh.id), freshChunks);
  assert.equal(await purgeExpiredExports(t.platform, new Date()), 0);
  assert.equal(expectStatus(await as(t, owner).get(`/v1/exports/${ready.id}`), 200).json().export.status, 'expired');
  assert.equal((await download(owner, ready.downloadUrl)).statusCode, 410);
  assert.equal((await download(stranger, fresh.downloadUrl)).statusCode, 200);
});

test('an operator\'s export (brigade tenants export) writes the same verifiable file and is audited in the tenant\'s log', async () => {
  const owner = await aTenant(t.app);
  const chunks: Buffer[] = [];
  const summary = await exportsService(t.platform).exportForOperator(owner.tenant.id, 'oscar@brigade.example', async (gz) => void chunks.push(gz));
  const verdict = await verifyTenantExport(Readable.from(chunks));
  assert.equal(verdict.ok, true, verdict.problem ?? '');
  assert.equal(verdict.rowCounts.users, 1);
  assert.equal(summary.bytes, Buffer.concat(chunks).length);
  const [event] = expectStatus(await as(t, owner).get('/v1/audit-events?action=tenant.exported_by_operator'), 200).json().data;
  assert.equal(event.actor.type, 'system');
  assert.equal(event.actor.name, 'operator oscar@brigade.example (brigade tenants export)');
});

test('an export reads one moment of the business: what commits while it is being written is not in it', async () => {
  const owner = await aTenant(t.app);
  const cafe = await aCafe(t, owner);
  await anOrder(t, owner, cafe.branchId, [{ menuItemId: cafe.latte.id, quantity: 1 }]);
  const chunks: Buffer[] = [];
  let late: { branchId: string; orderId: string } | null = null;
  // A chunk per line: the sink runs right after the header, before any table is read.
  const summary = await exportsService(t.platform, { chunkBytes: 1 }).exportForOperator(owner.tenant.id, 'oscar@brigade.example', async (gz) => {
    chunks.push(gz);
    if (late) return;
    const branchId = await aBranch(t, owner.tenant.id, 'Opened during the export');
    late = { branchId, orderId: (await anOrder(t, owner, cafe.branchId, [{ menuItemId: cafe.latte.id, quantity: 3 }])).id };
  });
  assert.ok(late, 'the sink ran');
  const { branchId, orderId } = late as { branchId: string; orderId: string };
  const text = zlib.gunzipSync(Buffer.concat(chunks)).toString('utf8');
  assert.ok(!text.includes(branchId), 'a branch committed after the export began is not in it');
  assert.ok(!text.includes(orderId), 'nor an order');
  assert.equal(summary.rowCounts.branches, 1);
  assert.equal(summary.rowCounts.orders, 1);
  // The audit log and the business's tables are of the same moment: the file still verifies.
  const verdict = await verifyTenantExport(Readable.from(chunks));
  assert.equal(verdict.ok, true, verdict.problem ?? '');
  const [now] = await sqlAsOwner<{ branches: number; orders: number }>(t, `SELECT (SELECT count(*)::int FROM branches WHERE tenant_id = $1) AS branches, (SELECT count(*)::int FROM orders WHERE tenant_id = $1) AS orders`, [owner.tenant.id]);
  assert.deepEqual(now, { branches: 2, orders: 2 });
});
