import { sql } from 'kysely';
import type { Platform } from '../../platform/deps.ts';
import type { CountedLimit } from './billing.plans.ts';

/**
 * Usage metering: what a business has of each counted limit, read live from the tables that
 * hold it (branches, members, orders of the current billing period, report schedules). One statement, one round
 * trip, through the tenant's own context.
 */
export type Usage = Record<CountedLimit, number>;

export interface UsagePeriod {
  start: Date;
  end: Date | null;
}

/** The period orders are counted in: the subscription's current period, else the calendar month (UTC). */
export function usagePeriod(periodStart: Date | null, periodEnd: Date | null, now = new Date()): UsagePeriod {
  if (periodStart && periodStart <= now && (!periodEnd || periodEnd > now)) return { start: periodStart, end: periodEnd };
  const start = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1));
  return { start, end: new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1)) };
}

export function usageMeter(platform: Platform) {
  return {
    async usageOf(tenantId: string, period: UsagePeriod): Promise<Usage> {
      const row = await platform.tenancy.readAsTenant({ tenantId }, (db) =>
        sql<{ branches: string; members: string; orders: string; reports: string }>`
          SELECT
            (SELECT count(*) FROM branches b WHERE b.tenant_id = ${tenantId} AND b.archived_at IS NULL) AS branches,
            (SELECT count(*) FROM users u WHERE u.tenant_id = ${tenantId} AND u.status <> 'removed') AS members,
            (SELECT count(*) FROM orders o WHERE o.tenant_id = ${tenantId} AND o.created_at >= ${period.start}) AS orders,
            (SELECT count(*) FROM report_schedules s WHERE s.tenant_id = ${tenantId}) AS reports
        `.execute(db),
      );
      const r = row.rows[0]!;
      return { branches: Number(r.branches), members: Number(r.members), ordersPerMonth: Number(r.orders), scheduledReports: Number(r.reports) };
    },
  };
}

export type UsageMeter = ReturnType<typeof usageMeter>;
