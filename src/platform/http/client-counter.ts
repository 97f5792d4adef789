import type { Redis } from 'ioredis';
import type { Logger } from '../log.ts';

/**
 * Counts events per key in fixed windows (failed logins per account, requests per client
 * address), shared by every API process through Redis. When Redis is down or hung, each
 * process keeps counting on its own (a local count, bounded in size), so logins and signups
 * go on with protection that is per process instead of global; the counts in Redis resume
 * when it answers again. The Redis client's command timeout bounds how long a call waits.
 */
export interface WindowCount {
  count: number;
  /** Seconds until the window of this key ends. */
  ttlSeconds: number;
}

export interface ClientCounter {
  /** Adds `n` to the key's count (opening a window if none is open) and returns the new count. */
  hit(key: string, n?: number): Promise<WindowCount>;
  /** The key's count without changing it. */
  peek(key: string): Promise<WindowCount>;
  clear(key: string): Promise<void>;
  /** True while counts are local because Redis did not answer. */
  readonly degraded: boolean;
}

export interface ClientCounterOptions {
  windowSeconds: number;
  /** The clock (tests move it). */
  now?: () => number;
  /** Keys kept locally at most; the oldest windows go first. */
  maxLocalKeys?: number;
}

export function clientCounter(redis: Redis, log: Logger, opts: ClientCounterOptions): ClientCounter {
  const now = opts.now ?? Date.now;
  const windowMs = opts.windowSeconds * 1000;
  const maxLocal = opts.maxLocalKeys ?? 100_000;
  const local = new Map<string, { count: number; until: number }>();
  let degraded = false;

  const fallBack = (err: unknown) => {
    if (!degraded) log.warn({ err: (err as Error).message }, 'Redis does not answer: counting sign-in attempts and client requests in this process only');
    degraded = true;
  };
  const recovered = () => {
    if (degraded) log.info('Redis answers again: counting in Redis');
    degraded = false;
  };
  const localEntry = (key: string) => {
    const e = local.get(key);
    if (e && e.until > now()) return e;
    if (e) local.delete(key);
    return undefined;
  };
  const ttl = (until: number) => Math.max(1, Math.ceil((until - now()) / 1000));

  return {
    get degraded() {
      return degraded;
    },
    async hit(key, n = 1) {
      try {
        const r = (await redis.multi().incrby(key, n).expire(key, opts.windowSeconds, 'NX').ttl(key).exec()) ?? [];
        for (const [err] of r) if (err) throw err;
        recovered();
        return { count: Number(r[0]![1]), ttlSeconds: Math.max(1, Number(r[2]![1])) };
      } catch (err) {
        fallBack(err);
        let e = localEntry(key);
        if (!e) {
          if (local.size >= maxLocal) local.delete(local.keys().next().value!);
          e = { count: 0, until: now() + windowMs };
          local.set(key, e);
        }
        e.count += n;
        return { count: e.count, ttlSeconds: ttl(e.until) };
      }
    },
    async peek(key) {
      try {
        const r = (await redis.multi().get(key).ttl(key).exec()) ?? [];
        for (const [err] of r) if (err) throw err;
        recovered();
        const counted = { count: Number(r[0]![1] ?? 0), ttlSeconds: Math.max(0, Number(r[1]![1])) };
        // Failures counted locally while Redis was away still count until their window ends.
        const e = localEntry(key);
        return e && e.count > counted.count ? { count: e.count, ttlSeconds: ttl(e.until) } : counted;
      } catch (err) {
        fallBack(err);
        const e = localEntry(key);
        return e ? { count: e.count, ttlSeconds: ttl(e.until) } : { count: 0, ttlSeconds: 0 };
      }
    },
    async clear(key) {
      local.delete(key);
      try {
        await redis.del(key);
        recovered();
      } catch (err) {
        fallBack(err);
      }
    },
  };
}
