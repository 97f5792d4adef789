import type { Redis } from 'ioredis';
import type { Logger } from '../log.ts';
import { AppError } from '../errors/index.ts';

/**
 * Protection from noisy neighbours: each tenant may make `perSecond` requests per second on
 * average, counted in 10-second windows (a burst of ten seconds' worth is allowed). Past it the
 * tenant gets 429 with Retry-After until the window ends; other tenants are untouched.
 *
 * The count is shared by every API process through Redis, but off the request path: each
 * process counts locally and adds its counts to Redis every `flushMs`, reading back the total.
 * A request therefore costs no round trip; across N processes a tenant can overshoot by at
 * most what N processes admit in one flush interval.
 */
const WINDOW_MS = 10_000;

interface Tally {
  window: number;
  /** This process's requests not yet added to Redis. */
  pending: number;
  /** The shared total as Redis last reported it (includes our flushed requests). */
  shared: number;
}

export interface TenantRateLimiterOptions {
  /** How often counts go to Redis (tests that flush by hand set it beyond their length). */
  flushMs?: number;
  /** The clock of the counting windows (tests hold it still or move it; default Date.now). */
  now?: () => number;
}

export function tenantRateLimiter(redis: Redis, prefix: string, log: Logger, opts: TenantRateLimiterOptions = {}) {
  const now = opts.now ?? Date.now;
  const tallies = new Map<string, Tally>();
  let flushing = false;

  async function flush(): Promise<void> {
    if (flushing) return;
    flushing = true;
    try {
      // Tallies with nothing pending are read back too (INCRBY 0), so a process that is quiet
      // for a tenant still learns what the others admitted.
      const current = Math.floor(now() / WINDOW_MS);
      const batch = [...tallies.entries()].filter(([, t]) => t.window === current);
      if (batch.length === 0) return;
      const multi = redis.multi();
      for (const [tenantId, t] of batch) {
        const key = `${prefix}:rate:${tenantId}:${t.window}`;
        multi.incrby(key, t.pending).pexpire(key, WINDOW_MS * 2);
      }
      const sent = batch.map(([, t]) => ({ t, window: t.window, pending: t.pending }));
      for (const s of sent) s.t.pending -= s.pending;
      const results = await multi.exec();
      sent.forEach((s, i) => {
        if (s.t.window === s.window) s.t.shared = Number(results?.[i * 2]?.[1] ?? s.t.shared);
      });
    } catch (err) {
      // Redis away: keep admitting on local counts alone rather than failing every request.
      log.warn({ err: (err as Error).message }, 'rate-limit counts could not reach Redis');
    } finally {
      flushing = false;
      const window = Math.floor(now() / WINDOW_MS);
      for (const [tenantId, t] of tallies) if (t.window < window && t.pending === 0) tallies.delete(tenantId);
    }
  }

  const timer = setInterval(() => void flush(), opts.flushMs ?? 200);
  timer.unref();

  return {
    /** Counts one request; throws 429 when the tenant is over its limit. No I/O. */
    consume(tenantId: string, perSecond: number): void {
      if (perSecond <= 0) return;
      const window = Math.floor(now() / WINDOW_MS);
      let t = tallies.get(tenantId);
      if (!t || t.window !== window) {
        t = { window, pending: 0, shared: 0 };
        tallies.set(tenantId, t);
      }
      const allowed = perSecond * (WINDOW_MS / 1000);
      if (t.shared + t.pending >= allowed) {
        const retryAfter = Math.max(1, Math.ceil(((window + 1) * WINDOW_MS - now()) / 1000));
        throw new AppError(
          'rate_limited',
          `Your business is sending more than ${perSecond} requests per second. Slow down and retry in ${retryAfter} s.`,
          { limit: perSecond, retryAfterSeconds: retryAfter },
          { 'Retry-After': String(retryAfter) },
        );
      }
      t.pending++;
    },
    /** Adds this process's counts to Redis and reads the shared totals back (also every flushMs). */
    flush,
    close(): void {
      clearInterval(timer);
    },
  };
}

export type TenantRateLimiter = ReturnType<typeof tenantRateLimiter>;
