import pg from 'pg';
import { Kysely, PostgresDialect } from 'kysely';
import type { Database } from './schema.ts';
import type { Db } from './database.ts';
import type { Logger } from '../log.ts';

/** A Kysely handle bound to one open transaction. */
export type Tx = Kysely<Database>;

/** What the database needs to know about who is acting: the tenant, and the user if any. */
export interface TenantContext {
  tenantId: string;
  userId?: string | null;
}

export interface Tenancy {
  /**
   * Runs `fn` in one transaction of the runtime role with `app.tenant_id` (and `app.user_id`)
   * set local to that transaction: row-level security then shows this tenant's rows only.
   */
  withTenant<T>(ctx: TenantContext, fn: (trx: Tx) => Promise<T>): Promise<T>;
  /**
   * The named, logged door for the few platform paths that must cross tenants (login, the
   * webhook inbox, fan-out schedulers, ops). Runs as the owner role, in a transaction.
   */
  withSystem<T>(reason: string, fn: (trx: Tx) => Promise<T>): Promise<T>;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Hands Kysely one already-checked-out client; releasing it is the caller's job. */
class OneClientPool {
  constructor(private readonly client: pg.PoolClient) {}
  async connect(): Promise<pg.PoolClient> {
    const client = this.client;
    return { query: client.query.bind(client), release: () => undefined } as unknown as pg.PoolClient;
  }
  async end(): Promise<void> {}
}

function bindKysely(client: pg.PoolClient): Tx {
  return new Kysely<Database>({ dialect: new PostgresDialect({ pool: new OneClientPool(client) as unknown as pg.Pool }) });
}

async function inTransaction<T>(pool: pg.Pool, begin: string, fn: (trx: Tx) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let broken = false;
  try {
    await client.query(begin);
    try {
      const result = await fn(bindKysely(client));
      await client.query('COMMIT');
      return result;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {
        broken = true;
      });
      throw err;
    }
  } catch (err) {
    if ((err as { code?: string }).code === undefined) broken = true;
    throw err;
  } finally {
    client.release(broken);
  }
}

export function createTenancy(db: Db, log: Logger): Tenancy {
  return {
    async withTenant(ctx, fn) {
      // Both ids are server-held (from the session or a job payload we wrote) and checked to be
      // UUIDs, so they can go into the same round trip as BEGIN: one trip instead of two.
      if (!UUID.test(ctx.tenantId)) throw new Error('withTenant needs a tenant UUID');
      if (ctx.userId && !UUID.test(ctx.userId)) throw new Error('withTenant needs a user UUID');
      const begin =
        `BEGIN; SELECT set_config('app.tenant_id', '${ctx.tenantId}', true)` +
        (ctx.userId ? `, set_config('app.user_id', '${ctx.userId}', true)` : '');
      return inTransaction(db.runtimePool, begin, fn);
    },
    async withSystem(reason, fn) {
      log.debug({ system: reason }, 'system access');
      return inTransaction(db.ownerPool, 'BEGIN', fn);
    },
  };
}
