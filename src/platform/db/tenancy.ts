import { AsyncLocalStorage } from 'node:async_hooks';
import pg from 'pg';
import { DefaultQueryExecutor, Kysely, PostgresDialect, type CompiledQuery, type ConnectionProvider, type DatabaseConnection, type QueryResult } from 'kysely';
import type { Database } from './schema.ts';
import type { Db } from './database.ts';
import type { Logger } from '../log.ts';
import { nameAlways, pipeline } from './pipeline.ts';
import { asDatabaseError } from './unavailable.ts';
import { addDbTime } from '../context/index.ts';

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
   * page): context and statement go in one round trip as one implicit, read-only transaction. A
   * second statement is refused, since it would run outside the context; a write is refused by
   * PostgreSQL (use withTenant).
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
  /**
   * Runs `fn` (the rest of an HTTP request) with room for one unit of work: see `beginUnit`.
   * Callback style, so that Fastify's whole request lifecycle runs inside it.
   */
  withUnitScope(fn: () => void): void;
  /**
   * Opens one transaction of the runtime role for the rest of the current unit scope (an HTTP
   * request): every withTenant/readAsTenant of `ctx.tenantId` made inside the scope joins it as
   * a savepoint instead of committing on its own, until `commit` or `rollback`. A null tenant
   * (an anonymous request such as signup) is joined by withTenant of any tenant. This is how an
   * Idempotency-Key's stored response and the request's effect commit together, or neither.
   */
  beginUnit(ctx: { tenantId: string | null; userId?: string | null }): Promise<Unit>;
}

