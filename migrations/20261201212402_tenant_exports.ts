import { sql, type Kysely } from 'kysely';

/*
 * Frozen in time: never import application code here.
 *
 * Full exports of a business: built by a job into chunks (each a gzip member, so the chunks
 * concatenated in order are one .jsonl.gz file), kept in PostgreSQL so any API process can
 * serve the download, and deleted with the export once its link has expired.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    CREATE TABLE tenant_exports (
      tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
      id uuid NOT NULL DEFAULT gen_random_uuid(),
      requested_by uuid,
      requested_by_operator text,
      status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'ready')),
      created_at timestamptz NOT NULL DEFAULT now(),
      ready_at timestamptz,
      expires_at timestamptz,
      bytes bigint,
      row_counts jsonb,
      audit_head jsonb,
      PRIMARY KEY (tenant_id, id),
      FOREIGN KEY (tenant_id, requested_by) REFERENCES users (tenant_id, id) ON DELETE SET NULL (requested_by)
    );
    CREATE INDEX tenant_exports_expiry ON tenant_exports (expires_at);
    SELECT brigade_protect('tenant_exports');

    CREATE TABLE tenant_export_chunks (
      tenant_id uuid NOT NULL,
      export_id uuid NOT NULL,
      seq int NOT NULL,
      data bytea NOT NULL,
      PRIMARY KEY (tenant_id, export_id, seq),
      FOREIGN KEY (tenant_id, export_id) REFERENCES tenant_exports (tenant_id, id) ON DELETE CASCADE
    );
    SELECT brigade_protect('tenant_export_chunks');
  `.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`
    DROP TABLE tenant_export_chunks;
    DROP TABLE tenant_exports;
  `.execute(db);
}
