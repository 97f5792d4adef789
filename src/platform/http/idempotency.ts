import crypto from 'node:crypto';
import fp from 'fastify-plugin';
import { sql } from 'kysely';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { deferStatement, type Tenancy, type TenantContext, type Unit } from '../db/index.ts';
import { AppError, toProblem } from '../errors/index.ts';
import { RETRY_AFTER_SECONDS } from './problems.ts';
import { quickHook, quickSendHook } from './hooks.ts';

/**
 * `Idempotency-Key` for any route that opts in with `config: { idempotent: true }`
 * (docs/decisions/0501-idempotency-in-one-transaction.md says why it is built this way).
 *
 * A request with a key runs in one transaction of its own (a unit of work, see
 * Tenancy.beginUnit): the handler's withTenant calls join it, and the response is stored in it
 * just before it is sent, then the whole commits. So the effect and the stored response commit
 * together, or neither does:
 * - the process dies, the database goes away, or the answer is a 5xx: nothing of the request
 *   remains, the key is free, and a retry runs the request exactly once;
 * - the commit succeeded: every retry gets the first response again, status and bytes, even
 *   if the client never saw it.
 * For 24 hours, per tenant (per route for anonymous routes such as signup):
 * - same key, same caller, same method, URL and body: the first response again;
 * - same key, anything else different: 409 idempotency_key_reused;
 * - same key while the first is still running: 409 idempotency_key_in_use (an advisory lock
 *   held by the running transaction; released by PostgreSQL if that transaction dies).
 * 4xx answers are outcomes and are kept. Effects outside Brigade's database (a payment
 * provider) are not in the transaction: those calls carry idempotency keys of their own.
 */
export interface IdempotencyOptions {
  tenancy: Tenancy;
  /** Who is calling: keys are stored per tenant and bound to the user. Null: an anonymous caller. */
  actorOf(req: FastifyRequest): TenantContext | null;
  ttlHours?: number;
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
  /** Null for an anonymous route (its keys are scoped by the route instead). */
  tenantId: string | null;
  userId: string | null;
  scope: string;
  key: string;
  hash: string;
  unit: Unit;
}

interface StoredResponse {
  contentType: string;
  body: string;
}

const KEY = /^[\x21-\x7e]{1,255}$/;
const PROBLEM = 'application/problem+json; charset=utf-8';

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
  return crypto.hash('sha256', `${req.method}\n${req.url}\n${canonical(req.body)}`, 'hex');
}

