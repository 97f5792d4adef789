import { sql, type Kysely } from 'kysely';

/*
 * Frozen in time: never import application code here.
 *
 * brigade_authenticate runs on every authenticated request. As a LANGUAGE sql function that
 * cannot be inlined (SECURITY DEFINER), PostgreSQL before 18 plans its query on every call,
 * which cost about 0.6 ms each time. PL/pgSQL keeps the plan for the session, so the same
 * answer comes at the price of an index lookup. It also returns the session's expiry, so a
 * process that keeps the answer in memory never serves it past that time.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    DROP FUNCTION brigade_authenticate(text);
    CREATE FUNCTION brigade_authenticate(p_token_hash text)
    RETURNS TABLE (session_id uuid, tenant_id uuid, user_id uuid, user_name text, user_email text,
                   tenant_name text, tenant_slug text, tenant_currency text, tenant_timezone text,
                   roles jsonb, custom_roles jsonb, expires_at timestamptz)
    LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public AS $$
    BEGIN
      RETURN QUERY
      SELECT s.id, s.tenant_id, s.user_id, u.name, u.email, t.name, t.slug, t.currency::text, t.timezone,
        coalesce((SELECT jsonb_agg(jsonb_build_object('role', ra.role_key, 'branchId', ra.branch_id))
                    FROM role_assignments ra WHERE ra.tenant_id = s.tenant_id AND ra.user_id = s.user_id), '[]'::jsonb),
        coalesce((SELECT jsonb_object_agg(cr.key, to_jsonb(cr.permissions))
                    FROM custom_roles cr
                   WHERE cr.tenant_id = s.tenant_id
                     AND cr.key IN (SELECT ra.role_key FROM role_assignments ra
                                     WHERE ra.tenant_id = s.tenant_id AND ra.user_id = s.user_id)), '{}'::jsonb),
        s.expires_at
      FROM sessions s
      JOIN users u ON u.tenant_id = s.tenant_id AND u.id = s.user_id
      JOIN tenants t ON t.id = s.tenant_id
      WHERE s.token_hash = p_token_hash AND s.revoked_at IS NULL AND s.expires_at > now() AND u.status = 'active';
    END $$;
    REVOKE ALL ON FUNCTION brigade_authenticate(text) FROM PUBLIC;
    DO $$ BEGIN
      EXECUTE format('GRANT EXECUTE ON FUNCTION brigade_authenticate(text) TO %I', brigade_runtime_role());
    END $$;
  `.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`
    DROP FUNCTION brigade_authenticate(text);
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
  `.execute(db);
}
