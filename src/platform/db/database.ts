import pg from 'pg';
import { Kysely, PostgresDialect } from 'kysely';
import type { Database } from './schema.ts';
import type { Logger } from '../log.ts';
import { migrateToLatest } from './migrator.ts';
import { createNotifications, type Notifications } from './listen.ts';

// Return timestamps as Date, bigints as strings (never lose precision), numerics as strings.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => v);

export interface Db {
  /** Pool of the runtime role: subject to row-level security. Reach it through withTenant. */
  runtimePool: pg.Pool;
  /** Pool of the owner role: crosses tenants. Reach it through withSystem only. */
  ownerPool: pg.Pool;
  /** Kysely over the owner pool (withSystem hands it out). */
  system: Kysely<Database>;
  runtimeRole: string;
  /**
   * Whether statements may be named (parsed once per server session): false behind a pooler in
   * transaction mode, where the next transaction may run on another server session. Every
   * named statement goes through this flag (tenancy's pipelines, `preparedQuery`).
   */
  namedStatements: boolean;
  ownerUrl: string;
  runtimeUrl: string;
  /** The process's one LISTEN connection (it connects on the first subscription). */
  notifications: Notifications;
  /**
   * Can PostgreSQL be reached? On a connection of its own, so a busy request pool never reads
   * as "down": 'ok', or 'unreachable' when the server does not answer within `timeoutMs`.
   * `busy` says whether requests are waiting for a pooled connection right now.
   */
  probe(timeoutMs: number): Promise<{ state: 'ok' | 'unreachable'; busy: boolean; error?: string }>;
  close(): Promise<void>;
}

export interface OpenDbOptions {
  url: string;
  /**
   * The same server reached without a connection pooler in between (BRIGADE_DIRECT_DATABASE_URL;
   * default `url`): LISTEN and migrations need a session of their own, which PgBouncer in
   * transaction mode does not give.
   */
  directUrl?: string;
  /** See Db.namedStatements (default true). */
  namedStatements?: boolean;
  log: Logger;
  runtimePoolSize?: number;
  ownerPoolSize?: number;
  migrate?: boolean;
  /** How long getting a connection may take, queueing for the pool included (default 10000 ms). */
  connectTimeoutMs?: number;
  /** How long one statement may wait for its answer (default 30000 ms; 0: no limit). */
  queryTimeoutMs?: number;
}

/** A query config named `name` when the database allows named statements (Db.namedStatements). */
export function preparedQuery(db: Pick<Db, 'namedStatements'>, name: string, text: string, values: unknown[]): pg.QueryConfig {
  return db.namedStatements ? { name, text, values } : { text, values };
}

export async function openDatabase(opts: OpenDbOptions): Promise<Db> {
  const { url, log } = opts;
  // Every call has a bound: a server that hangs (or a network that drops packets) must cost a
  // request or a job a few seconds and a 503, never a stuck process.
  const timeouts = {
    connectionTimeoutMillis: opts.connectTimeoutMs ?? 10_000,
    ...(opts.queryTimeoutMs === 0 ? {} : { query_timeout: opts.queryTimeoutMs ?? 30_000 }),
    keepAlive: true,
  };
  const ownerPool = new pg.Pool({ connectionString: url, max: opts.ownerPoolSize ?? 10, application_name: 'brigade-system', ...timeouts });
  ownerPool.on('error', (err) => log.error({ err }, 'idle owner connection failed'));
  const system = new Kysely<Database>({ dialect: new PostgresDialect({ pool: ownerPool }) });
  try {
    if (opts.migrate) {
      // Migrations get a pool of their own without the statement timeout: an index build on a
      // large table may rightly take longer than any request should.
      const migrationPool = new pg.Pool({ connectionString: opts.directUrl ?? url, max: 1, application_name: 'brigade-migrate', connectionTimeoutMillis: timeouts.connectionTimeoutMillis });
      const migrator = new Kysely<Database>({ dialect: new PostgresDialect({ pool: migrationPool }) });
      try {
        await migrateToLatest(migrator, log);
      } finally {
        await migrator.destroy();
      }
    }
    const settings = await ownerPool.query<{ key: string; value: string }>(
      `SELECT key, value FROM brigade_settings WHERE key IN ('runtime_role', 'runtime_password')`,
    );
    const get = (k: string) => settings.rows.find((r) => r.key === k)?.value;
    const runtimeRole = get('runtime_role');
    const runtimePassword = get('runtime_password');
    if (!runtimeRole || !runtimePassword) throw new Error('The database has no runtime role: run `brigade migrate` first');
    const runtime = new URL(url);
    runtime.username = runtimeRole;
    runtime.password = runtimePassword;
    const runtimeUrl = runtime.toString();
    const runtimePool = new pg.Pool({ connectionString: runtimeUrl, max: opts.runtimePoolSize ?? 20, application_name: 'brigade', ...timeouts });
    runtimePool.on('error', (err) => log.error({ err }, 'idle runtime connection failed'));
    // LISTEN needs no privilege: the runtime role is enough, and it owns nothing. It holds a
    // session, so it bypasses a pooler (a notification would reach whichever client PgBouncer
    // gave the server connection to next, or nobody).
    const direct = new URL(opts.directUrl ?? url);
    direct.username = runtimeRole;
    direct.password = runtimePassword;
    const notifications = createNotifications(direct.toString(), log);
    const probePool = new pg.Pool({ connectionString: runtimeUrl, max: 1, application_name: 'brigade-probe', idleTimeoutMillis: 60_000, keepAlive: true });
    probePool.on('error', () => undefined);
    return {
      runtimePool,
      ownerPool,
      system,
      runtimeRole,
      namedStatements: opts.namedStatements ?? true,
      ownerUrl: url,
      runtimeUrl,
      notifications,
      async probe(timeoutMs) {
        const busy = runtimePool.waitingCount > 0;
        let timer: NodeJS.Timeout | undefined;
        try {
          await Promise.race([
            probePool.query({ text: 'SELECT 1', query_timeout: timeoutMs } as pg.QueryConfig),
            new Promise((_, reject) => {
              timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
            }),
          ]);
          return { state: 'ok', busy };
        } catch (err) {
          return { state: 'unreachable', busy, error: (err as Error).message };
        } finally {
          clearTimeout(timer);
        }
      },
      close: async () => {
        await notifications.close();
        await probePool.end();
        await runtimePool.end();
        await system.destroy();
        // Kysely ends the pool only if it ever used it; without migrations it may not have,
        // and a live idle client would hold the process open for the pool's idle timeout.
        if (!ownerPool.ended) await ownerPool.end();
      },
    };
  } catch (err) {
    await system.destroy();
    throw err;
  }
}
