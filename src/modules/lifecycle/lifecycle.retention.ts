import { sql } from 'kysely';
import { Type } from 'typebox';
import type { Platform } from '../../platform/deps.ts';
import { AppError } from '../../platform/errors/index.ts';
import { defineJob, defineSystemJob, addSystemJob } from '../../platform/jobs/index.ts';
import { sendOnce, composeMail } from '../../platform/mail.ts';
import { recordAudit, auditSourceOfSystem, GENESIS_HASH } from '../audit/index.ts';
import { tenantTables, purgeExpiredExports } from './lifecycle.export.ts';

declare module '../../platform/db/schema.ts' {
  interface Database {
    tenant_retention_notices: { tenant_id: string; retain_until: Date; days_before: number; job_id: string; created_at?: Date };
  }
}

const DAY = 86_400_000;
export const NOTICE_DAYS = [14, 3] as const;
const BATCH = 5000;
/** Statuses in which a business pays or owes: its data is never deleted. */
const KEPT_STATUSES = ['trialing', 'active', 'past_due', 'grace', 'suspended'];

/** The warning mail to the business's owners: N days before its data is deleted. */
export const retentionNoticeJob = defineJob(
  'lifecycle.retention_notice',
  Type.Object({ daysBefore: Type.Integer(), retainUntil: Type.String({ format: 'date-time' }) }),
  async (job) => {
    const found = await job.withTenant(async (trx) => {
      const sub = await trx.selectFrom('subscriptions').select(['status', 'retain_until']).where('tenant_id', '=', job.tenantId).executeTakeFirst();
      const tenant = await trx.selectFrom('tenants').select(['name', 'timezone']).where('id', '=', job.tenantId).executeTakeFirstOrThrow();
      const owners = await trx
        .selectFrom('users as u')
        .innerJoin('role_assignments as ra', (j) => j.onRef('ra.tenant_id', '=', 'u.tenant_id').onRef('ra.user_id', '=', 'u.id'))
        .select(['u.email', 'u.name'])
        .where('u.tenant_id', '=', job.tenantId)
        .where('ra.role_key', '=', 'owner')
        .where('u.status', '=', 'active')
        .execute();
      return { sub, tenant, owners };
    });
    // Reactivated since: nothing will be deleted, so nothing to warn about.
    if (!found.sub?.retain_until || found.sub.retain_until.toISOString() !== job.payload.retainUntil) return;
    const day = new Intl.DateTimeFormat('en-GB', { timeZone: found.tenant.timezone, dateStyle: 'long' }).format(found.sub.retain_until);
    const base = job.platform.config.BRIGADE_PUBLIC_URL;
    for (const owner of found.owners) {
      await sendOnce({ mailer: job.mailer, tenancy: job.platform.tenancy }, job, owner.email, () =>
        composeMail({
          subject: `${found.tenant.name}: its data will be deleted in ${job.payload.daysBefore} days`,
          greeting: `Hello ${owner.name},`,
          paragraphs: [
            `The subscription of ${found.tenant.name} has ended. Its data (orders, menu, stock, members, the audit log) will be deleted for good on ${day}, ${job.payload.daysBefore} days from now.`,
            'Subscribe again before then to keep everything as it is, or download a full export of the business first.',
          ],
          action: { label: 'Keep my business', url: `${base}/billing` },
          note: 'You receive this because you are an owner of this business on Brigade.',
        }),
      );
    }
  },
);

/**
 * The daily pass over ended businesses: warns 14 and 3 days before the end of their retention
 * (once per retention end), and starts the deletion of those whose retention is over. A
 * business reactivated in the meantime has no retention end any more, so it is left alone.
 */
