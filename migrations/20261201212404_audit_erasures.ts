import { sql, type Kysely } from 'kysely';

/*
 * Frozen in time: never import application code here.
 *
 * Erasing a member's personal data rewrites the audit events that name them (actor name, their
 * address inside `changes`, ip and user agent). Each rewritten event's original hash is kept
 * here, and listed by the `member.erased` event (itself in the chain): the verifier checks a
 * rewritten event against that hash instead of its (now pseudonymous) content, and every row
 * here must be vouched for by such an event, so the table cannot be used to hide tampering.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    CREATE TABLE audit_erasures (
      tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
      seq bigint NOT NULL,
      hash text NOT NULL,
      erased_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (tenant_id, seq)
    );
    SELECT brigade_protect('audit_erasures');
  `.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP TABLE audit_erasures;`.execute(db);
}
