import { sql, type Kysely } from 'kysely';

/*
 * Frozen in time: never import application code here.
 *
 * API keys for integrations (a till, an accounting export, a script). A key belongs to the
 * business and acts under the authority of the member who made it, never beyond: it holds a
 * role or a set of permissions, optionally in one branch, and at each authentication its grants
 * are cut down to what its creator still holds. Only the SHA-256 of the secret is stored; the
 * hash is unique within the tenant (like sessions.token_hash since 20261201211500, ready for
 * distribution by tenant_id) and found by a plain index, since a bearer names no tenant.
 *
 * last_used_at is written in batches by the API processes, so it is left out of the auth-change
 * trigger: only changes that alter what the key may do make processes forget cached keys.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    CREATE TABLE api_keys (
      tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
      id uuid NOT NULL DEFAULT gen_random_uuid(),
      name text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
      token_hash text NOT NULL,
      token_hint text NOT NULL,
      role_key text,
      permissions text[],
      branch_id uuid,
      created_by uuid NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      expires_at timestamptz,
      revoked_at timestamptz,
      revoked_by uuid,
      last_used_at timestamptz,
      PRIMARY KEY (tenant_id, id),
      CHECK ((role_key IS NULL) <> (permissions IS NULL)),
      FOREIGN KEY (tenant_id, created_by) REFERENCES users (tenant_id, id),
      FOREIGN KEY (tenant_id, revoked_by) REFERENCES users (tenant_id, id),
      FOREIGN KEY (tenant_id, branch_id) REFERENCES branches (tenant_id, id)
    );
    -- Unique within the tenant (distributable by tenant_id); the plain index serves the lookup by hash.
    CREATE UNIQUE INDEX api_keys_token_hash ON api_keys (tenant_id, token_hash);
    CREATE INDEX api_keys_token_hash_lookup ON api_keys (token_hash);
    CREATE INDEX api_keys_by_creation ON api_keys (tenant_id, created_at DESC, id DESC);
    SELECT brigade_protect('api_keys');

    CREATE TRIGGER auth_changed AFTER INSERT OR DELETE OR UPDATE OF revoked_at, expires_at, role_key, permissions, branch_id, created_by
      ON api_keys FOR EACH ROW EXECUTE FUNCTION brigade_auth_changed('tenant_id');

    ALTER TABLE audit_events DROP CONSTRAINT audit_events_actor_type_check;
    ALTER TABLE audit_events ADD CONSTRAINT audit_events_actor_type_check CHECK (actor_type IN ('user', 'operator', 'system', 'api_key'));

    -- Key hash -> key, its creator, the tenant, the creator's role assignments and the custom
    -- roles either names. Like brigade_authenticate: answers only for the exact hash given.
    CREATE FUNCTION brigade_authenticate_key(p_token_hash text)
    RETURNS TABLE (key_id uuid, key_name text, tenant_id uuid, user_id uuid, user_name text, user_email text,
                   tenant_name text, tenant_slug text, tenant_currency text, tenant_timezone text,
                   key_role text, key_permissions text[], key_branch_id uuid,
                   roles jsonb, custom_roles jsonb, expires_at timestamptz)
    LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public AS $$
    BEGIN
      RETURN QUERY
      SELECT k.id, k.name, k.tenant_id, k.created_by, u.name, u.email, t.name, t.slug, t.currency::text, t.timezone,
        k.role_key, k.permissions, k.branch_id,
        coalesce((SELECT jsonb_agg(jsonb_build_object('role', ra.role_key, 'branchId', ra.branch_id))
                    FROM role_assignments ra WHERE ra.tenant_id = k.tenant_id AND ra.user_id = k.created_by), '[]'::jsonb),
        coalesce((SELECT jsonb_object_agg(cr.key, to_jsonb(cr.permissions))
                    FROM custom_roles cr
                   WHERE cr.tenant_id = k.tenant_id
                     AND (cr.key = k.role_key
                          OR cr.key IN (SELECT ra.role_key FROM role_assignments ra
                                         WHERE ra.tenant_id = k.tenant_id AND ra.user_id = k.created_by))), '{}'::jsonb),
        k.expires_at
      FROM api_keys k
      JOIN users u ON u.tenant_id = k.tenant_id AND u.id = k.created_by
      JOIN tenants t ON t.id = k.tenant_id
      WHERE k.token_hash = p_token_hash AND k.revoked_at IS NULL
        AND (k.expires_at IS NULL OR k.expires_at > now()) AND u.status = 'active';
    END $$;
    REVOKE ALL ON FUNCTION brigade_authenticate_key(text) FROM PUBLIC;
    DO $$ BEGIN
      EXECUTE format('GRANT EXECUTE ON FUNCTION brigade_authenticate_key(text) TO %I', brigade_runtime_role());
    END $$;
  `.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`
    DROP FUNCTION brigade_authenticate_key(text);
    ALTER TABLE audit_events DROP CONSTRAINT audit_events_actor_type_check;
    ALTER TABLE audit_events ADD CONSTRAINT audit_events_actor_type_check CHECK (actor_type IN ('user', 'operator', 'system')) NOT VALID;
    DROP TABLE api_keys;
  `.execute(db);
}
