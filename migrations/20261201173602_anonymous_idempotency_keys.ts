import { sql, type Kysely } from 'kysely';

/*
 * Frozen in time: never import application code here.
 *
 * Idempotency-Key for anonymous requests (signup). They have no tenant and no user, so their
 * keys live apart, scoped by the route: the stored response is replayed only for the same
 * route, key and body (a different body gets 409), so a key guessed by someone else yields
 * nothing they did not send. Not tenant data (no tenant exists yet): no row-level security,
 * written by the runtime role in the same transaction as the signup itself.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    CREATE TABLE anonymous_idempotency_keys (
      scope text NOT NULL,
      key text NOT NULL,
      request_hash text NOT NULL,
      status_code int NOT NULL,
      response_body jsonb NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      expires_at timestamptz NOT NULL,
      PRIMARY KEY (scope, key)
    );
    CREATE INDEX anonymous_idempotency_keys_expiry ON anonymous_idempotency_keys (expires_at);
    REVOKE ALL ON anonymous_idempotency_keys FROM PUBLIC;
  `.execute(db);
  await sql.raw(`DO $$ BEGIN EXECUTE format('GRANT SELECT, INSERT, DELETE ON anonymous_idempotency_keys TO %I', brigade_runtime_role()); END $$`).execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP TABLE anonymous_idempotency_keys`.execute(db);
}