export async function runRetention(platform: Platform, now: Date): Promise<{ notices: number; deletions: string[] }> {
  const { tenancy } = platform;
  const ended = await tenancy.withSystem('retention: find ended businesses', (trx) =>
    trx
      .selectFrom('subscriptions')
      .select(['tenant_id', 'retain_until'])
      .where('status', 'in', ['canceled', 'expired'])
      .where('retain_until', 'is not', null)
      .where('retain_until', '<=', new Date(now.getTime() + NOTICE_DAYS[0] * DAY))
      .execute(),
  );
  let notices = 0;
  const deletions: string[] = [];
  for (const e of ended) {
    const retainUntil = e.retain_until!;
    if (retainUntil <= now) {
      await startTenantDeletion(platform, e.tenant_id, { reason: 'retention period over', requestedBy: 'retention job' });
      deletions.push(e.tenant_id);
      continue;
    }
    const daysLeft = Math.ceil((retainUntil.getTime() - now.getTime()) / DAY);
    const due = NOTICE_DAYS.filter((d) => daysLeft <= d).slice(-1)[0];
    if (due === undefined) continue;
    notices += await tenancy.withTenant({ tenantId: e.tenant_id }, async (trx) => {
      const seen = await trx.selectFrom('tenant_retention_notices').select('days_before').where('tenant_id', '=', e.tenant_id).where('retain_until', '=', retainUntil).where('days_before', '=', due).executeTakeFirst();
      if (seen) return 0;
      const jobId = await retentionNoticeJob.later(trx, e.tenant_id, { daysBefore: due, retainUntil: retainUntil.toISOString() });
      await trx.insertInto('tenant_retention_notices').values({ tenant_id: e.tenant_id, retain_until: retainUntil, days_before: due, job_id: jobId }).execute();
      await recordAudit(trx, auditSourceOfSystem(e.tenant_id, 'retention job'), {
        action: 'tenant.deletion_notice_sent',
        permission: null,
        target: { type: 'tenant', id: e.tenant_id },
        changes: { daysBefore: due, retainUntil: retainUntil.toISOString() },
      });
      return 1;
    });
  }
  return { notices, deletions };
}

/**
 * Records that the business is being deleted (name, final audit head, who asked) and queues the
 * deletion as a system job (the tenant's own outbox and job records are among what it deletes).
 * Refused while the business pays or owes.
 */
export async function startTenantDeletion(platform: Platform, tenantId: string, why: { reason: string; requestedBy: string }): Promise<void> {
  await recordTenantDeletion(platform, tenantId, why);
  await addSystemJob(platform, tenantDeletionJob, { tenantId }, `tenant-deletion-${tenantId}`);
}

async function recordTenantDeletion(platform: Platform, tenantId: string, why: { reason: string; requestedBy: string }): Promise<void> {
  await platform.tenancy.withSystem('deletion: record the deletion of a business', async (trx) => {
    const existing = await trx.selectFrom('tenant_deletions').select('tenant_id').where('tenant_id', '=', tenantId).executeTakeFirst();
    if (existing) return;
    const tenant = await trx.selectFrom('tenants').select(['id', 'name', 'slug']).where('id', '=', tenantId).forUpdate().executeTakeFirst();
    if (!tenant) throw new AppError('not_found', `No business ${tenantId}.`);
    const sub = await trx.selectFrom('subscriptions').select(['status']).where('tenant_id', '=', tenantId).executeTakeFirst();
    if (sub && KEPT_STATUSES.includes(sub.status)) {
      throw new AppError('invalid_state', `The business "${tenant.name}" is ${sub.status}: a business that pays or owes is never deleted. Cancel its subscription first.`, { subscriptionStatus: sub.status });
    }
    await recordAudit(trx, auditSourceOfSystem(tenantId, why.requestedBy), { action: 'tenant.deletion_started', permission: null, target: { type: 'tenant', id: tenantId }, changes: { reason: why.reason } });
    const head = (await trx.selectFrom('audit_heads').select(['seq', 'hash']).where('tenant_id', '=', tenantId).executeTakeFirst()) ?? { seq: '0', hash: GENESIS_HASH };
    await trx
      .insertInto('tenant_deletions')
      .values({ tenant_id: tenantId, tenant_name: tenant.name, tenant_slug: tenant.slug, reason: why.reason, requested_by: why.requestedBy, finished_at: null, row_counts: '{}', audit_head: JSON.stringify(head) })
      .execute();
  });
}

