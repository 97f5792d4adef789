import { sql, type Kysely } from 'kysely';

/*
 * Frozen in time: never import application code here.
 *
 * Each tenant's quiet level beside its usual one: the lower quartile of the comparable hours
 * (same hour of the week, or of the day) for the hour before, of and after the baseline's hour.
 * The traffic-drop rule compares against it, so a weekday-heavy week or a step at closing time
 * is not a collapse. Empty until the next baseline refresh (the rule then stays quiet).
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    ALTER TABLE tenant_baselines
      ADD COLUMN quiet_per_min real,
      ADD COLUMN quiet_per_min_prev real,
      ADD COLUMN quiet_per_min_next real`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`ALTER TABLE tenant_baselines DROP COLUMN quiet_per_min, DROP COLUMN quiet_per_min_prev, DROP COLUMN quiet_per_min_next`.execute(db);
}
