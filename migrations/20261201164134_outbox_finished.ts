import { sql, type Kysely } from 'kysely';

/*
 * Frozen in time: never import application code here.
 *
 * The outbox stays the truth until a job has finished: `finished_at` is set when the job's
 * completion or death is recorded. A row relayed and not finished is one Redis should know;
 * when Redis no longer does (it restarted without its data), the row is relayed again.
 * Rows relayed before this migration are taken as finished (their fate is in job_runs).
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    ALTER TABLE outbox ADD COLUMN finished_at timestamptz;
    UPDATE outbox SET finished_at = relayed_at WHERE relayed_at IS NOT NULL;
    CREATE INDEX outbox_unfinished ON outbox (relayed_at, id) WHERE relayed_at IS NOT NULL AND finished_at IS NULL;
  `.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`
    DROP INDEX outbox_unfinished;
    ALTER TABLE outbox DROP COLUMN finished_at;
  `.execute(db);
}
