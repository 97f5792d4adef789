import { sql, type Kysely } from 'kysely';

/*
 * Frozen in time: never import application code here.
 *
 * What is left of a deleted business: not tenant data (no RLS, no foreign key to tenants, and
 * the runtime role has no access), only the record that it was deleted, when, how many rows of
 * each table went, and the final head of its audit chain. row_counts grows batch by batch in
 * the same transaction as each batch's DELETE, so a deletion interrupted anywhere resumes with
 * true counts.
 *
 * tenant_retention_notices: one row per warning mail (14 and 3 days before the deletion of a
 * canceled or expired business), keyed by the retention end it announced, so a reactivated and
 * later canceled business is warned again.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    CREATE TABLE tenant_deletions (
      tenant_id uuid PRIMARY KEY,
      tenant_name text NOT NULL,
      tenant_slug text NOT NULL,
      reason text NOT NULL,
      requested_by text NOT NULL,
      started_at timestamptz NOT NULL DEFAULT now(),
      finished_at timestamptz,
      row_counts jsonb NOT NULL DEFAULT '{}',
      audit_head jsonb NOT NULL
    );

    CREATE TABLE tenant_retention_notices (
      tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
      retain_until timestamptz NOT NULL,
      days_before int NOT NULL,
      job_id uuid NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (tenant_id, retain_until, days_before)
    );
    SELECT brigade_protect('tenant_retention_notices');
  `.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`
    DROP TABLE tenant_retention_notices;
    DROP TABLE tenant_deletions;
  `.execute(db);
}
