import crypto from 'node:crypto';
import type { Redis } from 'ioredis';
import { AppError } from '../../platform/errors/index.ts';
import { clientCounter } from '../../platform/http/client-counter.ts';
import type { Logger } from '../../platform/log.ts';

/**
 * Brute-force protection for password logins: failures are counted per account (e-mail) and
 * per client address; past the limit the caller gets 429 with Retry-After until the window
 * ends. A success clears the account's count. The counts live in Redis, shared by every API
 * process; while Redis is down or hung they are counted in each process alone (see
 * clientCounter), so login keeps working, within the Redis command timeout.
 *
 * The client address is Fastify's `req.ip`: behind a load balancer set BRIGADE_TRUST_PROXY,
 * or every client shares the balancer's address and a hundred failures lock everyone out.
 */
export interface ThrottleLimits {
  perAccount: number;
  perAddress: number;
  windowSeconds: number;
}

export const defaultLimits: ThrottleLimits = { perAccount: 10, perAddress: 100, windowSeconds: 900 };

export function loginThrottle(redis: Redis, prefix: string, log: Logger, limits: ThrottleLimits = defaultLimits, now?: () => number) {
  const counter = clientCounter(redis, log, { windowSeconds: limits.windowSeconds, now });
  const keys = (scope: string, email: string, ip: string) => ({
    account: `${prefix}:throttle:${scope}:acct:${crypto.createHash('sha256').update(email).digest('hex')}`,
    address: `${prefix}:throttle:${scope}:ip:${ip}`,
  });

  return {
    async check(scope: string, email: string, ip: string): Promise<void> {
      const k = keys(scope, email, ip);
      const [acct, addr] = await Promise.all([counter.peek(k.account), counter.peek(k.address)]);
      const blockedFor = Math.max(acct.count >= limits.perAccount ? acct.ttlSeconds : 0, addr.count >= limits.perAddress ? addr.ttlSeconds : 0);
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
      await Promise.all([counter.hit(k.account), counter.hit(k.address)]);
    },
    async succeed(scope: string, email: string, ip: string): Promise<void> {
      await counter.clear(keys(scope, email, ip).account);
    },
  };
}

export type LoginThrottle = ReturnType<typeof loginThrottle>;
