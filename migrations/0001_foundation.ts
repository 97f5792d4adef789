import { sql, type Kysely } from 'kysely';

/*
 * Frozen in time: never import application code here.
 *
 * Roles. The role running migrations (DATABASE_URL's user) owns every object. It creates a
 * runtime role for this database only, with a random password kept in `brigade_settings`
 * (readable by the owner alone): LOGIN, NOBYPASSRLS, owning nothing. Only CREATEROLE is needed,
 * so this works on managed servers, and several Brigade databases on one server each get their
 * own runtime role and secret.
 *
 * Tenancy. `brigade_protect(table)` enables and FORCES row-level security with a policy for the
 * runtime role on `app.tenant_id` (unset or empty context: no rows) and one for the owner, which
 * is what `withSystem` connects as. It also grants the runtime role its DML; tables not passed to
 * it are invisible to the runtime role unless a migration grants them explicitly.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    CREATE TABLE brigade_settings (key text PRIMARY KEY, value text NOT NULL);
    REVOKE ALL ON brigade_settings FROM PUBLIC;

    DO $$
    DECLARE
      role_name text := 'brigade_rt_' || left(regexp_replace(current_database(), '[^A-Za-z0-9_]', '_', 'g'), 32)
                        || '_' || left(md5(current_database()), 8);
      secret text := replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', '');
    BEGIN
      IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = role_name) THEN
        -- A database dropped and created again under the same name meets its old runtime role.
        -- Change only what CREATEROLE may change (a non-superuser owner may not even say
        -- NOSUPERUSER or NOBYPASSRLS); a role that could get past row-level security is refused.
        -- (The one edit of this frozen migration, issue 9.9: it ran only where it succeeded.)
        IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = role_name AND (rolsuper OR rolbypassrls)) THEN
          RAISE EXCEPTION 'role % already exists and is a superuser or bypasses row-level security; drop it first', role_name;
        END IF;
        EXECUTE format('ALTER ROLE %I WITH LOGIN PASSWORD %L NOCREATEDB NOCREATEROLE NOINHERIT', role_name, secret);
      ELSE
        EXECUTE format('CREATE ROLE %I WITH LOGIN PASSWORD %L NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE NOINHERIT', role_name, secret);
      END IF;
      INSERT INTO brigade_settings (key, value) VALUES ('runtime_role', role_name), ('runtime_password', secret);
      EXECUTE format('REVOKE ALL ON DATABASE %I FROM PUBLIC', current_database());
      EXECUTE format('GRANT CONNECT, TEMPORARY ON DATABASE %I TO %I', current_database(), role_name);
      EXECUTE format('GRANT USAGE ON SCHEMA public TO %I', role_name);
    END $$;

    CREATE FUNCTION brigade_runtime_role() RETURNS text LANGUAGE sql STABLE
      AS $$ SELECT value FROM brigade_settings WHERE key = 'runtime_role' $$;
    REVOKE ALL ON FUNCTION brigade_runtime_role() FROM PUBLIC;

    CREATE FUNCTION brigade_protect(tbl regclass, tenant_column text DEFAULT 'tenant_id') RETURNS void
    LANGUAGE plpgsql AS $$
    DECLARE
      runtime text := brigade_runtime_role();
      tenant_expr text := 'nullif(current_setting(''app.tenant_id'', true), '''')::uuid';
    BEGIN
      EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', tbl);
      EXECUTE format('ALTER TABLE %s FORCE ROW LEVEL SECURITY', tbl);
      EXECUTE format('CREATE POLICY tenant_isolation ON %s TO %I USING (%I = %s) WITH CHECK (%I = %s)',
                     tbl, runtime, tenant_column, tenant_expr, tenant_column, tenant_expr);
      EXECUTE format('CREATE POLICY system_access ON %s TO %I USING (true) WITH CHECK (true)', tbl, current_user);
      EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %s TO %I', tbl, runtime);
    END $$;
    REVOKE ALL ON FUNCTION brigade_protect(regclass, text) FROM PUBLIC;
  `.execute(db);

  await sql`
    CREATE TABLE tenants (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
      slug text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
      currency char(3) NOT NULL DEFAULT 'EUR',
      timezone text NOT NULL DEFAULT 'UTC',
      settings jsonb NOT NULL DEFAULT '{}',
      created_at timestamptz NOT NULL DEFAULT now()
    );
    SELECT brigade_protect('tenants', 'id');

    CREATE TABLE users (
      tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
      id uuid NOT NULL DEFAULT gen_random_uuid(),
      email text NOT NULL CHECK (email = lower(email)),
      name text NOT NULL,
      password_hash text,
      status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'invited', 'removed')),
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (tenant_id, id)
    );
    CREATE UNIQUE INDEX users_email_per_tenant ON users (tenant_id, email);
    CREATE INDEX users_email ON users (email);
    SELECT brigade_protect('users');

    CREATE TABLE branches (
      tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
      id uuid NOT NULL DEFAULT gen_random_uuid(),
      name text NOT NULL,
      address text,
      timezone text NOT NULL,
      archived_at timestamptz,
      created_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (tenant_id, id)
    );
    SELECT brigade_protect('branches');

    CREATE TABLE custom_roles (
      tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
      key text NOT NULL CHECK (key ~ '^[a-z][a-z0-9_]{1,39}$'),
      name text NOT NULL,
      description text NOT NULL DEFAULT '',
      permissions text[] NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (tenant_id, key)
    );
    SELECT brigade_protect('custom_roles');

    CREATE TABLE role_assignments (
      tenant_id uuid NOT NULL,
      id uuid NOT NULL DEFAULT gen_random_uuid(),
      user_id uuid NOT NULL,
      role_key text NOT NULL,
      branch_id uuid,
      created_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (tenant_id, id),
      FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE,
      FOREIGN KEY (tenant_id, branch_id) REFERENCES branches (tenant_id, id)
    );
    CREATE UNIQUE INDEX role_assignments_unique
      ON role_assignments (tenant_id, user_id, role_key, coalesce(branch_id, '00000000-0000-0000-0000-000000000000'));
    SELECT brigade_protect('role_assignments');

    CREATE TABLE sessions (
      tenant_id uuid NOT NULL,
      id uuid NOT NULL DEFAULT gen_random_uuid(),
      user_id uuid NOT NULL,
      token_hash text NOT NULL UNIQUE,
      created_at timestamptz NOT NULL DEFAULT now(),
      expires_at timestamptz NOT NULL,
      revoked_at timestamptz,
      ip text,
      user_agent text,
      PRIMARY KEY (tenant_id, id),
      FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
    );
    CREATE INDEX sessions_user ON sessions (tenant_id, user_id) WHERE revoked_at IS NULL;
    SELECT brigade_protect('sessions');

    -- Platform operators: not tenant data; the runtime role gets no access at all.
    CREATE TABLE operators (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      email text NOT NULL UNIQUE CHECK (email = lower(email)),
      name text NOT NULL,
      password_hash text NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      disabled_at timestamptz
    );
    CREATE TABLE operator_sessions (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      operator_id uuid NOT NULL REFERENCES operators (id) ON DELETE CASCADE,
      token_hash text NOT NULL UNIQUE,
      created_at timestamptz NOT NULL DEFAULT now(),
      expires_at timestamptz NOT NULL,
      revoked_at timestamptz
    );

    -- Append-only audit trail with a per-tenant hash chain (audit_heads holds each chain's tip).
    CREATE TABLE audit_events (
      tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
      id uuid NOT NULL DEFAULT gen_random_uuid(),
      seq bigint NOT NULL,
      at timestamptz NOT NULL,
      actor_type text NOT NULL CHECK (actor_type IN ('user', 'operator', 'system')),
      actor_id uuid,
      actor_name text,
      action text NOT NULL,
      permission text,
      target_type text,
      target_id text,
      changes jsonb NOT NULL DEFAULT '{}',
      request_id text,
      ip text,
      user_agent text,
      prev_hash text NOT NULL,
      hash text NOT NULL,
      PRIMARY KEY (tenant_id, id),
      UNIQUE (tenant_id, seq)
    );
    CREATE INDEX audit_events_by_time ON audit_events (tenant_id, at DESC, id DESC);
    SELECT brigade_protect('audit_events');
    DO $$ BEGIN
      EXECUTE format('REVOKE UPDATE, DELETE, TRUNCATE ON audit_events FROM %I', brigade_runtime_role());
    END $$;

    CREATE TABLE audit_heads (
      tenant_id uuid PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
      seq bigint NOT NULL,
      hash text NOT NULL
    );
    SELECT brigade_protect('audit_heads');
    DO $$ BEGIN
      EXECUTE format('REVOKE DELETE, TRUNCATE ON audit_heads FROM %I', brigade_runtime_role());
    END $$;

    -- Transactional outbox: written in the use case's transaction, relayed to the queue.
    CREATE TABLE outbox (
      tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
      id uuid NOT NULL DEFAULT gen_random_uuid(),
      type text NOT NULL,
      payload jsonb NOT NULL,
      run_at timestamptz NOT NULL DEFAULT now(),
      created_at timestamptz NOT NULL DEFAULT now(),
      relayed_at timestamptz,
      PRIMARY KEY (tenant_id, id)
    );
    CREATE INDEX outbox_pending ON outbox (created_at) WHERE relayed_at IS NULL;
    SELECT brigade_protect('outbox');

    CREATE FUNCTION brigade_outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      PERFORM pg_notify('brigade_outbox', '');
      RETURN NULL;
    END $$;
    CREATE TRIGGER outbox_notify AFTER INSERT ON outbox
      FOR EACH STATEMENT EXECUTE FUNCTION brigade_outbox_notify();

    -- The one query every authenticated request makes: token hash -> session, user, tenant and
    -- role assignments. SECURITY DEFINER so the runtime role can find a session without a
    -- tenant context, and nothing else: it answers only for the exact hash it is given.
    CREATE FUNCTION brigade_authenticate(p_token_hash text)
    RETURNS TABLE (session_id uuid, tenant_id uuid, user_id uuid, user_name text, user_email text,
                   tenant_name text, tenant_slug text, tenant_currency text, tenant_timezone text,
                   roles jsonb, custom_roles jsonb)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
      SELECT s.id, s.tenant_id, s.user_id, u.name, u.email, t.name, t.slug, t.currency::text, t.timezone,
        coalesce((SELECT jsonb_agg(jsonb_build_object('role', ra.role_key, 'branchId', ra.branch_id))
                    FROM role_assignments ra WHERE ra.tenant_id = s.tenant_id AND ra.user_id = s.user_id), '[]'::jsonb),
        coalesce((SELECT jsonb_object_agg(cr.key, to_jsonb(cr.permissions))
                    FROM custom_roles cr
                   WHERE cr.tenant_id = s.tenant_id
                     AND cr.key IN (SELECT ra.role_key FROM role_assignments ra
                                     WHERE ra.tenant_id = s.tenant_id AND ra.user_id = s.user_id)), '{}'::jsonb)
      FROM sessions s
      JOIN users u ON u.tenant_id = s.tenant_id AND u.id = s.user_id
      JOIN tenants t ON t.id = s.tenant_id
      WHERE s.token_hash = p_token_hash AND s.revoked_at IS NULL AND s.expires_at > now() AND u.status = 'active'
    $$;
    REVOKE ALL ON FUNCTION brigade_authenticate(text) FROM PUBLIC;
    DO $$ BEGIN
      EXECUTE format('GRANT EXECUTE ON FUNCTION brigade_authenticate(text) TO %I', brigade_runtime_role());
    END $$;

    CREATE TABLE idempotency_keys (
      tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
      key text NOT NULL,
      user_id uuid NOT NULL,
      request_hash text NOT NULL,
      status_code int,
      response_body jsonb,
      created_at timestamptz NOT NULL DEFAULT now(),
      expires_at timestamptz NOT NULL,
      PRIMARY KEY (tenant_id, key)
    );
    CREATE INDEX idempotency_keys_expiry ON idempotency_keys (expires_at);
    SELECT brigade_protect('idempotency_keys');
  `.execute(db);
}

export async function down(): Promise<void> {
  throw new Error('The foundation migration cannot be reverted; restore from a backup instead.');
}
