import { sql, type Kysely } from 'kysely';

/*
 * Frozen in time: never import application code here.
 *
 * What platform operators did through the ops API (replays, discards, reconciliations, alert
 * notes, support reads): the console's Activity page. A platform table like job_operations:
 * operators' actions, not tenant data, so no row-level security and no access for the runtime
 * role. `about_tenant_id` names the business an action concerned, when there is one; it is
 * not a tenant key (rows outlive the tenant for the record).
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    CREATE TABLE ops_activity (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      at timestamptz NOT NULL DEFAULT now(),
      operator_id uuid REFERENCES operators (id) ON DELETE SET NULL,
      operator_email text NOT NULL,
      action text NOT NULL,
      method text NOT NULL,
      route text NOT NULL,
      target jsonb NOT NULL DEFAULT '{}',
      about_tenant_id uuid,
      reason text,
      status int NOT NULL,
      result jsonb,
      request_id text
    );
    CREATE INDEX ops_activity_recent ON ops_activity (at DESC, id DESC);
    CREATE INDEX ops_activity_tenant ON ops_activity (about_tenant_id, at DESC) WHERE about_tenant_id IS NOT NULL;
    CREATE INDEX ops_activity_operator ON ops_activity (operator_id, at DESC);
    REVOKE ALL ON ops_activity FROM PUBLIC;
  `.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP TABLE ops_activity`.execute(db);
}
