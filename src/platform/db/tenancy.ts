import { AsyncLocalStorage } from 'node:async_hooks';
import pg from 'pg';
import { DefaultQueryExecutor, Kysely, PostgresDialect, type CompiledQuery, type ConnectionProvider, type DatabaseConnection, type QueryResult } from 'kysely';
import type { Database } from './schema.ts';
import type { Db } from './database.ts';
import type { Logger } from '../log.ts';
import { nameAlways, pipeline, type Statement } from './pipeline.ts';
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
   * webhook inbox, fan-out schedulers, ops). Runs as the owner role, in a transaction;
   * `snapshot: true` makes it REPEATABLE READ, so every statement sees the database as of the
   * first one (an export reads many tables and must read one moment of them all).
   */
  withSystem<T>(reason: string, fn: (trx: Tx) => Promise<T>, opts?: { snapshot?: boolean }): Promise<T>;
  /**
   * Called, before the committing call returns, with the tenants whose sessions, users or roles
   * a transaction changed (database triggers note them; see migration 0003).
   */
  onAuthChange(listener: (tenantIds: string[]) => void): () => void;
  /**
   * withSystem for a use case that makes exactly one statement (the webhook inbox's store and
   * sweep): the statement is its own transaction, sent and committed in one round trip. A second
   * statement is refused. It must not change sessions, users or roles (nobody would hear of it).
   */
  statementAsSystem<T>(reason: string, fn: (db: Tx) => Promise<T>): Promise<T>;
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
function bindKysely(query: QueryFn, channel?: Channel): Tx {
  const trx = new Kysely<Database>({ ...shared, executor: shared.executor.withConnectionProvider(new BoundConnection(query)) });
  handles.set(trx, { query, channel });
  return trx;
}

/** A statement waiting in a channel: with a caller awaiting its result, or deferred (nobody does). */
interface Entry {
  s: Statement;
  /** A known single command without parameters (BEGIN, SAVEPOINT n): may ride in a pipeline. */
  single?: boolean;
  resolve?: (r: pg.QueryResult) => void;
  reject?: (err: unknown) => void;
  sent?: boolean;
}

/**
 * The statements of one transaction on its connection. Statements issued while the caller has
 * not yet awaited (the branches of a `Promise.all`), and statements deferred until then (BEGIN
 * and the context, a savepoint and its release, `deferStatement`), leave together in one
 * pipeline: one round trip. The server runs them in order and skips the rest after an error,
 * which then fails every one of them, as it would have failed the later ones on their own.
 */
class Channel {
  queue: Entry[] = [];
  /** Whether anything went out (a BEGIN among it: the transaction must be ended). */
  sent = false;
  private scheduled = false;
  private inflight: Promise<void> = Promise.resolve();

  constructor(readonly client: pg.ClientBase, private readonly named: boolean, private readonly onError: (err: unknown) => unknown = (e) => e) {}

  defer(s: Statement, single = false): Entry {
    const entry: Entry = { s, single };
    this.queue.push(entry);
    return entry;
  }

  /** Set when the transaction ends: a statement issued later (a straggler) is refused, never sent on a released connection. */
  closed = false;

  /** The transaction commits when the callback that holds this channel returns (withTenant, withSystem; not a unit). */
  endsWithCallback = false;
  /** The handle of `atCommit`, made once per transaction. */
  commitHandle: Tx | undefined;

  /** Queues a statement with a caller awaiting it; false (and rejected) once the transaction has ended. */
  private enqueue(text: string, values: unknown[] | undefined, resolve: Entry['resolve'], reject: NonNullable<Entry['reject']>): boolean {
    if (this.closed) {
      reject(new Error('the transaction of this handle has ended'));
      return false;
    }
    this.queue.push({ s: { text, values }, resolve, reject });
    return true;
  }

  /** Queues a statement to go out with the COMMIT (or the next round trip, if one comes first); resolves once it ran. */
  readonly atCommitQuery: QueryFn = (text, values) => new Promise((resolve, reject) => void this.enqueue(text, values, resolve, reject));

