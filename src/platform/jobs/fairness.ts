import type { Redis } from 'ioredis';
import type { Logger } from '../log.ts';
import { nodesOf } from '../redis.ts';
import type { QueueSet } from './queues.ts';

/**
 * Each tenant's jobs in the shared queues ("in flight": dispatched by the relay and not yet
 * finished or dead), one Redis sorted set per tenant of `queue|jobId` scored by dispatch time.
 * The relay hands a tenant no more than the cap; the rest stays in that tenant's outbox backlog.
 * A set (not a counter) makes taking and releasing idempotent, so a relay retry or a job that
 * runs twice cannot skew the count.
 */
export interface TenantSlots {
  inFlight(tenantIds: string[]): Promise<Map<string, number>>;
  take(entries: { tenantId: string; queue: string; jobId: string }[]): Promise<void>;
  release(tenantId: string, queue: string, jobId: string): Promise<void>;
  /** Releases many at once: one ZREM per tenant. */
  releaseAll(entries: { tenantId: string; queue: string; jobId: string }[]): Promise<void>;
  /**
   * Releases gathered for a few milliseconds go to Redis together (one ZREM per tenant). The
   * relay waits longer than that before it refills (RelayOptions.refillMs), so nothing waits on it.
   */
  releaseSoon(tenantId: string, queue: string, jobId: string): Promise<void>;
  /** Sends the gathered releases now (a worker that stops). */
  flushReleases(): Promise<void>;
  /** Drops members whose job no longer runs (removed by hand, Redis data loss). */
  reconcile(queues: QueueSet, olderThanMs?: number): Promise<number>;
}

export function tenantSlots(redis: Redis, prefix: string, log: Logger, opts: { releaseMs?: number } = {}): TenantSlots {
  const releaseMs = opts.releaseMs ?? 5;
  const keyOf = (tenantId: string) => `${prefix}:fair:${tenantId}`;
  /** Members by key: one ZADD or ZREM per tenant however many of its jobs a batch holds. */
  const byKey = (entries: { tenantId: string; queue: string; jobId: string }[]) => {
    const keys = new Map<string, string[]>();
    for (const e of entries) {
      const key = keyOf(e.tenantId);
      const members = keys.get(key);
      if (members) members.push(`${e.queue}|${e.jobId}`);
      else keys.set(key, [`${e.queue}|${e.jobId}`]);
    }
    return keys;
  };
  const removeAll = async (entries: { tenantId: string; queue: string; jobId: string }[]) => {
    if (entries.length === 0) return;
    // Plain commands, not a pipeline: an ioredis pipeline copies every script defined on the
    // connection (BullMQ's dozens) onto itself, which costs more than a few separate writes.
    await Promise.all([...byKey(entries)].map(([key, members]) => redis.zrem(key, ...members)));
  };
  let batch: { tenantId: string; queue: string; jobId: string }[] = [];
  let flushing: Promise<void> | null = null;
  let wake: (() => void) | null = null;
  const flush = async () => {
    await new Promise<void>((r) => {
      const timer = setTimeout(r, releaseMs);
      wake = () => {
        clearTimeout(timer);
        r();
      };
    });
    wake = null;
    const items = batch;
    batch = [];
    flushing = null;
    await removeAll(items);
  };
  return {
    releaseSoon(tenantId, queue, jobId) {
      batch.push({ tenantId, queue, jobId });
      flushing ??= flush();
      const mine = flushing;
      if (batch.length >= 200) wake?.();
      return mine;
    },
    async flushReleases() {
      const pending = flushing;
      wake?.();
      await pending;
    },
    async inFlight(tenantIds) {
      const out = new Map<string, number>();
      if (tenantIds.length === 0) return out;
      const pipe = redis.pipeline();
      for (const t of tenantIds) pipe.zcard(keyOf(t));
      const results = (await pipe.exec()) ?? [];
      tenantIds.forEach((t, i) => {
        const [err, n] = results[i] ?? [null, 0];
        if (err) throw err;
        out.set(t, Number(n));
      });
      return out;
    },
    async take(entries) {
      if (entries.length === 0) return;
      const now = Date.now();
      const pipe = redis.pipeline();
      for (const [key, members] of byKey(entries)) pipe.zadd(key, ...members.flatMap((m) => [now, m]));
      const results = (await pipe.exec()) ?? [];
      for (const [err] of results) if (err) throw err;
    },
    async release(tenantId, queue, jobId) {
      await redis.zrem(keyOf(tenantId), `${queue}|${jobId}`);
    },
    releaseAll: removeAll,
    async reconcile(queues, olderThanMs = 60_000) {
      let dropped = 0;
      // SCAN addresses a server, not a key: on a cluster, every master (the prefix's slot is on one).
      for (const node of nodesOf(redis)) {
        let cursor = '0';
        do {
          const [next, keys] = await node.scan(cursor, 'MATCH', `${prefix}:fair:*`, 'COUNT', 200);
          cursor = next;
          for (const key of keys) {
            const members = await redis.zrangebyscore(key, 0, Date.now() - olderThanMs);
            for (const m of members) {
              const [queue, jobId] = m.split('|');
              if (!queue || !jobId || !queues.names.includes(queue)) {
                dropped += await redis.zrem(key, m);
                continue;
              }
              const state = await queues.get(queue).getJobState(jobId);
              if (state === 'unknown' || state === 'completed' || state === 'failed') dropped += await redis.zrem(key, m);
            }
          }
        } while (cursor !== '0');
      }
      if (dropped) log.info({ dropped }, 'released in-flight slots of jobs that no longer run');
      return dropped;
    },
  };
}
