import { sql, type Generated } from 'kysely';
import { Type } from 'typebox';
import type { Platform } from '../../platform/deps.ts';
import type { Tx } from '../../platform/db/index.ts';
import type { Scope } from '../../platform/auth/index.ts';
import { notFound, invalidFields } from '../../platform/errors/index.ts';
import { decodeCursor, toPage, DEFAULT_LIMIT } from '../../platform/http/pagination.ts';
import { defineJob, defineSystemJob } from '../../platform/jobs/index.ts';
import { sendOnce, composeMail } from '../../platform/mail.ts';
import { recordAudit, auditSourceOfUser } from '../audit/index.ts';
import { can, computeGrants, type Grants, type RoleAssignment } from '../access/index.ts';
import { isTimeZone } from '../identity/index.ts';
import { buildSalesReport, periodOf, salesReportCsv } from './reports.service.ts';
import type { CreateReportScheduleInput, ReportScheduleView, GroupBy, SalesReport } from './reports.schemas.ts';

export interface ReportSchedulesTable {
  tenant_id: string;
  id: Generated<string>;
  name: string;
  frequency: 'daily' | 'weekly' | 'monthly';
  hour: number;
  timezone: string;
  branch_id: string | null;
  group_by: GroupBy;
  created_by: string;
  created_at: Generated<Date>;
}
export interface ReportScheduleRecipientsTable {
  tenant_id: string;
  schedule_id: string;
  user_id: string;
}
export interface ReportScheduleRunsTable {
  tenant_id: string;
  schedule_id: string;
  local_date: string;
  due_at: Date;
  job_id: string;
  created_at: Generated<Date>;
}

declare module '../../platform/db/schema.ts' {
  interface Database {
    report_schedules: ReportSchedulesTable;
    report_schedule_recipients: ReportScheduleRecipientsTable;
    report_schedule_runs: ReportScheduleRunsTable;
  }
}

interface ScheduleRow {
  id: string;
  name: string;
  frequency: 'daily' | 'weekly' | 'monthly';
  hour: number;
  timezone: string;
  branch_id: string | null;
  group_by: GroupBy;
  created_by: string;
  created_at: Date;
  created_at_text: string;
  recipients: { userId: string; name: string }[];
  last_run: { localDate: string; dueAt: string; jobId: string } | null;
}

function selectSchedules(trx: Tx, tenantId: string) {
  return trx
    .selectFrom('report_schedules as s')
    .select([
      's.id', 's.name', 's.frequency', 's.hour', 's.timezone', 's.branch_id', 's.group_by', 's.created_by', 's.created_at',
      sql<string>`s.created_at::text`.as('created_at_text'),
      sql<{ userId: string; name: string }[]>`coalesce((
        SELECT json_agg(json_build_object('userId', u.id, 'name', u.name) ORDER BY u.name, u.id)
          FROM report_schedule_recipients r JOIN users u ON u.tenant_id = r.tenant_id AND u.id = r.user_id
         WHERE r.tenant_id = s.tenant_id AND r.schedule_id = s.id), '[]'::json)`.as('recipients'),
      sql<ScheduleRow['last_run']>`(
        SELECT json_build_object('localDate', to_char(x.local_date, 'YYYY-MM-DD'), 'dueAt', x.due_at, 'jobId', x.job_id)
          FROM report_schedule_runs x WHERE x.tenant_id = s.tenant_id AND x.schedule_id = s.id
         ORDER BY x.local_date DESC LIMIT 1)`.as('last_run'),
    ])
    .where('s.tenant_id', '=', tenantId);
}

function scheduleView(row: ScheduleRow): ReportScheduleView {
  return {
    id: row.id,
    name: row.name,
    frequency: row.frequency,
    hour: row.hour,
    timezone: row.timezone,
    branchId: row.branch_id,
    groupBy: row.group_by,
    recipients: row.recipients,
    createdBy: row.created_by,
    createdAt: row.created_at.toISOString(),
    lastRun: row.last_run ? { ...row.last_run, dueAt: new Date(row.last_run.dueAt).toISOString() } : null,
  };
}

interface Member {
  id: string;
  name: string;
  email: string;
  status: string;
  grants: Grants;
}

