import { Redis } from 'ioredis';
import type { Logger } from './log.ts';

export interface RedisOptions {
  /** Shown in CLIENT LIST: which part of Brigade holds the connection. */
  name: string;
  /** Each command fails after this long (Redis down, hung or unreachable): nothing waits for ever. */
  timeoutMs: number;
  /** Where connection errors are logged (they repeat while Redis is away). */
  level?: 'warn' | 'debug';
}

/**
 * Every non-blocking Redis client of Brigade is made here, so that each has a command timeout,
 * a connect timeout and a bounded reconnect delay. Without them a hung Redis (SIGSTOP, a dead
 * network path) held every login for the whole stall. Blocking job workers are the exception
 * (see workerConnection): their commands wait by design.
 */
export function connectRedis(url: string, log: Logger, opts: RedisOptions): Redis {
  const redis = new Redis(url, {
    connectionName: opts.name,
    commandTimeout: opts.timeoutMs,
    connectTimeout: Math.max(opts.timeoutMs, 1000),
    // Commands issued while disconnected fail at once rather than queue behind the reconnect.
    maxRetriesPerRequest: 1,
    retryStrategy: (times) => Math.min(100 * 2 ** times, 2000),
  });
  redis.on('error', (err) => log[opts.level ?? 'warn']({ err: err.message, connection: opts.name }, 'redis connection error'));
  return redis;
}
