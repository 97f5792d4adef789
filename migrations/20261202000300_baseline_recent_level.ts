import { sql, type Kysely } from 'kysely';

/*
 * Frozen in time: never import application code here.
 *
 * Beside each tenant's levels, today's: the last three hours' requests against their quiet level
 * (0.5..1), so the traffic-drop rule judges a day that has been quiet since the morning by the
 * day it is having. And the requests the usual error rate was estimated from, so the error-rate
 * rule allows for a rate estimated from few. Empty until the next baseline refresh (the rules
 * then take level 1 and the rate as exact, as before).
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`ALTER TABLE tenant_baselines ADD COLUMN recent_level real, ADD COLUMN error_rate_requests real`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`ALTER TABLE tenant_baselines DROP COLUMN recent_level, DROP COLUMN error_rate_requests`.execute(db);
}
