import { connectRedis } from './redis.ts';
import type { Config } from '../config.ts';
import type { Logger } from './log.ts';
import type { Platform } from './deps.ts';
import { openDatabase, createTenancy, startEmbeddedPostgres } from './db/index.ts';
import type { Tracing } from './telemetry.ts';
import { createMetrics } from './metrics.ts';
import { createSignalRecorder } from './signals/index.ts';

export interface StartedPlatform extends Platform {
  /** Closes pools, Redis and (last) the embedded database, in that order. */
  close(): Promise<void>;
}

/**
 * Connects to what every process role needs: PostgreSQL (embedded when DATABASE_URL is unset),
 * migrated when asked, and Redis.
 */
export async function startPlatform(config: Config, log: Logger, opts: { migrate: boolean; tracing?: Tracing | null }): Promise<StartedPlatform> {
  const embedded = config.DATABASE_URL ? undefined : await startEmbeddedPostgres(config.BRIGADE_DATA_DIR, log);
  try {
    const db = await openDatabase({
      url: config.DATABASE_URL ?? embedded!.url,
      directUrl: config.BRIGADE_DIRECT_DATABASE_URL,
      namedStatements: config.BRIGADE_DB_NAMED_STATEMENTS,
      log,
      migrate: opts.migrate,
      connectTimeoutMs: config.BRIGADE_DB_CONNECT_TIMEOUT_MS,
      queryTimeoutMs: config.BRIGADE_DB_QUERY_TIMEOUT_MS,
    });
    const redis = connectRedis(config.REDIS_URL, log, { name: 'brigade', timeoutMs: config.BRIGADE_REDIS_TIMEOUT_MS, cluster: config.BRIGADE_REDIS_CLUSTER });
    const tenancy = createTenancy(db, log);
    const metrics = createMetrics();
    const signals = createSignalRecorder(tenancy, log, {
      flushMs: config.BRIGADE_SIGNAL_FLUSH_MS,
      maxSlots: config.BRIGADE_SIGNAL_MAX_TENANTS,
      onFlush: (r) => {
        metrics.signalFlushes.inc({ result: r.ok ? 'ok' : 'failed' });
        metrics.signalFlushDuration.observe(r.ms / 1000);
      },
    });
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
        await embedded?.stop();
      },
    };
    return platform;
  } catch (err) {
    await embedded?.stop();
    throw err;
  }
}
