import pg from 'pg';
import { Kysely, PostgresDialect } from 'kysely';
import type { Database } from './schema.ts';
import type { Db } from './database.ts';
import type { Logger } from '../log.ts';
import { pipeline } from './pipeline.ts';
import { asDatabaseError } from './unavailable.ts';

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
   * The same guarantee for a use case that makes exactly one statement (a read by id, a list
   * page): context and statement go in one round trip as one implicit transaction. A second
   * statement is refused, since it would run outside the context.
   */
  readAsTenant<T>(ctx: TenantContext, fn: (db: Tx) => Promise<T>): Promise<T>;
  /**
   * The named, logged door for the few platform paths that must cross tenants (login, the
   * webhook inbox, fan-out schedulers, ops). Runs as the owner role, in a transaction.
   */
  withSystem<T>(reason: string, fn: (trx: Tx) => Promise<T>): Promise<T>;
  /**
   * Called, before the committing call returns, with the tenants whose sessions, users or roles
   * a transaction changed (database triggers note them; see migration 0003).
   */
  onAuthChange(listener: (tenantIds: string[]) => void): () => void;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const SET_CONTEXT = `SELECT set_config('app.tenant_id', $1, true), set_config('app.user_id', $2, true)`;
const AUTH_CHANGED = `SELECT current_setting('brigade.auth_changed', true) AS changed`;

type QueryFn = (text: string, values?: unknown[]) => Promise<pg.QueryResult>;

/** Hands Kysely one already-checked-out client whose `query` we decide; releasing is ours. */
function bindKysely(query: QueryFn): Tx {
  const client = { query, release: () => undefined };
  const pool = { connect: async () => client, end: async () => undefined };
  return new Kysely<Database>({ dialect: new PostgresDialect({ pool: pool as unknown as pg.Pool }) });
}

function contextValues(ctx: TenantContext): unknown[] {
  if (!UUID.test(ctx.tenantId)) throw new Error('tenant context needs a tenant UUID');
  if (ctx.userId && !UUID.test(ctx.userId)) throw new Error('tenant context needs a user UUID');
  return [ctx.tenantId, ctx.userId ?? ''];
}

export function createTenancy(db: Db, log: Logger): Tenancy {
  const authListeners = new Set<(tenantIds: string[]) => void>();
  const announce = (result: pg.QueryResult | undefined) => {
    const changed = (result?.rows[0] as { changed?: string | null } | undefined)?.changed;
    if (!changed) return;
    const tenantIds = changed.split(',').filter(Boolean);
    for (const l of authListeners) l(tenantIds);
  };
  /** COMMIT, asking in the same round trip whether the transaction changed who may do what. */
  const commit = async (client: pg.PoolClient) => {
    const [changed] = await pipeline(client, [{ text: AUTH_CHANGED }, { text: 'COMMIT' }]);
    announce(changed);
  };
  async function withClient<T>(pool: pg.Pool, body: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    let client: pg.PoolClient;
    try {
      client = await pool.connect();
    } catch (err) {
      // Refused, timed out, too many connections, shutting down: the server cannot be reached.
      throw asDatabaseError(err, { connecting: true });
    }
    let broken: Error | undefined;
    // A checked-out connection can die between statements (the server shuts down while the
    // caller awaits something else, such as a payment provider): without a listener that
    // 'error' event would crash the process. The next statement fails; the connection is dropped.
    const onError = (err: Error) => {
      broken = err;
      log.warn({ err: err.message }, 'database connection lost while in use');
    };
    client.on('error', onError);
    try {
      return await body(client);
    } catch (err) {
      // A protocol-level failure (no SQLSTATE) may leave the connection unusable: drop it.
      const lost = broken !== undefined;
      if ((err as { code?: string }).code === undefined) broken = err as Error;
      throw asDatabaseError(err, { lost });
    } finally {
      client.off('error', onError);
      client.release(broken);
    }
  }

  return {
    async withTenant(ctx, fn) {
      const values = contextValues(ctx);
      return withClient(db.runtimePool, async (client) => {
        // BEGIN and the context ride along with the first statement: one round trip saved.
        let begun = false;
        const query: QueryFn = async (text, params) => {
          if (begun) return client.query(text, params);
          begun = true;
          const results = await pipeline(client, [{ text: 'BEGIN' }, { text: SET_CONTEXT, values }, { text, values: params }]);
          return results[2]!;
        };
        try {
          const result = await fn(bindKysely(query));
          if (begun) await commit(client);
          return result;
        } catch (err) {
          if (begun) await client.query('ROLLBACK');
          throw err;
        }
      });
    },

    async readAsTenant(ctx, fn) {
      const values = contextValues(ctx);
      return withClient(db.runtimePool, async (client) => {
        let used = false;
        const query: QueryFn = async (text, params) => {
          if (used) throw new Error('readAsTenant allows one statement; use withTenant for more');
          used = true;
          const results = await pipeline(client, [{ text: SET_CONTEXT, values }, { text, values: params }, { text: AUTH_CHANGED }]);
          announce(results[2]);
          return results[1]!;
        };
        return fn(bindKysely(query));
      });
    },

    onAuthChange(listener) {
      authListeners.add(listener);
      return () => authListeners.delete(listener);
    },

    async withSystem(reason, fn) {
      log.debug({ system: reason }, 'system access');
      return withClient(db.ownerPool, async (client) => {
        // As in withTenant, BEGIN rides along with the first statement (the webhook inbox is hot),
        // unless that statement has no parameters: it may be several commands, which only the
        // simple protocol accepts.
        let begun = false;
        const query: QueryFn = async (text, params) => {
          if (begun) return client.query(text, params);
          begun = true;
          if (!params || params.length === 0) {
            await client.query('BEGIN');
            return client.query(text, params);
          }
          const results = await pipeline(client, [{ text: 'BEGIN' }, { text, values: params }]);
          return results[1]!;
        };
        try {
          const result = await fn(bindKysely(query));
          if (begun) await commit(client);
          return result;
        } catch (err) {
          if (begun) await client.query('ROLLBACK');
          throw err;
        }
      });
    },
  };
}
