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
  ownerUrl: string;
  runtimeUrl: string;
  /** The process's one LISTEN connection (it connects on the first subscription). */
  notifications: Notifications;
  close(): Promise<void>;
}

export interface OpenDbOptions {
  url: string;
  log: Logger;
  runtimePoolSize?: number;
  ownerPoolSize?: number;
  migrate?: boolean;
}

export async function openDatabase(opts: OpenDbOptions): Promise<Db> {
  const { url, log } = opts;
  const ownerPool = new pg.Pool({ connectionString: url, max: opts.ownerPoolSize ?? 5, application_name: 'brigade-system' });
  ownerPool.on('error', (err) => log.error({ err }, 'idle owner connection failed'));
  const system = new Kysely<Database>({ dialect: new PostgresDialect({ pool: ownerPool }) });
  try {
    if (opts.migrate) await migrateToLatest(system, log);
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
    const runtimePool = new pg.Pool({ connectionString: runtimeUrl, max: opts.runtimePoolSize ?? 20, application_name: 'brigade' });
    runtimePool.on('error', (err) => log.error({ err }, 'idle runtime connection failed'));
    // LISTEN needs no privilege: the runtime role is enough, and it owns nothing.
    const notifications = createNotifications(runtimeUrl, log);
    return {
      runtimePool,
      ownerPool,
      system,
      runtimeRole,
      ownerUrl: url,
      runtimeUrl,
      notifications,
      close: async () => {
        await notifications.close();
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