/** Tenant tables, children before the tables they reference, so no batch waits on a cascade. */
async function deletionOrder(platform: Platform): Promise<string[]> {
  return platform.tenancy.withSystem('deletion: order the tenant tables', async (trx) => {
    const tables = await tenantTables(trx);
    const { rows } = await sql<{ child: string; parent: string }>`
      SELECT c.relname AS child, p.relname AS parent FROM pg_constraint k
        JOIN pg_class c ON c.oid = k.conrelid JOIN pg_class p ON p.oid = k.confrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE k.contype = 'f' AND n.nspname = 'public' AND c.relname <> p.relname`.execute(trx);
    const order: string[] = [];
    const done = new Set<string>();
    const visit = (table: string, path: Set<string>) => {
      if (done.has(table) || path.has(table)) return;
      path.add(table);
      // Whoever references this table goes first.
      for (const r of rows) if (r.parent === table && tables.includes(r.child)) visit(r.child, path);
      done.add(table);
      order.push(table);
    };
    for (const t of tables) visit(t, new Set());
    return order;
  });
}

/**
 * Deletes every row of the business, table by table in batches of 5,000, each batch in its own
 * transaction with its count added to the deletion record: interrupted anywhere, it resumes
 * where it stopped. The tenants row goes last; the deletion record stays.
 */
export async function deleteTenantData(platform: Platform, tenantId: string): Promise<Record<string, number>> {
  const { tenancy } = platform;
  const record = await tenancy.withSystem('deletion: read the record', (trx) => trx.selectFrom('tenant_deletions').select(['finished_at', 'row_counts']).where('tenant_id', '=', tenantId).executeTakeFirst());
  if (!record) throw new AppError('invalid_state', 'This business has no deletion record: start its deletion first.');
  if (record.finished_at) return record.row_counts as Record<string, number>;
  const order = await deletionOrder(platform);
  // A second pass after the tenants row: tables without a foreign key to tenants (job history,
  // signal rollups) may get a late row from a flush that began before the deletion record.
  for (const table of [...order, 'tenants', ...order]) {
    const column = table === 'tenants' ? 'id' : 'tenant_id';
    for (;;) {
      const n = await tenancy.withSystem(`deletion: delete a batch of ${table}`, async (trx) => {
        const res = await sql`DELETE FROM ${sql.table(table)} WHERE ctid = ANY(ARRAY(SELECT ctid FROM ${sql.table(table)} WHERE ${sql.ref(column)} = ${tenantId}::uuid LIMIT ${BATCH}))`.execute(trx);
        const deleted = Number(res.numAffectedRows ?? 0n);
        if (deleted > 0) {
          await sql`UPDATE tenant_deletions SET row_counts = jsonb_set(row_counts, ARRAY[${table}::text], to_jsonb(coalesce((row_counts ->> ${table})::bigint, 0) + ${deleted}))
                     WHERE tenant_id = ${tenantId}::uuid`.execute(trx);
        }
        return deleted;
      });
      if (n < BATCH) break;
    }
  }
  const done = await tenancy.withSystem('deletion: finish', (trx) =>
    trx.updateTable('tenant_deletions').set({ finished_at: new Date() }).where('tenant_id', '=', tenantId).returning('row_counts').executeTakeFirstOrThrow(),
  );
  platform.log.info({ tenantId, rowCounts: done.row_counts }, 'business deleted');
  return done.row_counts as Record<string, number>;
}

/** `brigade tenants delete --tenant T --confirm`: the same record and deletion, now, in this process. */
export async function deleteTenantNow(platform: Platform, tenantId: string, operator: string): Promise<Record<string, number>> {
  await recordTenantDeletion(platform, tenantId, { reason: 'deletion requested (brigade tenants delete)', requestedBy: `operator ${operator}` });
  return deleteTenantData(platform, tenantId);
}

export const tenantDeletionJob = defineSystemJob('system.tenant_deletion', async (run) => {
  await deleteTenantData(run.platform, String(run.payload.tenantId));
});

export const retentionJob = defineSystemJob(
  'system.retention',
  async (run) => {
    const now = new Date();
    const r = await runRetention(run.platform, now);
    const exportChunks = await purgeExpiredExports(run.platform, now);
    if (r.notices || r.deletions.length || exportChunks) run.log.info({ notices: r.notices, deletions: r.deletions.length, expiredExportChunks: exportChunks }, 'retention pass');
  },
  { schedule: { pattern: '23 * * * *' }, attempts: 3 },
);

export const lifecycleJobs = [retentionNoticeJob, tenantDeletionJob, retentionJob];
