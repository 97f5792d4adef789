import pg from 'pg';
import { Kysely, PostgresDialect } from 'kysely';
import { Redis } from 'ioredis';
import { loadConfig } from './config.ts';
import { createLogger } from './platform/log.ts';
import { createTenancy, type Db } from './platform/db/index.ts';
import { createNotifications } from './platform/db/listen.ts';
import type { Platform } from './platform/deps.ts';
import { createMetrics } from './platform/metrics.ts';
import { createSignalRecorder } from './platform/signals/index.ts';
import { buildApp } from './app.ts';

/**
 * Brigade's OpenAPI document, read from the routes themselves with no database or Redis
 * running: the app is built on connections that are never opened (pools and clients connect
 * lazily, and nothing here sends a query). The console's client is generated from it at build
 * time, and CI validates it.
 */
export async function openApiDocument(): Promise<Record<string, unknown>> {
  const config = loadConfig({ LOG_LEVEL: 'silent', BRIGADE_DEMO: 'false' });
  const log = createLogger('silent');
  // A socket path that does not exist: anything that tries to connect (a listener starting up)
  // fails at once instead of waiting on a network address, and never reaches a real server.
  const nowhere = '/nonexistent/brigade-openapi';
  const pool = new pg.Pool({ host: nowhere, database: 'openapi', max: 1 });
  const db: Db = {
    runtimePool: pool,
    ownerPool: pool,
    system: new Kysely({ dialect: new PostgresDialect({ pool }) }),
    runtimeRole: 'openapi',
    namedStatements: false,
    ownerUrl: `postgres:///openapi?host=${nowhere}`,
    runtimeUrl: `postgres:///openapi?host=${nowhere}`,
    // Connects on the first subscription only, which building the routes never makes.
    notifications: createNotifications(`postgres:///openapi?host=${nowhere}`, log),
    probe: async () => ({ state: 'unreachable', busy: false }),
    close: async () => pool.end(),
  };
  const redis = new Redis({ path: nowhere, lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0, retryStrategy: () => null });
  const tenancy = createTenancy(db, log);
  // Signals are never flushed here: building the routes counts nothing.
  const signals = createSignalRecorder(tenancy, log, { flushMs: 2 ** 31 - 1, maxSlots: 1, write: async () => 'applied' });
  const platform: Platform = { config, log, db, tenancy, redis, tracing: null, metrics: createMetrics(), signals, hooks: { tenantCreated: [] } };
  const app = await buildApp(platform);
  try {
    await app.ready();
    return app.swagger() as unknown as Record<string, unknown>;
  } finally {
    await app.close();
    await signals.close();
    redis.disconnect();
    await pool.end();
  }
}
