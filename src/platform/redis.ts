import { Cluster, Redis, type RedisOptions as IORedisOptions } from 'ioredis';
import type { Logger } from './log.ts';

export interface RedisOptions {
  /** Shown in CLIENT LIST: which part of Brigade holds the connection. */
  name: string;
  /** Each command fails after this long (Redis down, hung or unreachable): nothing waits for ever. */
  timeoutMs: number;
  /** Where connection errors are logged (they repeat while Redis is away). */
  level?: 'warn' | 'debug';
  /** `url` names one node of a Redis Cluster (BRIGADE_REDIS_CLUSTER); the others are discovered. */
  cluster?: boolean;
}

const retryStrategy = (times: number) => Math.min(100 * 2 ** times, 2000);

/**
 * A client of one Redis server, or of a Redis Cluster found from the node `url` names. Every key
 * Brigade writes starts with BRIGADE_QUEUE_PREFIX, which on a cluster is a hash tag (`{brigade}`,
 * enforced by loadConfig): all keys then live in one slot, so MULTI, pipelines and BullMQ's
 * scripts work unchanged, and the cluster client offers the same commands. Callers therefore
 * keep the `Redis` type; the few commands that address a node rather than a key (SCAN) go
 * through `nodesOf`.
 */
export function redisClient(url: string, options: IORedisOptions, cluster = false): Redis {
  if (!cluster) return new Redis(url, options);
  const u = new URL(url);
  const node = { host: u.hostname, port: Number(u.port || 6379) };
  const auth = { ...(u.username ? { username: decodeURIComponent(u.username) } : {}), ...(u.password ? { password: decodeURIComponent(u.password) } : {}) };
  // The cluster client takes the reconnect policy and the offline queue itself, not per node.
  const { retryStrategy: nodeRetry, enableOfflineQueue, port: _port, host: _host, path: _path, sentinels: _sentinels, readOnly: _readOnly, ...perNode } = options;
  return new Cluster([node], {
    redisOptions: { ...perNode, ...auth, ...(u.protocol === 'rediss:' ? { tls: {} } : {}) },
    clusterRetryStrategy: (times) => (nodeRetry ?? retryStrategy)(times) ?? null,
    enableOfflineQueue: enableOfflineQueue ?? true,
  }) as unknown as Redis;
}

/** The servers to run a node-addressed command (SCAN) on: the masters of a cluster, or the one server. */
export function nodesOf(redis: Redis): Redis[] {
  const maybe = redis as unknown as { isCluster?: boolean; nodes?: (role: 'master') => Redis[] };
  return maybe.isCluster && maybe.nodes ? maybe.nodes('master') : [redis];
}

/**
 * Every non-blocking Redis client of Brigade is made here, so that each has a command timeout,
 * a connect timeout and a bounded reconnect delay. Without them a hung Redis (SIGSTOP, a dead
 * network path) held every login for the whole stall. Blocking job workers are the exception
 * (see workerConnection): their commands wait by design.
 */
export function connectRedis(url: string, log: Logger, opts: RedisOptions): Redis {
  const redis = redisClient(url, {
    connectionName: opts.name,
    commandTimeout: opts.timeoutMs,
    connectTimeout: Math.max(opts.timeoutMs, 1000),
    // Commands issued while disconnected fail at once rather than queue behind the reconnect.
    maxRetriesPerRequest: 1,
    retryStrategy,
  }, opts.cluster);
  redis.on('error', (err) => log[opts.level ?? 'warn']({ err: err.message, connection: opts.name }, 'redis connection error'));
  return redis;
}
