import { sql, type Kysely } from 'kysely';

/*
 * Frozen in time: never import application code here.
 *
 * Processes keep recently authenticated sessions in memory. Any change that can alter what a
 * token may do (a session revoked, a user removed, a role given or taken, a custom role
 * redefined, the tenant changed) must reach every process: these triggers NOTIFY channel
 * `brigade_auth` with the tenant id, and also note the tenant in the transaction-local setting
 * `brigade.auth_changed`, which the committing process reads with its COMMIT so it forgets
 * the tenant's sessions before it answers.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    CREATE FUNCTION brigade_auth_changed() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
      changed jsonb;
      tenant text;
      seen text := coalesce(current_setting('brigade.auth_changed', true), '');
    BEGIN
      IF TG_OP = 'DELETE' THEN changed := to_jsonb(OLD); ELSE changed := to_jsonb(NEW); END IF;
      -- The trigger's argument names the column holding the tenant id.
      tenant := changed ->> TG_ARGV[0];
      IF position(tenant IN seen) = 0 THEN
        PERFORM set_config('brigade.auth_changed', seen || tenant || ',', true);
        PERFORM pg_notify('brigade_auth', tenant);
      END IF;
      RETURN NULL;
    END $$;

    CREATE TRIGGER auth_changed AFTER UPDATE OR DELETE ON sessions FOR EACH ROW EXECUTE FUNCTION brigade_auth_changed('tenant_id');
    CREATE TRIGGER auth_changed AFTER UPDATE OR DELETE ON users FOR EACH ROW EXECUTE FUNCTION brigade_auth_changed('tenant_id');
    CREATE TRIGGER auth_changed AFTER INSERT OR UPDATE OR DELETE ON role_assignments FOR EACH ROW EXECUTE FUNCTION brigade_auth_changed('tenant_id');
    CREATE TRIGGER auth_changed AFTER INSERT OR UPDATE OR DELETE ON custom_roles FOR EACH ROW EXECUTE FUNCTION brigade_auth_changed('tenant_id');
    CREATE TRIGGER auth_changed AFTER UPDATE OR DELETE ON tenants FOR EACH ROW EXECUTE FUNCTION brigade_auth_changed('id');
  `.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`
    DROP TRIGGER auth_changed ON sessions;
    DROP TRIGGER auth_changed ON users;
    DROP TRIGGER auth_changed ON role_assignments;
    DROP TRIGGER auth_changed ON custom_roles;
    DROP TRIGGER auth_changed ON tenants;
    DROP FUNCTION brigade_auth_changed();
  `.execute(db);
}