export const idempotencyPlugin = fp(async function idempotencyPlugin(app: FastifyInstance, opts: IdempotencyOptions) {
  const ttl = `${opts.ttlHours ?? 24} hours`;
  const { tenancy } = opts;
  app.decorateRequest('idempotencyClaim', null);

  // Room for the request's unit of work, around the whole lifecycle (callback style).
  app.addHook('onRequest', (_req, _reply, done) => tenancy.withUnitScope(done));

  // After authentication, validation and the permission check (those hooks are registered
  // earlier): a refused or malformed request never claims a key.
  const claim = async (req: FastifyRequest, reply: FastifyReply, key: string | string[]) => {
    if (typeof key !== 'string' || !KEY.test(key)) {
      throw new AppError('validation_failed', 'The request does not match the expected shape.', {
        errors: [{ path: 'headers.idempotency-key', message: 'must be 1 to 255 printable ASCII characters' }],
      });
    }
    const actor = opts.actorOf(req);
    if (actor && !actor.userId) return;
    const tenantId = actor?.tenantId ?? null;
    const scope = tenantId ?? `${req.method} ${req.routeOptions.url}`;
    const hash = requestHash(req);

    const unit = await tenancy.beginUnit({ tenantId, userId: actor?.userId ?? null });
    try {
      // The lock and the read in one round trip (with the unit's BEGIN), as two statements: the
      // read's READ COMMITTED snapshot is taken after the lock is granted, so it sees the row of
      // a request that held the key and committed just before.
      const [locked, found] = await Promise.all([
        sql<{ ok: boolean }>`SELECT pg_try_advisory_xact_lock(hashtextextended(${`idem:${scope}:${key}`}, 0)) AS ok`.execute(unit.trx),
        tenantId
          ? unit.trx
              .selectFrom('idempotency_keys')
              .select(['user_id', 'request_hash', 'status_code', 'response_body', 'expires_at'])
              .where('tenant_id', '=', tenantId)
              .where('key', '=', key)
              .executeTakeFirst()
          : unit.trx
              .selectFrom('anonymous_idempotency_keys')
              .select(['request_hash', 'status_code', 'response_body', 'expires_at'])
              .where('scope', '=', scope)
              .where('key', '=', key)
              .executeTakeFirst()
              .then((r) => (r ? { ...r, user_id: null } : undefined)),
      ]);
      if (!locked.rows[0]!.ok) {
        throw new AppError('idempotency_key_in_use', 'A request with this Idempotency-Key is still being processed. Retry in a moment.', {}, { 'Retry-After': '1' });
      }
      // Rows written before responses and effects committed together may lack a response:
      // their request either committed its effect long ago or never will. Expired ones are free.
      const live = found && found.expires_at > new Date() && found.status_code !== null ? found : undefined;
      if (live) {
        if (live.user_id !== (actor?.userId ?? null) || live.request_hash !== hash) {
          throw new AppError('idempotency_key_reused', 'This Idempotency-Key was already used for a different request. Use a new key for a new request.');
        }
        await unit.rollback();
        const stored = live.response_body as StoredResponse;
        reply.code(live.status_code!).header('content-type', stored.contentType).header('idempotent-replayed', 'true');
        return reply.send(stored.body);
      }
      if (found) {
        if (tenantId) await unit.trx.deleteFrom('idempotency_keys').where('tenant_id', '=', tenantId).where('key', '=', key).execute();
        else await unit.trx.deleteFrom('anonymous_idempotency_keys').where('scope', '=', scope).where('key', '=', key).execute();
      }
      req.idempotencyClaim = { tenantId, userId: actor?.userId ?? null, scope, key, hash, unit };
    } catch (err) {
      await unit.rollback().catch(() => undefined);
      throw err;
    }
  };
  app.addHook(
    'preHandler',
    quickHook((req, reply) => {
      const key = req.routeOptions.config.idempotent ? req.headers['idempotency-key'] : undefined;
      return key === undefined ? undefined : claim(req, reply, key);
    }),
  );

  const storeAndCommit = async (req: FastifyRequest, reply: FastifyReply, payload: unknown, claim: Claim): Promise<unknown> => {
    const { unit } = claim;
    const storable = typeof payload === 'string' || payload === null || payload === undefined;
    if (reply.statusCode >= 500 || !storable) {
      // Nothing of a failed request remains: its effect is undone and its key is free.
      await unit.rollback().catch((err) => req.log.warn({ err }, 'could not roll back an idempotent request'));
      return payload;
    }
    try {
      const stored: StoredResponse = { contentType: String(reply.getHeader('content-type') ?? 'application/json; charset=utf-8'), body: (payload as string | null) ?? '' };
      const expires = sql<Date>`now() + ${ttl}::interval`;
      // The stored response goes out with the COMMIT: one round trip for both.
      await deferStatement(
        unit.trx,
        claim.tenantId
          ? unit.trx
              .insertInto('idempotency_keys')
              .values({ tenant_id: claim.tenantId, key: claim.key, user_id: claim.userId!, request_hash: claim.hash, status_code: reply.statusCode, response_body: JSON.stringify(stored), expires_at: expires })
          : unit.trx
              .insertInto('anonymous_idempotency_keys')
              .values({ scope: claim.scope, key: claim.key, request_hash: claim.hash, status_code: reply.statusCode, response_body: JSON.stringify(stored), expires_at: expires }),
      );
      await unit.commit();
      return payload;
    } catch (err) {
      // The effect and the response did not commit: the client must not be told they did.
      await unit.rollback().catch(() => undefined);
      req.log.error({ err }, 'an idempotent request could not commit; answering 503 (nothing of it remains)');
      const problem = new AppError('service_unavailable', 'The request could not be completed: nothing of it was kept. Retry with the same Idempotency-Key.', {}, { 'Retry-After': String(RETRY_AFTER_SECONDS) });
      reply.code(503).header('content-type', PROBLEM).header('Retry-After', String(RETRY_AFTER_SECONDS));
      return JSON.stringify(toProblem(problem));
    }
  };
  app.addHook(
    'onSend',
    quickSendHook<unknown>((req, reply, payload) => {
      const claim = req.idempotencyClaim;
      if (!claim) return payload;
      req.idempotencyClaim = null;
      return storeAndCommit(req, reply, payload, claim);
    }),
  );

  // Whatever ends a request without onSend (a client that went away): never leave the unit open.
  const release = (req: FastifyRequest) => {
    const claim = req.idempotencyClaim;
    if (!claim) return;
    req.idempotencyClaim = null;
    return claim.unit.rollback().catch(() => undefined);
  };
  app.addHook('onResponse', quickHook(release));
  app.addHook('onRequestAbort', async (req) => {
    await release(req);
  });
});