  readonly query: QueryFn = (text, values) =>
    new Promise((resolve, reject) => {
      if (!this.enqueue(text, values, resolve, reject)) return;
      if (!this.scheduled) {
        this.scheduled = true;
        // After the current microtasks: every statement a Promise.all issues is queued by then.
        process.nextTick(() => {
          this.scheduled = false;
          void this.flush();
        });
      }
    });

  /** Sends what is queued (and `tail`, whose results are returned) after what is in flight. */
  flush(tail: Statement[] = []): Promise<pg.QueryResult[]> {
    const entries = this.queue;
    this.queue = [];
    const run = this.inflight.then(() => this.send(entries, tail));
    this.inflight = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  /** Waits for whatever is in flight, sending nothing more. */
  async settle(): Promise<void> {
    await this.inflight;
  }

  /** Drops what was queued and not sent (a rolled-back savepoint's deferred statements). */
  discard(from: Entry | undefined): boolean {
    const at = from ? this.queue.indexOf(from) : 0;
    if (at < 0) return false;
    for (const e of this.queue.splice(at)) e.reject?.(new Error('rolled back before it was sent'));
    return true;
  }

  private async send(entries: Entry[], tail: Statement[]): Promise<pg.QueryResult[]> {
    if (entries.length === 0 && tail.length === 0) return [];
    // Parameterless statements of unknown shape may hold several commands, which only the simple
    // protocol accepts: each goes alone; the rest go in pipelines between them.
    const groups: Entry[][] = [];
    let group: Entry[] = [];
    for (const e of entries) {
      if (!e.single && !e.s.values?.length) {
        if (group.length) groups.push(group);
        groups.push([e]);
        group = [];
      } else group.push(e);
    }
    const tailEntries: Entry[] = tail.map((s) => ({ s, single: true }));
    group.push(...tailEntries);
    if (group.length) groups.push(group);
    let failed: unknown;
    for (const g of groups) {
      if (failed !== undefined) {
        for (const e of g) e.reject?.(failed);
        continue;
      }
      for (const e of g) e.sent = true;
      this.sent = true;
      try {
        const only = g.length === 1 && !g[0]!.single && !g[0]!.s.values?.length;
        const results = only ? [await this.client.query(g[0]!.s.text)] : await pipeline(this.client, g.map((e) => e.s), this.named);
        g.forEach((e, i) => e.resolve?.(results[i]!));
        if (g === groups[groups.length - 1] && tailEntries.length) return results.slice(results.length - tailEntries.length);
      } catch (err) {
        failed = this.onError(err);
        for (const e of g) e.reject?.(failed);
      }
    }
    if (failed !== undefined) throw failed;
    return [];
  }
}

/**
 * Awaits every one of the promises, then throws the first failure: statements a use case issues
 * together (one round trip) must all have finished before its transaction ends.
 */
export async function inParallel<T extends readonly unknown[]>(promises: { [K in keyof T]: Promise<T[K]> }): Promise<T> {
  const settled = await Promise.allSettled(promises as readonly Promise<unknown>[]);
  for (const r of settled) if (r.status === 'rejected') throw r.reason;
  return settled.map((r) => (r as PromiseFulfilledResult<unknown>).value) as unknown as T;
}

/**
 * What each Kysely handle of this module runs on: the query function of its call, and the
 * channel of its transaction (withTenant, withSystem, a unit and its joins; none for a
 * one-statement call).
 */
const handles = new WeakMap<Tx, { query: QueryFn; channel: Channel | undefined }>();

/**
 * The rows of an already compiled statement, run on the handle's connection as any of its
 * statements is, without Kysely's executor (its plugins, result transforms and the promises of
 * each step): for `compiled()` queries on the hot paths. A handle from elsewhere (a plain
 * Kysely) goes through its executor.
 */
export function runCompiledRows<R>(trx: Tx, compiled: CompiledQuery<R>): Promise<R[]> {
  const query = handles.get(trx)?.query;
  if (!query) return trx.executeQuery(compiled).then((r) => r.rows);
  return query(compiled.sql, compiled.parameters as unknown[]).then((r) => (r.rows ?? []) as R[]);
}

/** Anything Kysely can compile: a query builder or a `sql` template. */
type Compilable = { compile(executor?: never): CompiledQuery } | { compile(executorProvider: Tx): CompiledQuery };

/**
 * Queues a statement whose result nobody needs to go out with the transaction's next round trip
 * (at the latest its COMMIT) instead of one of its own. A failure fails that round trip, and with
 * it the transaction. Outside a transaction of `withTenant`/`withSystem`/a unit it runs at once.
 */
/**
 * Sends the statements in one round trip, in this order, as separate statements of the
 * transaction (each READ COMMITTED statement sees what the ones before it did and committed),
 * and resolves with their rows. Outside a transaction of `withTenant`/`withSystem`/a unit they
 * run one after another.
 */
export async function sendTogether(trx: Tx, queries: Compilable[]): Promise<unknown[][]> {
  const compiled = queries.map((q) => (q as { compile(t: Tx): CompiledQuery }).compile(trx));
  const channel = handles.get(trx)?.channel;
  if (!channel) {
    const out: unknown[][] = [];
    for (const c of compiled) out.push((await trx.executeQuery(c)).rows as unknown[]);
    return out;
  }
  const results = await Promise.all(compiled.map((c) => channel.query(c.sql, c.parameters as unknown[])));
  return results.map((r) => r.rows ?? []);
}

export async function deferStatement(trx: Tx, query: Compilable): Promise<void> {
  const compiled = (query as { compile(t: Tx): CompiledQuery }).compile(trx);
  const channel = handles.get(trx)?.channel;
  if (channel) channel.defer({ text: compiled.sql, values: compiled.parameters as unknown[] });
  else await trx.executeQuery(compiled);
}

/**
 * A handle on the same transaction whose statements go out with its COMMIT, in one round trip,
 * instead of each in a trip of its own before it: for the last write of a use case, whose
 * result is only needed once the transaction has committed. Its promise settles after the
 * COMMIT, so the callback returns it unawaited, inside an object, and the caller awaits it after
 * `withTenant`: `return { created: insertOrder(atCommit(trx), ...) }`. Attach a catch to it there.
 * If the statement fails, the COMMIT fails with it: the transaction rolls back, and `withTenant`
 * throws. When the transaction does not end with the callback (a request's unit of work, which
 * commits after the response is built), or outside a transaction, the statements run at once.
 */
export function atCommit(trx: Tx): Tx {
  const channel = handles.get(trx)?.channel;
  if (!channel?.endsWithCallback) return trx;
  return (channel.commitHandle ??= bindKysely(channel.atCommitQuery, channel));
}

function contextValues(ctx: TenantContext): unknown[] {
  if (!UUID.test(ctx.tenantId)) throw new Error('tenant context needs a tenant UUID');
  if (ctx.userId && !UUID.test(ctx.userId)) throw new Error('tenant context needs a user UUID');
  return [ctx.tenantId, ctx.userId ?? ''];
}

export function createTenancy(db: Db, log: Logger): Tenancy {
  // Named statements (BRIGADE_DB_NAMED_STATEMENTS): off behind a pooler in transaction mode.
  const named = db.namedStatements;
  const authListeners = new Set<(tenantIds: string[]) => void>();
  const announce = (result: pg.QueryResult | undefined) => {
    const changed = (result?.rows[0] as { changed?: string | null } | undefined)?.changed;
    if (!changed) return;
    const tenantIds = changed.split(',').filter(Boolean);
    for (const l of authListeners) l(tenantIds);
  };
  /**
   * COMMIT with what is still queued (deferred statements), asking in the same round trip
   * whether the transaction changed who may do what. Nothing sent and nothing queued: no
   * transaction was begun, nothing to end.
   */
  const commit = async (channel: Channel) => {
    await channel.settle();
    channel.closed = true;
    if (!channel.sent && channel.queue.every((e) => e.single || e.s.text === SET_CONTEXT)) {
      channel.discard(undefined);
      return;
    }
    const [changed] = await channel.flush([{ text: AUTH_CHANGED }, { text: 'COMMIT' }]);
    announce(changed);
  };
  /** After a failure: end the transaction if it was begun. */
  const rollback = async (channel: Channel) => {
    await channel.settle();
    channel.closed = true;
    channel.discard(undefined);
    if (channel.sent) await channel.client.query('ROLLBACK');
  };
  /**
   * A checked-out connection can die between statements (the server shuts down while the caller
   * awaits something else, such as a payment provider): without a listener that 'error' event
   * would crash the process (the pool listens only while the connection is idle). The next
   * statement fails; the connection is dropped. One listener per connection for its life, not
   * one added and removed per checkout.
   */
  const watches = new WeakMap<pg.PoolClient, { inUse: boolean; broken: Error | undefined }>();
  const watch = (client: pg.PoolClient) => {
    let w = watches.get(client);
    if (!w) {
      const state: { inUse: boolean; broken: Error | undefined } = { inUse: false, broken: undefined };
      client.on('error', (err: Error) => {
        if (!state.inUse) return;
        state.broken = err;
        log.warn({ err: err.message }, 'database connection lost while in use');
      });
      watches.set(client, (w = state));
    }
    w.inUse = true;
    w.broken = undefined;
    return w;
  };
  // The pool's callback form: its promise form makes two promises per checkout.
  const connect = (pool: pg.Pool) =>
    new Promise<pg.PoolClient>((resolve, reject) => pool.connect((err, client) => (err ? reject(err) : resolve(client!))));
  async function withClient<T>(pool: pg.Pool, body: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    // Database time of the request or job, waiting for a connection included: a per-tenant signal.
    const started = performance.now();
    let client: pg.PoolClient;
    try {
      client = await connect(pool);
    } catch (err) {
      addDbTime(performance.now() - started);
      // Refused, timed out, too many connections, shutting down: the server cannot be reached.
      throw asDatabaseError(err, { connecting: true });
    }
    const w = watch(client);
    try {
      return await body(client);
    } catch (err) {
      // A protocol-level failure (no SQLSTATE) may leave the connection unusable: drop it.
      const lost = w.broken !== undefined;
      if ((err as { code?: string }).code === undefined) w.broken = err as Error;
      throw asDatabaseError(err, { lost });
    } finally {
      w.inUse = false;
      client.release(w.broken);
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
    channel: Channel;
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

  /**
   * A withTenant inside the unit: a savepoint with the caller's context, one at a time. The
   * savepoint and the context go out with the call's first statement, its release with the
   * unit's next one (or its COMMIT): a joined call costs no round trip of its own.
   */
  async function joined<T>(unit: UnitState, ctx: TenantContext, fn: (trx: Tx) => Promise<T>): Promise<T> {
    const values = contextValues(ctx);
    const run = async () => {
      const sp = `brigade_sp_${++unit.savepoints}`;
      const channel = unit.channel;
      const savepoint = channel.defer({ text: `SAVEPOINT ${sp}` }, true);
      channel.defer({ text: SET_CONTEXT, values });
      try {
        const result = await inside.run(unit, () => fn(bindKysely(channel.query, channel)));
        // A call that sent and queued nothing leaves nothing behind; else its release is queued.
        const at = channel.queue.indexOf(savepoint);
        if (at >= 0 && at === channel.queue.length - 2) channel.discard(savepoint);
        else channel.defer({ text: `RELEASE SAVEPOINT ${sp}` }, true);
        return result;
      } catch (err) {
        await channel.settle();
        // Not sent: the call never reached the server; drop what it queued. Sent: undo its effects.
        if (!channel.discard(savepoint)) {
          channel.discard(undefined);
          await channel.client.query(`ROLLBACK TO SAVEPOINT ${sp}`).catch(() => undefined);
        }
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
      const values = ctx.tenantId ? contextValues({ tenantId: ctx.tenantId, userId: ctx.userId }) : ['', ''];
      const onError = (err: Error) => {
        state.lost = err;
        log.warn({ err: err.message }, 'database connection lost while in use');
      };
      // A failure without a SQLSTATE may leave the connection unusable: it is dropped at the end.
      const channel = new Channel(client, named, (err) => {
        if ((err as { code?: string }).code === undefined) state.lost ??= err as Error;
        return asDatabaseError(err, { lost: state.lost !== undefined });
      });
      const state: UnitState = {
        tenantId: ctx.tenantId,
        client,
        channel,
        open: true,
        lock: Promise.resolve(),
        savepoints: 0,
        lost: undefined,
        async finish(how) {
          if (!state.open) return;
          state.open = false;
          try {
            await state.lock;
            if (how === 'COMMIT') await commit(channel);
            else await rollback(channel);
          } catch (err) {
            if (how === 'COMMIT') client.query('ROLLBACK').catch(() => undefined);
            throw asDatabaseError(err, { lost: state.lost !== undefined || (err as { code?: string }).code === undefined });
          } finally {
            client.off('error', onError);
            client.release(state.lost);
          }
        },
      };
      client.on('error', onError);
      // BEGIN and the context go out with the unit's first statement.
      channel.defer({ text: 'BEGIN' }, true);
      channel.defer({ text: SET_CONTEXT, values });
      holder.unit = state;
      return {
        trx: bindKysely(channel.query, channel),
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
        const channel = new Channel(client, named);
        channel.endsWithCallback = true;
        channel.defer({ text: 'BEGIN' }, true);
        channel.defer({ text: SET_CONTEXT, values });
        try {
          const result = await fn(bindKysely(channel.query, channel));
          await commit(channel);
          return result;
        } catch (err) {
          await rollback(channel);
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
        const query: QueryFn = (text, params) => {
          if (used) return Promise.reject(new Error('readAsTenant allows one statement; use withTenant for more'));
          used = true;
          // Read-only, so no trigger can have noted an auth change: no probe needed (a write fails, 25006).
          return pipeline(client, [{ text: SET_READ_CONTEXT, values }, { text, values: params }], named).then((results) => results[1]!);
        };
        return fn(bindKysely(query));
      });
    },

    onAuthChange(listener) {
      authListeners.add(listener);
      return () => authListeners.delete(listener);
    },

    async statementAsSystem(reason, fn) {
      log.debug({ system: reason }, 'system access');
      return withClient(db.ownerPool, async (client) => {
        let used = false;
        const query: QueryFn = async (text, params) => {
          if (used) throw new Error('statementAsSystem allows one statement; use withSystem for more');
          used = true;
          if (!params?.length) return client.query(text);
          // One Sync: an implicit transaction, committed when the statement succeeds.
          const [result] = await pipeline(client, [{ text, values: params }], named);
          return result!;
        };
        return fn(bindKysely(query));
      });
    },

    async withSystem(reason, fn, opts) {
      log.debug({ system: reason }, 'system access');
      return withClient(db.ownerPool, async (client) => {
        // As in withTenant, BEGIN rides along with the first statement (the webhook inbox is hot),
        // unless that statement has no parameters: it may be several commands, which only the
        // simple protocol accepts (the channel sends such a statement on its own).
        const channel = new Channel(client, named);
        channel.endsWithCallback = true;
        channel.defer({ text: opts?.snapshot ? 'BEGIN ISOLATION LEVEL REPEATABLE READ' : 'BEGIN' }, true);
        try {
          const result = await fn(bindKysely(channel.query, channel));
          await commit(channel);
          return result;
        } catch (err) {
          await rollback(channel);
          throw err;
        }
      });
    },
  };
}