/** Members of the tenant among `userIds`, with what they may do now. */
async function membersWithGrants(trx: Tx, tenantId: string, userIds: string[]): Promise<Member[]> {
  if (userIds.length === 0) return [];
  const { rows } = await sql<{ id: string; name: string; email: string; status: string; roles: RoleAssignment[]; custom: Record<string, string[]> }>`
    SELECT u.id, u.name, u.email, u.status,
      coalesce((SELECT json_agg(json_build_object('role', ra.role_key, 'branchId', ra.branch_id))
                  FROM role_assignments ra WHERE ra.tenant_id = u.tenant_id AND ra.user_id = u.id), '[]'::json) AS roles,
      coalesce((SELECT json_object_agg(cr.key, cr.permissions) FROM custom_roles cr
                 WHERE cr.tenant_id = u.tenant_id
                   AND cr.key IN (SELECT ra.role_key FROM role_assignments ra WHERE ra.tenant_id = u.tenant_id AND ra.user_id = u.id)), '{}'::json) AS custom
      FROM users u
     WHERE u.tenant_id = ${tenantId} AND u.id = ANY(${userIds}::uuid[])`.execute(trx);
  return rows.map((r) => ({ id: r.id, name: r.name, email: r.email, status: r.status, grants: computeGrants(r.roles, r.custom) }));
}

/** Whether a member may receive the report: active, and reports.view where it reaches (a branch, or the whole business). */
const mayReceive = (m: Member, branchId: string | null) => m.status === 'active' && can(m.grants, 'reports.view', branchId);

