import { sql, type Kysely } from 'kysely';

/*
 * Frozen in time: never import application code here.
 *
 * The webhook inbox's acknowledging insert writes fewer index entries and locks nothing
 * (docs/decisions/0691-webhook-inbox-no-tenant-lock.md):
 * - no foreign key to tenants: its check locked the business's tenants row (FOR KEY SHARE, a
 *   WAL record each, a multixact once two events of one business overlap). The event's business
 *   is found in the same statement; a business's deletion removes its events table by table,
 *   with a second pass after the tenants row for rows without a foreign key, as for job history;
 * - `billing_events_unsettled` replaces `billing_events_pending` and `billing_events_unqueued`:
 *   unsettled events (pending or failed), those without their job first (NULLS FIRST), oldest
 *   first within each: the sweep reads its head, the re-drive of stuck events the whole of it;
 * - `billing_events_by_tenant` follows the ops listing's order (received_at, then id).
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    ALTER TABLE billing_events DROP CONSTRAINT billing_events_tenant_id_fkey;
    CREATE INDEX billing_events_unsettled ON billing_events (job_queued_at NULLS FIRST, received_at) WHERE outcome IN ('pending', 'failed');
    DROP INDEX billing_events_unqueued;
    DROP INDEX billing_events_pending;
    CREATE INDEX billing_events_by_tenant_received ON billing_events (tenant_id, received_at DESC, provider_event_id DESC);
    DROP INDEX billing_events_by_tenant;
    ALTER INDEX billing_events_by_tenant_received RENAME TO billing_events_by_tenant;
  `.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`
    CREATE INDEX billing_events_by_tenant_created ON billing_events (tenant_id, provider_created_at DESC);
    DROP INDEX billing_events_by_tenant;
    ALTER INDEX billing_events_by_tenant_created RENAME TO billing_events_by_tenant;
    CREATE INDEX billing_events_pending ON billing_events (received_at) WHERE outcome IN ('pending', 'failed');
    CREATE INDEX billing_events_unqueued ON billing_events (received_at) WHERE outcome = 'pending' AND job_queued_at IS NULL;
    DROP INDEX billing_events_unsettled;
    UPDATE billing_events e SET tenant_id = NULL WHERE tenant_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM tenants t WHERE t.id = e.tenant_id);
    ALTER TABLE billing_events ADD CONSTRAINT billing_events_tenant_id_fkey FOREIGN KEY (tenant_id) REFERENCES tenants (id) ON DELETE SET NULL;
  `.execute(db);
}