/** One transaction spanning a request; see Tenancy.beginUnit. */
export interface Unit {
  /** Statements of the unit itself (not of a joined call). */
  trx: Tx;
  readonly open: boolean;
  commit(): Promise<void>;
  rollback(): Promise<void>;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const SET_CONTEXT = `SELECT set_config('app.tenant_id', $1, true), set_config('app.user_id', $2, true)`;
/** The context of a readAsTenant, whose implicit transaction is read-only: it cannot change who may do what. */
const SET_READ_CONTEXT = `SELECT set_config('app.tenant_id', $1, true), set_config('app.user_id', $2, true), set_config('transaction_read_only', 'on', true)`;
const AUTH_CHANGED = `SELECT current_setting('brigade.auth_changed', true) AS changed`;
nameAlways('BEGIN', 'COMMIT', AUTH_CHANGED);

type QueryFn = (text: string, values?: unknown[]) => Promise<pg.QueryResult>;

/**
 * The dialect's compiler and adapter are made once for the process; each call gets a Kysely
 * handle whose executor runs on the connection the call holds, as Kysely's own transactions do
 * (a whole Kysely built per call, dialect, driver and compiler, was about a tenth of the read
 * path's CPU).
 */
const dialect = new PostgresDialect({ pool: (async () => {
  throw new Error('tenant handles run on the connection their call holds');
}) as unknown as () => Promise<pg.Pool> });
const shared = { config: { dialect }, dialect, driver: dialect.createDriver(), executor: new DefaultQueryExecutor(dialect.createQueryCompiler(), dialect.createAdapter(), null as unknown as ConnectionProvider, []) };

/** What Kysely's PostgresConnection does with a result, on a query function of ours. */
class BoundConnection implements DatabaseConnection, ConnectionProvider {
  constructor(private readonly query: QueryFn) {}
  async executeQuery<R>(compiled: CompiledQuery): Promise<QueryResult<R>> {
    const { command, rowCount, rows } = await this.query(compiled.sql, compiled.parameters as unknown[]);
    if (command === 'ROLLBACK' || command === 'COMMIT') return { rows: [{ command }] as R[] };
    const changed = command === 'INSERT' || command === 'UPDATE' || command === 'DELETE' || command === 'MERGE';
    return { numAffectedRows: changed ? BigInt(rowCount ?? 0) : undefined, rows: (rows ?? []) as R[] };
  }
  streamQuery(): never {
    throw new Error('streaming is not supported on a tenant connection');
  }
  provideConnection<T>(consumer: (connection: DatabaseConnection) => Promise<T>): Promise<T> {
    return consumer(this);
  }
}

/** A Kysely handle on one already-checked-out client whose `query` we decide; releasing is ours. */
function bindKysely(query: QueryFn): Tx {
  return new Kysely<Database>({ ...shared, executor: shared.executor.withConnectionProvider(new BoundConnection(query)) });
}

function contextValues(ctx: TenantContext): unknown[] {
  if (!UUID.test(ctx.tenantId)) throw new Error('tenant context needs a tenant UUID');
  if (ctx.userId && !UUID.test(ctx.userId)) throw new Error('tenant context needs a user UUID');
  return [ctx.tenantId, ctx.userId ?? ''];
}

export function createTenancy(db: Db, log: Logger): Tenancy {
  // Named statements (BRIGADE_DB_NAMED_STATEMENTS): off behind a pooler in transaction mode.
  const named = db.namedStatements;
  /** A statement after the first of a transaction: named when it has parameters (one command). */
  const next = async (client: pg.ClientBase, text: string, params?: unknown[]): Promise<pg.QueryResult> =>
    named && params && params.length > 0 ? (await pipeline(client, [{ text, values: params }], true))[0]! : client.query(text, params);
  const authListeners = new Set<(tenantIds: string[]) => void>();
  const announce = (result: pg.QueryResult | undefined) => {
    const changed = (result?.rows[0] as { changed?: string | null } | undefined)?.changed;
    if (!changed) return;
    const tenantIds = changed.split(',').filter(Boolean);
    for (const l of authListeners) l(tenantIds);
  };
  /** COMMIT, asking in the same round trip whether the transaction changed who may do what. */
  const commit = async (client: pg.PoolClient) => {
    const [changed] = await pipeline(client, [{ text: AUTH_CHANGED }, { text: 'COMMIT' }], named);
    announce(changed);
  };
  async function withClient<T>(pool: pg.Pool, body: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    // Database time of the request or job, waiting for a connection included: a per-tenant signal.
    const started = performance.now();
    let client: pg.PoolClient;
    try {
      client = await pool.connect();
    } catch (err) {
      addDbTime(performance.now() - started);
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
      addDbTime(performance.now() - started);
    }
  }

  // The unit of the current request, if it opened one (a mutable holder per request scope).
  const units = new AsyncLocalStorage<{ unit: UnitState | null }>();
  // Marks code running inside a joined call, so a nested call does not wait for its parent.
  const inside = new AsyncLocalStorage<UnitState>();
  interface UnitState {
    tenantId: string | null;
    client: pg.PoolClient;
    open: boolean;
    lock: Promise<void>;
    savepoints: number;
    lost: Error | undefined;
    finish(how: 'COMMIT' | 'ROLLBACK'): Promise<void>;
  }

  const joinable = (ctx: TenantContext): UnitState | null => {
    const unit = units.getStore()?.unit;
    if (!unit?.open) return null;
    return unit.tenantId === null || unit.tenantId === ctx.tenantId ? unit : null;
  };

  /** A withTenant inside the unit: a savepoint with the caller's context, one at a time. */
  async function joined<T>(unit: UnitState, ctx: TenantContext, fn: (trx: Tx) => Promise<T>): Promise<T> {
    const values = contextValues(ctx);
    const run = async () => {
      const sp = `brigade_sp_${++unit.savepoints}`;
      try {
        await pipeline(unit.client, [{ text: `SAVEPOINT ${sp}` }, { text: SET_CONTEXT, values }], named);
        const result = await inside.run(unit, () => fn(bindKysely((text, params) => next(unit.client, text, params))));
        await unit.client.query(`RELEASE SAVEPOINT ${sp}`);
        return result;
      } catch (err) {
        await unit.client.query(`ROLLBACK TO SAVEPOINT ${sp}`).catch(() => undefined);
        throw asDatabaseError(err, { lost: unit.lost !== undefined });
      }
    };
    if (inside.getStore() === unit) return run();
    const before = unit.lock;
    let release!: () => void;
    unit.lock = new Promise((r) => (release = r));
    await before;
    try {
      return await run();
    } finally {
      release();
    }
  }

  return {
    withUnitScope(fn) {
      units.run({ unit: null }, fn);
    },

    async beginUnit(ctx) {
      const holder = units.getStore();
      if (!holder) throw new Error('beginUnit needs a unit scope (withUnitScope)');
      if (holder.unit?.open) throw new Error('this request already has a unit of work');
      let client: pg.PoolClient;
      try {
        client = await db.runtimePool.connect();
      } catch (err) {
        throw asDatabaseError(err, { connecting: true });
      }
      const state: UnitState = {
        tenantId: ctx.tenantId,
        client,
        open: true,
        lock: Promise.resolve(),
        savepoints: 0,
        lost: undefined,
        async finish(how) {
          if (!state.open) return;
          state.open = false;
          try {
            await state.lock;
            if (how === 'COMMIT') await commit(client);
            else await client.query('ROLLBACK');
          } catch (err) {
            if (how === 'COMMIT') client.query('ROLLBACK').catch(() => undefined);
            throw asDatabaseError(err, { lost: state.lost !== undefined || (err as { code?: string }).code === undefined });
          } finally {
            client.off('error', onError);
            client.release(state.lost);
          }
        },
      };
      const onError = (err: Error) => {
        state.lost = err;
        log.warn({ err: err.message }, 'database connection lost while in use');
      };
      client.on('error', onError);
      try {
        const values = ctx.tenantId ? contextValues({ tenantId: ctx.tenantId, userId: ctx.userId }) : ['', ''];
        await pipeline(client, [{ text: 'BEGIN' }, { text: SET_CONTEXT, values }], named);
      } catch (err) {
        state.open = false;
        client.off('error', onError);
        client.release(err as Error);
        throw asDatabaseError(err, { connecting: true });
      }
      holder.unit = state;
      return {
        trx: bindKysely((text, params) => next(client, text, params)),
        get open() {
          return state.open;
        },
        commit: () => state.finish('COMMIT'),
        rollback: () => state.finish('ROLLBACK'),
      };
    },

    async withTenant(ctx, fn) {
      const unit = joinable(ctx);
      if (unit) return joined(unit, ctx, fn);
      const values = contextValues(ctx);
      return withClient(db.runtimePool, async (client) => {
        // BEGIN and the context ride along with the first statement: one round trip saved.
        let begun = false;
        const query: QueryFn = async (text, params) => {
          if (begun) return next(client, text, params);
          begun = true;
          const results = await pipeline(client, [{ text: 'BEGIN' }, { text: SET_CONTEXT, values }, { text, values: params }], named);
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
      // Inside a request's unit the read must see the unit's own uncommitted writes.
      const unit = joinable(ctx);
      if (unit) return joined(unit, ctx, fn);
      const values = contextValues(ctx);
      return withClient(db.runtimePool, async (client) => {
        let used = false;
        const query: QueryFn = async (text, params) => {
          if (used) throw new Error('readAsTenant allows one statement; use withTenant for more');
          used = true;
          // Read-only, so no trigger can have noted an auth change: no probe needed (a write fails, 25006).
          const results = await pipeline(client, [{ text: SET_READ_CONTEXT, values }, { text, values: params }], named);
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
          if (begun) return next(client, text, params);
          begun = true;
          if (!params || params.length === 0) {
            await client.query('BEGIN');
            return client.query(text, params);
          }
          const results = await pipeline(client, [{ text: 'BEGIN' }, { text, values: params }], named);
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
