import crypto from 'node:crypto';
import type { Redis } from 'ioredis';
import { AppError } from '../../platform/errors/index.ts';

/**
 * Brute-force protection for password logins: failures are counted per account (e-mail) and
 * per client address in Redis; past the limit the caller gets 429 with Retry-After until the
 * window ends. A success clears the account's count.
 */
export interface ThrottleLimits {
  perAccount: number;
  perAddress: number;
  windowSeconds: number;
}

export const defaultLimits: ThrottleLimits = { perAccount: 10, perAddress: 100, windowSeconds: 900 };

export function loginThrottle(redis: Redis, prefix: string, limits: ThrottleLimits = defaultLimits) {
  const keys = (scope: string, email: string, ip: string) => ({
    account: `${prefix}:throttle:${scope}:acct:${crypto.createHash('sha256').update(email).digest('hex')}`,
    address: `${prefix}:throttle:${scope}:ip:${ip}`,
  });

  return {
    async check(scope: string, email: string, ip: string): Promise<void> {
      const k = keys(scope, email, ip);
      const results = (await redis.multi().get(k.account).get(k.address).ttl(k.account).ttl(k.address).exec()) ?? [];
      const [acct, addr, acctTtl, addrTtl] = results.map(([, value]) => Number(value ?? 0));
      const blockedFor = Math.max(
        (acct ?? 0) >= limits.perAccount ? (acctTtl ?? 0) : 0,
        (addr ?? 0) >= limits.perAddress ? (addrTtl ?? 0) : 0,
      );
      if (blockedFor > 0) {
        throw new AppError(
          'rate_limited',
          `Too many failed sign-in attempts. Try again in ${Math.ceil(blockedFor / 60)} minute(s).`,
          { retryAfterSeconds: blockedFor },
          { 'Retry-After': String(blockedFor) },
        );
      }
    },
    async fail(scope: string, email: string, ip: string): Promise<void> {
      const k = keys(scope, email, ip);
      await redis
        .multi()
        .incr(k.account)
        .expire(k.account, limits.windowSeconds, 'NX')
        .incr(k.address)
        .expire(k.address, limits.windowSeconds, 'NX')
        .exec();
    },
    async succeed(scope: string, email: string, ip: string): Promise<void> {
      await redis.del(keys(scope, email, ip).account);
    },
  };
}

export type LoginThrottle = ReturnType<typeof loginThrottle>;
