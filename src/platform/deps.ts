import type { Awaitable } from './awaitable.ts';
import type { Redis } from 'ioredis';
import type { Config } from '../config.ts';
import type { Logger } from './log.ts';
import type { Db, Tenancy, Tx } from './db/index.ts';
import type { Tracing } from './telemetry.ts';
import type { Metrics } from './metrics.ts';
import type { SignalRecorder } from './signals/index.ts';

export interface NewTenant {
  id: string;
  name: string;
  slug: string;
  currency: string;
  timezone: string;
  ownerUserId: string;
}

/**
 * What every module is built from. Plain values, passed by hand: no container.
 * `hooks` are the few extension points where one module reacts to another's event inside the
 * same transaction (billing starts a trial when identity creates a tenant).
 */
export interface Platform {
  config: Config;
  log: Logger;
  db: Db;
  tenancy: Tenancy;
  redis: Redis;
  /** Null when no trace exporter is configured. */
  tracing: Tracing | null;
  /** This process's Prometheus registry (bounded labels only). */
  metrics: Metrics;
  /** Per-tenant request and job counts, in memory, flushed to the minute rollups. */
  signals: SignalRecorder;
  hooks: {
    tenantCreated: ((trx: Tx, tenant: NewTenant) => Promise<void>)[];
    /** Requests per second a tenant may make (billing sets it from the plan); default from config. */
    tenantRateLimit?: (tenantId: string) => Awaitable<number>;
    /**
     * Inside the transaction that creates a counted thing (a branch, a member, an order):
     * throws the plan's 402 when the business already has what its plan allows. Billing sets
     * it; exact under concurrency.
     */
    claimLimit?: (trx: Tx, tenantId: string, limit: 'branches' | 'members' | 'ordersPerMonth' | 'scheduledReports') => Promise<void>;
  };
}
