import { connectRedis } from './redis.ts';
import type { Config } from '../config.ts';
import type { Logger } from './log.ts';
import type { Platform } from './deps.ts';
import { openDatabase, createTenancy, startEmbeddedPostgres } from './db/index.ts';
import type { Tracing } from './telemetry.ts';
import { createMetrics } from './metrics.ts';
import { createSignalRecorder, silentSignalRecorder } from './signals/index.ts';

export interface StartedPlatform extends Platform {
  /** Closes pools, Redis and (last) the embedded database, in that order. */
  close(): Promise<void>;
}

/**
 * Connects to what every process role needs: PostgreSQL (embedded when DATABASE_URL is unset),
 * migrated when asked, and Redis.
 */
export async function startPlatform(config: Config, log: Logger, opts: { migrate: boolean; tracing?: Tracing | null }): Promise<StartedPlatform> {
  const server = await databaseServer(config, log);
  try {
    const db = await openDatabase({
      url: server.url,
      directUrl: config.BRIGADE_DIRECT_DATABASE_URL,
      namedStatements: config.BRIGADE_DB_NAMED_STATEMENTS,
      runtimePoolSize: config.BRIGADE_DB_POOL_SIZE,
      ownerPoolSize: config.BRIGADE_DB_SYSTEM_POOL_SIZE,
      log,
      migrate: opts.migrate,
      connectTimeoutMs: config.BRIGADE_DB_CONNECT_TIMEOUT_MS,
      queryTimeoutMs: config.BRIGADE_DB_QUERY_TIMEOUT_MS,
    });
    const redis = connectRedis(config.REDIS_URL, log, { name: 'brigade', timeoutMs: config.BRIGADE_REDIS_TIMEOUT_MS, cluster: config.BRIGADE_REDIS_CLUSTER });
    const tenancy = createTenancy(db, log);
    const metrics = createMetrics();
    if (!config.BRIGADE_SIGNALS) log.warn('per-tenant signals are off (BRIGADE_SIGNALS=false): tenant figures and tenant alerts see nothing from this process');
    const signals = config.BRIGADE_SIGNALS ? createSignalRecorder(tenancy, log, {
      flushMs: config.BRIGADE_SIGNAL_FLUSH_MS,
      maxSlots: config.BRIGADE_SIGNAL_MAX_TENANTS,
      onFlush: (r) => {
        metrics.signalFlushes.inc({ result: r.ok ? 'ok' : 'failed' });
        metrics.signalFlushDuration.observe(r.ms / 1000);
      },
    }) : silentSignalRecorder();
    const platform: StartedPlatform = {
      config,
      log,
      db,
      tenancy,
      redis,
      tracing: opts.tracing ?? null,
      metrics,
      signals,
      hooks: { tenantCreated: [] },
      close: async () => {
        // The last counts of this process reach PostgreSQL before its pools close.
        await signals.close();
        await db.close();
        redis.disconnect();
        await opts.tracing?.shutdown();
        await server.stop();
      },
    };
    return platform;
  } catch (err) {
    await server.stop();
    throw err;
  }
}

/**
 * The owner URL of the database: DATABASE_URL, or the embedded server (started, or the one
 * another Brigade process runs). `stop` stops only a server this call started.
 */
export async function databaseServer(config: Config, log: Logger): Promise<{ url: string; stop(): Promise<void> }> {
  if (config.DATABASE_URL) return { url: config.DATABASE_URL, stop: async () => {} };
  return startEmbeddedPostgres({ dataDir: config.BRIGADE_DATA_DIR, rootDir: config.BRIGADE_EMBEDDED_ROOT_DIR }, log);
}
