import { sql, type RawBuilder } from 'kysely';
import type { Platform } from '../../platform/deps.ts';
import type { Tx } from '../../platform/db/index.ts';
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

/** The count of each counted limit, as SQL: the one definition of what a limit counts. */
function counted(tenantId: string, period: UsagePeriod): Record<CountedLimit, RawBuilder<string>> {
  return {
    branches: sql<string>`(SELECT count(*) FROM branches b WHERE b.tenant_id = ${tenantId} AND b.archived_at IS NULL)`,
    members: sql<string>`(SELECT count(*) FROM users u WHERE u.tenant_id = ${tenantId} AND u.status <> 'removed')`,
    ordersPerMonth: sql<string>`(SELECT count(*) FROM orders o WHERE o.tenant_id = ${tenantId} AND o.created_at >= ${period.start})`,
    scheduledReports: sql<string>`(SELECT count(*) FROM report_schedules s WHERE s.tenant_id = ${tenantId})`,
  };
}

/** How many of one counted limit a business has, inside the caller's transaction. */
export async function countUsage(db: Tx, tenantId: string, limit: CountedLimit, period: UsagePeriod): Promise<number> {
  const { rows } = await usageCount(tenantId, limit, period).execute(db);
  return Number(rows[0]!.n);
}

/** The statement countUsage sends, to send with others in one round trip. */
export function usageCount(tenantId: string, limit: CountedLimit, period: UsagePeriod) {
  return sql<{ n: string }>`SELECT ${counted(tenantId, period)[limit]} AS n`;
}

/** Every counted limit in one statement, inside the caller's transaction. */
export async function usageIn(db: Tx, tenantId: string, period: UsagePeriod): Promise<Usage> {
  const c = counted(tenantId, period);
  const { rows } = await sql<Record<CountedLimit, string>>`
    SELECT ${c.branches} AS branches, ${c.members} AS members, ${c.ordersPerMonth} AS "ordersPerMonth", ${c.scheduledReports} AS "scheduledReports"
  `.execute(db);
  const r = rows[0]!;
  return { branches: Number(r.branches), members: Number(r.members), ordersPerMonth: Number(r.ordersPerMonth), scheduledReports: Number(r.scheduledReports) };
}

export function usageMeter(platform: Platform) {
  return {
    async usageOf(tenantId: string, period: UsagePeriod): Promise<Usage> {
      return platform.tenancy.readAsTenant({ tenantId }, (db) => usageIn(db, tenantId, period));
    },
  };
}

export type UsageMeter = ReturnType<typeof usageMeter>;