function addDays(day: string, n: number): string {
  const d = new Date(`${day}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + n);
  return d.toISOString().slice(0, 10);
}

/** The local days a run sent on `localDate` covers (inclusive). */
export function coveredDays(frequency: 'daily' | 'weekly' | 'monthly', localDate: string): { from: string; to: string } {
  if (frequency === 'daily') return { from: addDays(localDate, -1), to: addDays(localDate, -1) };
  if (frequency === 'weekly') return { from: addDays(localDate, -7), to: addDays(localDate, -1) };
  const last = addDays(localDate, -1);
  return { from: `${last.slice(0, 7)}-01`, to: last };
}

function formatMoney(minor: number, currency: string): string {
  const f = new Intl.NumberFormat('en', { style: 'currency', currency });
  const digits = f.resolvedOptions().maximumFractionDigits ?? 2;
  return f.format(minor / 10 ** digits);
}

function reportMail(schedule: { name: string }, tenantName: string, days: { from: string; to: string }, report: SalesReport) {
  const span = days.from === days.to ? days.from : `${days.from} to ${days.to}`;
  const t = report.totals;
  const m = (n: number) => formatMoney(n, report.currency);
  const content = composeMail({
    subject: `${schedule.name}: sales of ${tenantName}, ${span}`,
    greeting: 'Hello,',
    paragraphs: [
      `Sales of ${tenantName} for ${span} (${report.timezone}): ${t.orders} orders, gross ${m(t.grossMinor)}, refunds ${m(t.refundsMinor)}, net ${m(t.netMinor)}.`,
      `Rows (${report.groupBy}): ${report.rows.length}. The full report is attached as CSV.`,
    ],
    note: 'You receive this because you are a recipient of this scheduled report and may view reports. Ask an owner to change the schedule.',
  });
  const file = `sales-${report.groupBy}-${days.from}-${days.to}.csv`;
  return { ...content, attachments: [{ filename: file, content: salesReportCsv(report), contentType: 'text/csv; charset=utf-8' }] };
}

/**
 * One scheduled report, built and mailed. The whole report and its CSV are built before the
 * first mail goes out, so a failure sends nothing and the retry starts over; each recipient gets
 * it at most once per job (sendOnce), so a retry after a partial send completes the rest.
 * Recipients are checked now, not when the schedule was made: who lost reports.view, or left,
 * gets nothing.
 */
export const scheduledReportJob = defineJob(
  'reports.scheduled',
  Type.Object({ scheduleId: Type.String({ format: 'uuid' }), localDate: Type.String({ pattern: '^\\d{4}-\\d{2}-\\d{2}$' }) }),
  async (job) => {
    const built = await job.withTenant(async (trx) => {
      const schedule = await trx.selectFrom('report_schedules').selectAll().where('tenant_id', '=', job.tenantId).where('id', '=', job.payload.scheduleId).executeTakeFirst();
      if (!schedule) return null;
      const tenant = await trx.selectFrom('tenants').select(['name', 'currency']).where('id', '=', job.tenantId).executeTakeFirstOrThrow();
      const ids = (await trx.selectFrom('report_schedule_recipients').select('user_id').where('tenant_id', '=', job.tenantId).where('schedule_id', '=', schedule.id).execute()).map((r) => r.user_id);
      const recipients = (await membersWithGrants(trx, job.tenantId, ids)).filter((m) => mayReceive(m, schedule.branch_id));
      const days = coveredDays(schedule.frequency, job.payload.localDate);
      const report = await buildSalesReport(trx, {
        tenantId: job.tenantId,
        currency: tenant.currency,
        timezone: schedule.timezone,
        period: periodOf(days, schedule.timezone),
        branchIds: schedule.branch_id ? [schedule.branch_id] : 'all',
        groupBy: schedule.group_by,
      });
      return { mail: reportMail(schedule, tenant.name, days, report), recipients };
    });
    if (!built) return void job.log.info('the schedule was deleted; no report');
    if (built.recipients.length === 0) return void job.log.info('no recipient may receive this report any more');
    for (const r of built.recipients) await sendOnce({ mailer: job.mailer, tenancy: job.platform.tenancy }, job, r.email, () => built.mail);
  },
);

/**
 * Finds the schedules due at `now` and writes one job per schedule and local day. A schedule is
 * due on a local day (every day; Mondays; the 1st) once `hour:00` of that day in its zone has
 * passed: the instant PostgreSQL gives that local time (a time in a spring-forward gap comes
 * out just after it, an hour that happens twice once), and the run row's key (schedule, local
 * day) refuses a second run. A schedule made after today's time starts tomorrow; a runner that
 * was down sends late the same local day, and not at all for a day already over.
 */
export async function enqueueDueReports(platform: Platform, now: Date): Promise<number> {
  const { tenancy } = platform;
  const due = await tenancy.withSystem('reports: find scheduled reports due', async (trx) => {
    const { rows } = await sql<{ tenant_id: string; id: string; local_date: string; due_at: Date }>`
      SELECT s.tenant_id, s.id, to_char(l.local_date, 'YYYY-MM-DD') AS local_date, l.due_at
        FROM report_schedules s
        CROSS JOIN LATERAL (SELECT (${now}::timestamptz AT TIME ZONE s.timezone)::date AS local_date) d
        CROSS JOIN LATERAL (SELECT d.local_date, ((d.local_date + make_time(s.hour, 0, 0)) AT TIME ZONE s.timezone) AS due_at) l
       WHERE l.due_at <= ${now}::timestamptz AND s.created_at < l.due_at
         AND (s.frequency = 'daily'
              OR (s.frequency = 'weekly' AND extract(isodow FROM l.local_date) = 1)
              OR (s.frequency = 'monthly' AND extract(day FROM l.local_date) = 1))
         AND NOT EXISTS (SELECT 1 FROM report_schedule_runs r
                          WHERE r.tenant_id = s.tenant_id AND r.schedule_id = s.id AND r.local_date = l.local_date)
       ORDER BY l.due_at
       LIMIT 5000`.execute(trx);
    return rows;
  });
  let enqueued = 0;
  for (const d of due) {
    const ran = await tenancy.withTenant({ tenantId: d.tenant_id }, async (trx) => {
      // The schedule's row lock orders concurrent runners; the loser finds the run row.
      const locked = await trx.selectFrom('report_schedules').select('id').where('tenant_id', '=', d.tenant_id).where('id', '=', d.id).forUpdate().executeTakeFirst();
      if (!locked) return false;
      const done = await trx
        .selectFrom('report_schedule_runs')
        .select('job_id')
        .where('tenant_id', '=', d.tenant_id)
        .where('schedule_id', '=', d.id)
        .where('local_date', '=', d.local_date)
        .executeTakeFirst();
      if (done) return false;
      const jobId = await scheduledReportJob.later(trx, d.tenant_id, { scheduleId: d.id, localDate: d.local_date });
      await trx.insertInto('report_schedule_runs').values({ tenant_id: d.tenant_id, schedule_id: d.id, local_date: d.local_date, due_at: d.due_at, job_id: jobId }).execute();
      return true;
    });
    if (ran) enqueued++;
  }
  return enqueued;
}

/** Looks for due reports every minute (the hour of a schedule is matched to the minute). */
export const dueReportsJob = defineSystemJob(
  'system.reports_due',
  async (run) => {
    const n = await enqueueDueReports(run.platform, new Date());
    if (n) run.log.info({ reports: n }, 'scheduled reports enqueued');
  },
  { schedule: { every: 60_000 }, attempts: 3 },
);

export const reportJobs = [scheduledReportJob, dueReportsJob];

export function reportSchedulesService(platform: Platform) {
  const { tenancy } = platform;

  return {
    async createReportSchedule(scope: Scope, input: CreateReportScheduleInput) {
      const timezone = input.timezone ?? scope.tenant.timezone;
      if (!isTimeZone(timezone)) throw invalidFields([{ path: 'timezone', message: 'is not an IANA time zone' }]);
      const branchId = input.branchId ?? null;
      return tenancy.withTenant(scope, async (trx) => {
        if (branchId) {
          const branch = await trx.selectFrom('branches').select('archived_at').where('tenant_id', '=', scope.tenantId).where('id', '=', branchId).executeTakeFirst();
          if (!branch || branch.archived_at) throw invalidFields([{ path: 'branchId', message: branch ? 'is archived' : 'is not a branch of this business' }]);
        }
        const members = new Map((await membersWithGrants(trx, scope.tenantId, input.recipients)).map((m) => [m.id, m]));
        const errors = input.recipients.flatMap((id, i) => {
          const m = members.get(id);
          if (!m || m.status !== 'active') return [{ path: `recipients.${i}`, message: 'is not a member of this business' }];
          if (!mayReceive(m, branchId)) return [{ path: `recipients.${i}`, message: `does not hold reports.view ${branchId ? 'in that branch' : 'for the whole business'}` }];
          return [];
        });
        if (errors.length) throw invalidFields(errors);
        // The plan's scheduledReports limit, claimed exactly in this transaction (racers wait their turn).
        await platform.hooks.claimLimit?.(trx, scope.tenantId, 'scheduledReports');
        const { id } = await trx
          .insertInto('report_schedules')
          .values({
            tenant_id: scope.tenantId,
            name: input.name.trim(),
            frequency: input.frequency,
            hour: input.hour,
            timezone,
            branch_id: branchId,
            group_by: input.groupBy ?? 'day',
            created_by: scope.userId,
          })
          .returning('id')
          .executeTakeFirstOrThrow();
        await trx.insertInto('report_schedule_recipients').values(input.recipients.map((user_id) => ({ tenant_id: scope.tenantId, schedule_id: id, user_id }))).execute();
        const reportSchedule = scheduleView((await selectSchedules(trx, scope.tenantId).where('s.id', '=', id).executeTakeFirst())!);
        await recordAudit(trx, auditSourceOfUser(scope), {
          action: 'report_schedule.created',
          permission: 'reports.export',
          target: { type: 'report_schedule', id },
          changes: { before: null, after: reportSchedule },
        });
        return { reportSchedule };
      });
    },

    /** The schedules of the branches the caller may export (tenant-wide ones need a tenant-wide grant). */
    async listReportSchedules(scope: Scope, query: { limit?: number; cursor?: string }) {
      const limit = query.limit ?? DEFAULT_LIMIT;
      const after = decodeCursor(query.cursor, ['s', 's']);
      const rows = await tenancy.readAsTenant(scope, (trx) => {
        let qb = selectSchedules(trx, scope.tenantId);
        if (after) qb = qb.where(sql<boolean>`(s.created_at, s.id) < (${after[0]}::timestamptz, ${after[1]}::uuid)`);
        return qb.orderBy('s.created_at', 'desc').orderBy('s.id', 'desc').limit(limit + 1).execute();
      });
      const visible = rows.filter((r) => can(scope.grants, 'reports.export', r.branch_id));
      return toPage(visible, limit, (r) => [r.created_at_text, r.id], scheduleView);
    },

    /** For the route's branch check: the schedule's branch (null: all branches). 404 for another tenant's id. */
    async scheduleBranch(scope: Scope, id: string): Promise<string | null> {
      const row = await tenancy.readAsTenant(scope, (trx) =>
        trx.selectFrom('report_schedules').select('branch_id').where('tenant_id', '=', scope.tenantId).where('id', '=', id).executeTakeFirst(),
      );
      if (!row) throw notFound('report schedule');
      return row.branch_id;
    },

    async deleteReportSchedule(scope: Scope, id: string): Promise<void> {
      await tenancy.withTenant(scope, async (trx) => {
        const row = await selectSchedules(trx, scope.tenantId).where('s.id', '=', id).forUpdate('s').executeTakeFirst();
        if (!row) throw notFound('report schedule');
        await trx.deleteFrom('report_schedules').where('tenant_id', '=', scope.tenantId).where('id', '=', id).execute();
        await recordAudit(trx, auditSourceOfUser(scope), {
          action: 'report_schedule.deleted',
          permission: 'reports.export',
          target: { type: 'report_schedule', id },
          changes: { before: scheduleView(row), after: null },
        });
      });
    },
  };
}

export type ReportSchedulesService = ReturnType<typeof reportSchedulesService>;
