import { sql, type Kysely } from 'kysely';

/*
 * Frozen in time: never import application code here.
 *
 * Ready for distribution by tenant_id (docs/decisions/0641-scale-out.md): a unique key that does
 * not start with tenant_id cannot be enforced on one shard. The token hashes of sessions,
 * invitations and password tokens, and the provider's customer id of a subscription, were unique
 * across tenants; they are now unique within the tenant, and a plain index keeps the lookups
 * that start from the hash or the provider id alone (login, the webhook inbox) as fast as before.
 * A token is 32 random bytes: two tenants cannot draw the same hash, so nothing that was refused
 * before is accepted now.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    ALTER TABLE sessions DROP CONSTRAINT sessions_token_hash_key, ADD CONSTRAINT sessions_token_hash_key UNIQUE (tenant_id, token_hash);
    CREATE INDEX sessions_token_hash ON sessions (token_hash);
    ALTER TABLE invitations DROP CONSTRAINT invitations_token_hash_key, ADD CONSTRAINT invitations_token_hash_key UNIQUE (tenant_id, token_hash);
    CREATE INDEX invitations_token_hash ON invitations (token_hash);
    ALTER TABLE password_tokens DROP CONSTRAINT password_tokens_token_hash_key, ADD CONSTRAINT password_tokens_token_hash_key UNIQUE (tenant_id, token_hash);
    CREATE INDEX password_tokens_token_hash ON password_tokens (token_hash);
    DROP INDEX subscriptions_provider_customer;
    CREATE UNIQUE INDEX subscriptions_provider_customer ON subscriptions (tenant_id, provider_customer_id) WHERE provider_customer_id IS NOT NULL;
    CREATE INDEX subscriptions_by_provider_customer ON subscriptions (provider_customer_id) WHERE provider_customer_id IS NOT NULL;
  `.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`
    DROP INDEX subscriptions_by_provider_customer;
    DROP INDEX subscriptions_provider_customer;
    CREATE UNIQUE INDEX subscriptions_provider_customer ON subscriptions (provider_customer_id) WHERE provider_customer_id IS NOT NULL;
    DROP INDEX password_tokens_token_hash;
    ALTER TABLE password_tokens DROP CONSTRAINT password_tokens_token_hash_key, ADD CONSTRAINT password_tokens_token_hash_key UNIQUE (token_hash);
    DROP INDEX invitations_token_hash;
    ALTER TABLE invitations DROP CONSTRAINT invitations_token_hash_key, ADD CONSTRAINT invitations_token_hash_key UNIQUE (token_hash);
    DROP INDEX sessions_token_hash;
    ALTER TABLE sessions DROP CONSTRAINT sessions_token_hash_key, ADD CONSTRAINT sessions_token_hash_key UNIQUE (token_hash);
  `.execute(db);
}
