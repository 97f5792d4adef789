import { sql, type Kysely } from 'kysely';

/*
 * Frozen in time: never import application code here.
 *
 * The evaluator's minute at 100,000 tenants (decision 0681). tenant_health_refresh is one row:
 * the window tenant_health was last refreshed for, the platform's API time over it (each
 * tenant's share is read against it, so a tenant's row need not be rewritten every minute only
 * because the platform total moved) and when the evaluator read the rollups. The evaluator
 * then recomputes only the tenants whose window changed (minutes that entered or left it), not
 * every tenant with a row in the hour. signal_flushes.first_at is the earliest minute of each
 * flushed batch: a batch that lands after the evaluator read, for a minute it had already
 * counted (a process cut off from the database), makes the next run recompute every tenant.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    CREATE TABLE tenant_health_refresh (
      id boolean PRIMARY KEY DEFAULT true CHECK (id),
      window_end timestamptz NOT NULL,
      platform_api_ms double precision NOT NULL DEFAULT 0,
      read_at timestamptz NOT NULL
    );
    DO $$ BEGIN
      EXECUTE format('REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON tenant_health_refresh FROM %I', brigade_runtime_role());
    END $$;
    INSERT INTO tenant_health_refresh (window_end, read_at) SELECT max(window_end), now() FROM tenant_health HAVING max(window_end) IS NOT NULL;
    ALTER TABLE signal_flushes ADD COLUMN first_at timestamptz;
  `.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`
    ALTER TABLE signal_flushes DROP COLUMN first_at;
    DROP TABLE tenant_health_refresh;
  `.execute(db);
}
