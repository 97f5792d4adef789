import fp from 'fastify-plugin';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Redis } from 'ioredis';
import type { Logger } from '../log.ts';
import { AppError } from '../errors/index.ts';
import { clientCounter } from './client-counter.ts';
import { quickHook } from './hooks.ts';

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * Limit how often one client address may call this route (anonymous endpoints: signup,
     * login, password reset, invitation acceptance), BRIGADE_CLIENT_RATE_LIMIT per minute.
     */
    clientRateLimit?: boolean;
  }
}

export interface ClientRateLimitOptions {
  redis: Redis;
  prefix: string;
  log: Logger;
  /** Requests per minute per client address and route; 0: off. */
  perMinute: number;
  now?: () => number;
}

/**
 * Per-client rate limits on the routes that anyone may call. The client is `req.ip`, which is
 * the load balancer's address unless BRIGADE_TRUST_PROXY names it (then the address it saw).
 * Counted before the body is even parsed, through the same Redis-or-local counter as the login
 * throttle, so it holds (per process) while Redis is away.
 */
export const clientRateLimit = fp(async function clientRateLimit(app: FastifyInstance, opts: ClientRateLimitOptions) {
  if (opts.perMinute <= 0) return;
  const counter = clientCounter(opts.redis, opts.log, { windowSeconds: 60, now: opts.now });
  const limit = async (req: FastifyRequest) => {
    const { count, ttlSeconds } = await counter.hit(`${opts.prefix}:client:${req.routeOptions.url}:${req.ip}`);
    if (count > opts.perMinute) {
      throw new AppError(
        'rate_limited',
        `Too many requests from your address to this endpoint (at most ${opts.perMinute} a minute). Retry in ${ttlSeconds} s.`,
        { limit: opts.perMinute, retryAfterSeconds: ttlSeconds },
        { 'Retry-After': String(ttlSeconds) },
      );
    }
  };
  app.addHook('onRequest', quickHook((req) => (req.routeOptions.config.clientRateLimit ? limit(req) : undefined)));
});
