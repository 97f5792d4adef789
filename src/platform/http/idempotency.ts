import crypto from 'node:crypto';
import fp from 'fastify-plugin';
import { sql } from 'kysely';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Tenancy, TenantContext } from '../db/index.ts';
import { AppError } from '../errors/index.ts';

/**
 * `Idempotency-Key` for any route that opts in with `config: { idempotent: true }`.
 *
 * The first request with a key claims it (a row in idempotency_keys, committed before the
 * handler runs, so a concurrent duplicate sees it); its response is stored when it is sent.
 * Then, for 24 hours, per tenant:
 * - same key, same caller, same method, URL and body: the first response again, status and bytes;
 * - same key, anything else different: 409 idempotency_key_reused;
 * - same key while the first is still running: 409 idempotency_key_in_use.
 * A 5xx releases the key, so the client may retry it. 4xx answers are outcomes and are kept.
 *
 * The response is stored after the handler's own transaction committed: if the process dies in
 * between, the key stays "in use" until `staleAfterSeconds`, after which the same request may
 * claim it again. Routes whose effect must never repeat also guard it in their own data (a paid
 * order cannot be paid twice).
 */
export interface IdempotencyOptions {
  tenancy: Tenancy;
  /** Who is calling: keys are stored per tenant and bound to the user. Null: the route is anonymous; no key handling. */
  actorOf(req: FastifyRequest): TenantContext | null;
  ttlHours?: number;
  staleAfterSeconds?: number;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Honour the Idempotency-Key header on this route. */
    idempotent?: boolean;
  }
  interface FastifyRequest {
    idempotencyClaim: Claim | null;
  }
}

interface Claim {
  tenantId: string;
  userId: string;
  key: string;
  hash: string;
}

interface StoredResponse {
  contentType: string;
  body: string;
}

const KEY = /^[\x21-\x7e]{1,255}$/;

/** Object keys sorted at every depth: the same body hashes the same whatever the key order. */
function canonical(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value ?? null);
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
}

function requestHash(req: FastifyRequest): string {
  return crypto.createHash('sha256').update(`${req.method}\n${req.url}\n${canonical(req.body)}`).digest('hex');
}

export const idempotencyPlugin = fp(async function idempotencyPlugin(app: FastifyInstance, opts: IdempotencyOptions) {
  const ttl = `${opts.ttlHours ?? 24} hours`;
  const stale = `${opts.staleAfterSeconds ?? 120} seconds`;
  app.decorateRequest('idempotencyClaim', null);

  // After authentication, validation and the permission check (those hooks are registered
  // earlier): a refused or malformed request never claims a key.
  app.addHook('preHandler', async (req: FastifyRequest, reply: FastifyReply) => {
    if (!req.routeOptions.config.idempotent) return;
    const key = req.headers['idempotency-key'];
    if (key === undefined) return;
    if (typeof key !== 'string' || !KEY.test(key)) {
      throw new AppError('validation_failed', 'The request does not match the expected shape.', {
        errors: [{ path: 'headers.idempotency-key', message: 'must be 1 to 255 printable ASCII characters' }],
      });
    }
    const actor = opts.actorOf(req);
    if (!actor?.userId) return;
    const claim: Claim = { tenantId: actor.tenantId, userId: actor.userId, key, hash: requestHash(req) };

    const found = await opts.tenancy.withTenant(actor, async (trx) => {
      const claimed = await sql<{ claimed: boolean }>`
        INSERT INTO idempotency_keys (tenant_id, key, user_id, request_hash, expires_at)
        VALUES (${claim.tenantId}, ${key}, ${claim.userId}, ${claim.hash}, now() + ${ttl}::interval)
        ON CONFLICT (tenant_id, key) DO UPDATE
          SET user_id = EXCLUDED.user_id, request_hash = EXCLUDED.request_hash, status_code = NULL,
              response_body = NULL, created_at = now(), expires_at = EXCLUDED.expires_at
          WHERE idempotency_keys.expires_at <= now()
             OR (idempotency_keys.status_code IS NULL
                 AND idempotency_keys.created_at < now() - ${stale}::interval
                 AND idempotency_keys.user_id = EXCLUDED.user_id
                 AND idempotency_keys.request_hash = EXCLUDED.request_hash)
        RETURNING true AS claimed`.execute(trx);
      if (claimed.rows.length === 1) return null;
      return trx
        .selectFrom('idempotency_keys')
        .select(['user_id', 'request_hash', 'status_code', 'response_body'])
        .where('tenant_id', '=', claim.tenantId)
        .where('key', '=', key)
        .executeTakeFirst();
    });

    if (found === null) {
      req.idempotencyClaim = claim;
      return;
    }
    if (found && (found.user_id !== claim.userId || found.request_hash !== claim.hash)) {
      throw new AppError('idempotency_key_reused', 'This Idempotency-Key was already used for a different request. Use a new key for a new request.');
    }
    // Missing: the first request failed and released the key between our two statements.
    if (!found || found.status_code === null) {
      throw new AppError('idempotency_key_in_use', 'A request with this Idempotency-Key is still being processed. Retry in a moment.', {}, { 'Retry-After': '1' });
    }
    const stored = found.response_body as StoredResponse;
    reply.code(found.status_code).header('content-type', stored.contentType).header('idempotent-replayed', 'true');
    return reply.send(stored.body);
  });

  app.addHook('onSend', async (req, reply, payload) => {
    const claim = req.idempotencyClaim;
    if (!claim) return payload;
    req.idempotencyClaim = null;
    const keep = reply.statusCode < 500 && (typeof payload === 'string' || payload === null || payload === undefined);
    try {
      await opts.tenancy.withTenant(claim, async (trx) => {
        if (keep) {
          const stored: StoredResponse = {
            contentType: String(reply.getHeader('content-type') ?? 'application/json; charset=utf-8'),
            body: (payload as string | null) ?? '',
          };
          await trx
            .updateTable('idempotency_keys')
            .set({ status_code: reply.statusCode, response_body: JSON.stringify(stored) })
            .where('tenant_id', '=', claim.tenantId)
            .where('key', '=', claim.key)
            .where('request_hash', '=', claim.hash)
            .execute();
        } else {
          await trx
            .deleteFrom('idempotency_keys')
            .where('tenant_id', '=', claim.tenantId)
            .where('key', '=', claim.key)
            .where('request_hash', '=', claim.hash)
            .execute();
        }
      });
    } catch (err) {
      req.log.error({ err }, 'could not store the idempotent response; the key stays in use until it goes stale');
    }
    return payload;
  });
});
