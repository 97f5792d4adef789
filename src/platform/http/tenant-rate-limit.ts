import type { Redis } from 'ioredis';
import { AppError } from '../errors/index.ts';

/**
 * Protection from noisy neighbours: each tenant may make `perSecond` requests per second on
 * average, counted in Redis in 10-second windows so the limit holds across every API process.
 * A burst up to ten seconds' worth is allowed; past it the tenant gets 429 with Retry-After
 * until the window ends, and other tenants are untouched.
 */
const WINDOW_MS = 10_000;

export function tenantRateLimiter(redis: Redis, prefix: string) {
  return {
    async consume(tenantId: string, perSecond: number): Promise<void> {
      if (perSecond <= 0) return;
      const window = Math.floor(Date.now() / WINDOW_MS);
      const key = `${prefix}:rate:${tenantId}:${window}`;
      const results = await redis.multi().incr(key).pexpire(key, WINDOW_MS * 2).exec();
      const count = Number(results?.[0]?.[1] ?? 0);
      const allowed = perSecond * (WINDOW_MS / 1000);
      if (count > allowed) {
        const retryAfter = Math.max(1, Math.ceil(((window + 1) * WINDOW_MS - Date.now()) / 1000));
        throw new AppError(
          'rate_limited',
          `Your business is sending more than ${perSecond} requests per second. Slow down and retry in ${retryAfter} s.`,
          { limit: perSecond, retryAfterSeconds: retryAfter },
          { 'Retry-After': String(retryAfter) },
        );
      }
    },
  };
}

export type TenantRateLimiter = ReturnType<typeof tenantRateLimiter>;
