import { CronExpressionParser } from 'cron-parser';
import type { Platform } from '../deps.ts';
import type { Logger } from '../log.ts';
import { currentContext, runWithContext } from '../context/index.ts';
import { defineSystemJob, type SystemJobDefinition, type TenantScheduleDefinition } from './define.ts';

/** How often the runner looks for due per-tenant schedules. */
export const RUNNER_EVERY_MS = 60_000;
/** A runner that was down longer than this does not catch up on older due times. */
const MAX_CATCH_UP_MS = 24 * 3600_000;

interface TenantRow {
  id: string;
  name: string;
  timezone: string;
  currency: string;
}

/** The due times of `cron` read in `tz`, after `from` and no later than `to`. */
export function dueTimes(cron: string, tz: string, from: Date, to: Date): Date[] {
  const out: Date[] = [];
  const it = CronExpressionParser.parse(cron, { currentDate: from, endDate: to, tz });
  while (it.hasNext() && out.length < 1000) {
    const d = it.next().toDate();
    if (d > from && d <= to) out.push(d);
  }
  return out;
}

export interface ScheduleRunSummary {
  ran: number;
  failed: number;
}

/**
 * One pass of the per-tenant schedule runner over the window since its last successful pass.
 * Each (schedule, tenant, due time) runs at most once: its marker row is written in the same
 * withTenant transaction as the handler's work, so a failed run leaves no marker and is tried
 * again on the next attempt while the others are skipped. The window only moves on when every
 * run of it succeeded.
 */
export async function runTenantSchedules(platform: Platform, schedules: TenantScheduleDefinition[], now: Date, log: Logger): Promise<ScheduleRunSummary> {
  const summary: ScheduleRunSummary = { ran: 0, failed: 0 };
  if (schedules.length === 0) return summary;
  const { tenancy } = platform;
  const tenants = await tenancy.withSystem('schedules: list tenants to fan out to', (trx) =>
    trx.selectFrom('tenants').select(['id', 'name', 'timezone', 'currency']).orderBy('id').execute(),
  );
  const cursors = new Map(
    (await tenancy.withSystem('schedules: read cursors', (trx) => trx.selectFrom('schedule_cursors').selectAll().execute())).map((c) => [c.schedule, c.checked_until]),
  );
  for (const s of schedules) {
    const since = cursors.get(s.name) ?? new Date(now.getTime() - RUNNER_EVERY_MS);
    const from = new Date(Math.max(since.getTime(), now.getTime() - MAX_CATCH_UP_MS));
    const byZone = new Map<string, TenantRow[]>();
    for (const t of tenants) {
      const zone = s.timezone === 'tenant' ? t.timezone : s.timezone;
      byZone.set(zone, [...(byZone.get(zone) ?? []), t]);
    }
    let failedHere = 0;
    for (const [zone, members] of byZone) {
      let due: Date[];
      try {
        due = dueTimes(s.cron, zone, from, now);
      } catch (err) {
        log.error({ err, schedule: s.name, zone }, 'cannot evaluate the schedule in this time zone');
        continue;
      }
      for (const fireAt of due) {
        for (const t of members) {
          try {
            const ran = await runWithContext({ ...currentContext(), tenantId: t.id }, () =>
              tenancy.withTenant({ tenantId: t.id }, async (trx) => {
                const marked = await trx
                  .insertInto('tenant_schedule_runs')
                  .values({ tenant_id: t.id, schedule: s.name, fire_at: fireAt })
                  .onConflict((oc) => oc.columns(['tenant_id', 'schedule', 'fire_at']).doNothing())
                  .returning('fire_at')
                  .executeTakeFirst();
                if (!marked) return false;
                await s.handle({ tenantId: t.id, tenant: t, fireAt, log: log.child({ schedule: s.name }), platform }, trx);
                return true;
              }),
            );
            if (ran) summary.ran++;
          } catch (err) {
            failedHere++;
            log.error({ err, schedule: s.name, tenantId: t.id, fireAt }, 'per-tenant scheduled run failed');
          }
        }
      }
    }
    summary.failed += failedHere;
    // After a failure the cursor stays at (or, on a first pass, is set to) the window's start,
    // so the next pass covers the failed runs again.
    const until = failedHere === 0 ? now : from;
    await tenancy.withSystem('schedules: move cursor', (trx) =>
      trx
        .insertInto('schedule_cursors')
        .values({ schedule: s.name, checked_until: until })
        .onConflict((oc) => (failedHere === 0 ? oc.column('schedule').doUpdateSet({ checked_until: until }) : oc.column('schedule').doNothing()))
        .execute(),
    );
  }
  return summary;
}

/** The BullMQ-scheduled job that drives every per-tenant schedule. */
export function tenantScheduleRunner(schedules: TenantScheduleDefinition[]): SystemJobDefinition {
  return defineSystemJob(
    'system.tenant_schedules',
    async (run) => {
      const summary = await runTenantSchedules(run.platform, schedules, new Date(), run.log);
      if (summary.ran) run.log.info(summary, 'per-tenant schedules ran');
      // Failing the job retries the failed tenants (the others are marked done).
      if (summary.failed) throw new Error(`${summary.failed} per-tenant scheduled run(s) failed; see the log lines of this job`);
    },
    { schedule: { every: RUNNER_EVERY_MS }, attempts: 3 },
  );
}
