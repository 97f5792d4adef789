import { Queue, type JobsOptions } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Config } from '../../config.ts';
import type { Logger } from '../log.ts';
import { connectRedis, redisClient } from '../redis.ts';
import type { JobRegistry } from './registry.ts';

/** What a Brigade job carries in BullMQ: the payload (with tenantId) and, for a replay, its origin. */
export interface JobEnvelope {
  payload: Record<string, unknown>;
  replayOf?: string | null;
  /** W3C traceparent of the work that wrote the outbox row: the job's span joins that trace. */
  trace?: string | null;
  /** When the job became due (ms since the epoch): its wait is measured from here. */
  dueAt?: number;
}

/** The name of our backoff strategy in job options; the worker implements it (see backoffDelay). */
export const BACKOFF_TYPE = 'brigade';

/**
 * Exponential backoff with "equal jitter": half the doubled delay is fixed, half random, so
 * retries of jobs that failed together (a mail server outage) spread out instead of returning
 * in lockstep, and no retry comes sooner than half the nominal delay.
 */
export function backoffDelay(attemptsMade: number, baseMs: number): number {
  const nominal = baseMs * 2 ** Math.max(0, attemptsMade - 1);
  const capped = Math.min(nominal, 6 * 3600_000);
  return Math.round(capped / 2 + Math.random() * (capped / 2));
}

/**
 * Connection for BullMQ workers: blocking commands need `maxRetriesPerRequest: null`
 * (a worker then waits out a Redis restart instead of failing).
 */
export function workerConnection(url: string, log: Logger, name: string, cluster = false): Redis {
  const redis = redisClient(url, { maxRetriesPerRequest: null, connectionName: name }, cluster);
  redis.on('error', (err) => log.warn({ err: err.message, connection: name }, 'redis connection error'));
  return redis;
}

/**
 * Connection for producers (the relay, the ops API): a command fails soon when Redis is away,
 * so the relay rolls back and keeps the rows in the outbox instead of hanging on to row locks.
 */
export function producerConnection(url: string, log: Logger, name: string, timeoutMs = 2000, cluster = false): Redis {
  return connectRedis(url, log, { name, timeoutMs, level: 'debug', cluster });
}

export interface QueueSet {
  get(name: string): Queue;
  names: string[];
  redis: Redis;
  close(): Promise<void>;
}

export function openQueues(config: Config, registry: JobRegistry, redis: Redis): QueueSet {
  const queues = new Map<string, Queue>();
  const get = (name: string) => {
    let q = queues.get(name);
    if (!q) {
      q = new Queue(name, { connection: redis, prefix: config.BRIGADE_QUEUE_PREFIX });
      q.on('error', () => undefined);
      queues.set(name, q);
    }
    return q;
  };
  return {
    get,
    names: registry.queues,
    redis,
    async close() {
      await Promise.allSettled([...queues.values()].map((q) => q.close()));
    },
  };
}

/** Retry, backoff and retention options of one job of `type`. */
export function jobOptions(config: Config, registry: JobRegistry, type: string, extra: JobsOptions = {}): JobsOptions {
  return jobOptionsOf(config, registry.lookup(type), extra);
}

export function jobOptionsOf(config: Config, def: { attempts?: number; backoff?: number } | undefined, extra: JobsOptions = {}): JobsOptions {
  return {
    attempts: def?.attempts ?? config.BRIGADE_JOB_ATTEMPTS,
    backoff: { type: BACKOFF_TYPE, delay: def?.backoff ?? config.BRIGADE_JOB_BACKOFF_MS },
    // Postgres keeps the record of every attempt and every dead job; Redis keeps a short tail.
    removeOnComplete: { age: 24 * 3600, count: 5000 },
    removeOnFail: { age: 7 * 24 * 3600, count: 10000 },
    ...extra,
  };
}

/** Rejects when `p` takes longer than `ms`: a Redis call must not hold Postgres row locks for long. */
export function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms} ms`)), ms);
    }),
  ]);
}
