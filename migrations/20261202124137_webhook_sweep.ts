import { sql, type Kysely } from 'kysely';

/*
 * Frozen in time: never import application code here.
 *
 * The webhook inbox acknowledges an event once its row is stored; its processing job is written
 * by a sweep (docs/decisions/0682-webhook-sweep.md). `job_queued_at` marks a pending event that
 * has its job, `billing_events_unqueued` finds those that have none. Rows already stored have
 * their job (or need none): the default, now() evaluated once, marks them all without a rewrite.
 * `trace_context` carries the acknowledging request's traceparent to the job.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    ALTER TABLE billing_events ADD COLUMN job_queued_at timestamptz DEFAULT now();
    ALTER TABLE billing_events ALTER COLUMN job_queued_at DROP DEFAULT;
    ALTER TABLE billing_events ADD COLUMN trace_context text;
    CREATE INDEX billing_events_unqueued ON billing_events (received_at) WHERE outcome = 'pending' AND job_queued_at IS NULL;
  `.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`
    DROP INDEX billing_events_unqueued;
    ALTER TABLE billing_events DROP COLUMN trace_context;
    ALTER TABLE billing_events DROP COLUMN job_queued_at;
  `.execute(db);
}
