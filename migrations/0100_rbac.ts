import { sql, type Kysely } from 'kysely';

/*
 * Frozen in time: never import application code here.
 *
 * RBAC: invitations of members who set their own password, time-boxed support grants that let
 * platform operators read one tenant's data, and indexes for the audit log's filters.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    CREATE TABLE invitations (
      tenant_id uuid NOT NULL,
      id uuid NOT NULL DEFAULT gen_random_uuid(),
      user_id uuid NOT NULL,
      token_hash text NOT NULL UNIQUE,
      invited_by uuid,
      created_at timestamptz NOT NULL DEFAULT now(),
      expires_at timestamptz NOT NULL,
      accepted_at timestamptz,
      revoked_at timestamptz,
      PRIMARY KEY (tenant_id, id),
      FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
    );
    CREATE INDEX invitations_pending ON invitations (tenant_id, user_id) WHERE accepted_at IS NULL AND revoked_at IS NULL;
    SELECT brigade_protect('invitations');

    CREATE TABLE support_grants (
      tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
      id uuid NOT NULL DEFAULT gen_random_uuid(),
      reason text NOT NULL CHECK (length(reason) BETWEEN 1 AND 500),
      granted_by uuid NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      expires_at timestamptz NOT NULL,
      revoked_at timestamptz,
      revoked_by uuid,
      PRIMARY KEY (tenant_id, id),
      CHECK (expires_at > created_at)
    );
    CREATE INDEX support_grants_active ON support_grants (tenant_id, expires_at) WHERE revoked_at IS NULL;
    CREATE INDEX support_grants_open ON support_grants (expires_at) WHERE revoked_at IS NULL;
    SELECT brigade_protect('support_grants');

    CREATE INDEX role_assignments_by_role ON role_assignments (tenant_id, role_key);
    CREATE INDEX audit_events_by_actor ON audit_events (tenant_id, actor_id, seq DESC);
    CREATE INDEX audit_events_by_action ON audit_events (tenant_id, action, seq DESC);
  `.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`
    DROP INDEX IF EXISTS audit_events_by_action;
    DROP INDEX IF EXISTS audit_events_by_actor;
    DROP INDEX IF EXISTS role_assignments_by_role;
    DROP TABLE IF EXISTS support_grants;
    DROP TABLE IF EXISTS invitations;
  `.execute(db);
}
