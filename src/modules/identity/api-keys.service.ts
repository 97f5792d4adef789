import type { Platform } from '../../platform/deps.ts';
import { AppError, notFound, invalidFields } from '../../platform/errors/index.ts';
import { newToken, hashToken, type Scope } from '../../platform/auth/index.ts';
import { asDatabaseError } from '../../platform/db/index.ts';
import { decodeCursor, toPage, DEFAULT_LIMIT } from '../../platform/http/pagination.ts';
import { computeGrants, intersectGrants, grantsWithin, isSystemRole, permissions, type Grants, type CustomRoleDefinitions } from '../access/index.ts';
import { recordAudit, auditSourceOfUser } from '../audit/index.ts';
import { insertKey, findKey, findKeys, markKeyRevoked, recordLastUses, type ApiKeyRow, type KeyAuthRow } from './api-keys.repository.ts';
import type { CreateApiKeyInput, ApiKeyView } from './api-keys.schemas.ts';
import type { ClientMeta } from './identity.service.ts';
import type { SessionCache } from './session-cache.ts';

interface KeyUse {
  tenantId: string;
  keyId: string;
  keyName: string;
  from: Date;
  at: Date;
  /** "GET /v1/orders 200" -> count; route templates, so the map stays small. */
  requests: Map<string, number>;
}

/** A name no custom role can have (their keys match ^[a-z][a-z0-9_]+$): the key's own permission set. */
const OWN_PERMISSIONS = ' api key permissions';

/** What a key holds by itself, before it is cut down to its creator's current grants. */
function keyGrants(key: { role: string | null; permissions: readonly string[] | null; branchId: string | null }, custom: CustomRoleDefinitions): Grants {
  const role = key.role ?? OWN_PERMISSIONS;
  return computeGrants([{ role, branchId: key.branchId }], key.role ? custom : { ...custom, [OWN_PERMISSIONS]: key.permissions ?? [] });
}

export function apiKeyView(row: ApiKeyRow, now: Date): ApiKeyView {
  return {
    id: row.id,
    name: row.name,
    hint: row.token_hint,
    role: row.role_key,
    permissions: row.permissions,
    branchId: row.branch_id,
    status: row.revoked_at ? 'revoked' : row.expires_at && row.expires_at <= now ? 'expired' : 'active',
    createdBy: { userId: row.created_by, name: row.created_by_name },
    createdAt: row.created_at.toISOString(),
    expiresAt: row.expires_at?.toISOString() ?? null,
    revokedAt: row.revoked_at?.toISOString() ?? null,
    lastUsedAt: row.last_used_at?.toISOString() ?? null,
  };
}

const byPerson = () => new AppError('forbidden', 'API keys are created and revoked by a person signed in to the business, not by another key.', { requiredPermission: 'settings.manage' });

/**
 * API keys for integrations. A key works as a bearer token on /v1 under the same row-level
 * security and permission checks as a person: its scope is its creator's tenant and user (so
 * rows it writes point at a real member), its grants are what it was given cut down to what its
 * creator holds now, and the audit trail names the key (actor type `api_key`).
 *
 * What a key does is audited twice over: each change by the use case itself (as for a person),
 * and every request it made, reads and refusals included, as one `api_key.requests` event per
 * key and flush (route, status and count). Those and the last use are gathered in memory and
 * written per tenant every BRIGADE_API_KEY_LAST_USE_FLUSH_SECONDS (and at close), never once
 * per request: a till polling orders does not contend for its tenant's audit chain.
 */
export function apiKeysService(platform: Platform, opts: { cache?: SessionCache<KeyAuthRow>; now?: () => Date } = {}) {
  const { tenancy, db, config, log } = platform;
  const now = opts.now ?? (() => new Date());
  const pending = new Map<string, KeyUse>();

  function merge(use: KeyUse): void {
    const held = pending.get(use.keyId);
    if (!held) return void pending.set(use.keyId, use);
    if (use.from < held.from) held.from = use.from;
    if (use.at > held.at) held.at = use.at;
    for (const [what, n] of use.requests) held.requests.set(what, (held.requests.get(what) ?? 0) + n);
  }

  async function flushLastUses(): Promise<void> {
    if (pending.size === 0) return;
    const byTenant = new Map<string, KeyUse[]>();
    for (const use of pending.values()) byTenant.set(use.tenantId, [...(byTenant.get(use.tenantId) ?? []), use]);
    pending.clear();
    for (const [tenantId, uses] of byTenant) {
      try {
        await tenancy.withTenant({ tenantId }, async (trx) => {
          await recordLastUses(trx, uses.map((u) => ({ tenantId, keyId: u.keyId, at: u.at })));
          for (const u of uses) {
            await recordAudit(
              trx,
              { tenantId, actor: { type: 'api_key', id: u.keyId, name: `API key ${u.keyName}` }, requestId: null, ip: null, userAgent: null },
              {
                action: 'api_key.requests',
                permission: null,
                target: { type: 'api_key', id: u.keyId },
                changes: { from: u.from.toISOString(), to: u.at.toISOString(), requests: Object.fromEntries([...u.requests].sort()) },
              },
            );
          }
        });
      } catch (err) {
        // A business deleted meanwhile has nothing left to record into; anything else is retried.
        if ((err as { code?: string }).code === '23503') continue;
        uses.forEach(merge);
        log.warn({ err, tenantId, keys: uses.length }, 'could not record the use of API keys; will retry');
      }
    }
  }
  const timer = setInterval(() => void flushLastUses(), config.BRIGADE_API_KEY_LAST_USE_FLUSH_SECONDS * 1000);
  timer.unref();

  return {
    async createApiKey(scope: Scope, input: CreateApiKeyInput) {
      if (scope.apiKey) throw byPerson();
      if ((input.role === undefined) === (input.permissions === undefined)) {
        throw invalidFields([{ path: 'role', message: 'give either role or permissions' }], 'Say what the key may do: give either a role or a list of permissions.');
      }
      const at = now();
      const expiresAt = input.expiresAt ? new Date(input.expiresAt) : null;
      if (expiresAt && expiresAt <= at) throw invalidFields([{ path: 'expiresAt', message: 'must be in the future' }]);
      const branchId = input.branchId ?? null;
      if (input.permissions && branchId) {
        const tenantLevel = input.permissions.filter((p) => permissions[p].level === 'tenant');
        if (tenantLevel.length) throw invalidFields([{ path: 'permissions', message: `${tenantLevel.join(', ')} apply to the whole business and cannot be limited to one branch` }]);
      }
      const secret = newToken('bky');
      return tenancy.withTenant(scope, async (trx) => {
        const custom: Record<string, string[]> = {};
        if (input.role && !isSystemRole(input.role)) {
          const role = await trx.selectFrom('custom_roles').select(['key', 'permissions']).where('tenant_id', '=', scope.tenantId).where('key', '=', input.role).executeTakeFirst();
          if (!role) throw invalidFields([{ path: 'role', message: 'is not a role of this business' }]);
          custom[role.key] = role.permissions;
        }
        if (branchId) {
          const branch = await trx.selectFrom('branches').select(['archived_at']).where('tenant_id', '=', scope.tenantId).where('id', '=', branchId).executeTakeFirst();
          if (!branch || branch.archived_at) throw invalidFields([{ path: 'branchId', message: branch ? 'is archived' : 'is not a branch of this business' }]);
        }
        const grants = keyGrants({ role: input.role ?? null, permissions: input.permissions ?? null, branchId }, custom);
        if (grants.size === 0) throw invalidFields([{ path: 'role', message: 'gives no permission in one branch (its permissions apply to the whole business only)' }]);
        const beyond = grantsWithin(grants, scope.grants);
        if (beyond.length) {
          throw new AppError('forbidden', `A key can do no more than the person who creates it: you do not hold ${beyond.join(', ')}${branchId ? ' in that branch' : ' for the whole business'}.`, {
            requiredPermission: beyond[0],
            errors: [{ path: input.role ? 'role' : 'permissions', message: `holds ${beyond.join(', ')} beyond your own permissions` }],
          });
        }
        const row = await insertKey(trx, scope.tenantId, {
          name: input.name.trim(),
          tokenHash: hashToken(secret),
          tokenHint: secret.slice(0, 10),
          roleKey: input.role ?? null,
          permissions: input.permissions ?? null,
          branchId,
          createdBy: scope.userId,
          expiresAt,
        });
        const apiKey = apiKeyView(row, at);
        await recordAudit(trx, auditSourceOfUser(scope), {
          action: 'api_key.created',
          permission: 'settings.manage',
          target: { type: 'api_key', id: row.id },
          changes: { before: null, after: apiKey },
        });
        return { apiKey, secret };
      });
    },

    async listApiKeys(scope: Scope, query: { limit?: number; cursor?: string }) {
      const limit = query.limit ?? DEFAULT_LIMIT;
      const after = decodeCursor(query.cursor, ['s', 's']);
      // This process's unwritten uses first, so a key just used here shows it.
      await flushLastUses();
      const rows = await tenancy.readAsTenant(scope, (trx) =>
        findKeys(trx, scope.tenantId, { after: after ? { at: after[0] as string, id: after[1] as string } : null, limit }),
      );
      const at = now();
      return toPage(rows, limit, (r) => [r.created_at_text, r.id], (r) => apiKeyView(r, at));
    },

    /** The next request with the key is refused, in every process (see session-cache.ts). */
    async revokeApiKey(scope: Scope, id: string): Promise<void> {
      if (scope.apiKey) throw byPerson();
      await tenancy.withTenant(scope, async (trx) => {
        const row = await findKey(trx, scope.tenantId, id, true);
        if (!row) throw notFound('API key');
        if (row.revoked_at) return;
        const at = now();
        await markKeyRevoked(trx, scope.tenantId, id, scope.userId, at);
        await recordAudit(trx, auditSourceOfUser(scope), {
          action: 'api_key.revoked',
          permission: 'settings.manage',
          target: { type: 'api_key', id },
          changes: { before: apiKeyView(row, at), after: { status: 'revoked' } },
        });
      });
    },

    /** Key secret -> scope, or null for an unknown, expired or revoked key (401 like a dead session). */
    async authenticate(token: string, meta: ClientMeta): Promise<Scope | null> {
      const tokenHash = hashToken(token);
      let row = opts.cache?.get(tokenHash);
      if (!row) {
        const { rows } = await db.runtimePool
          .query<KeyAuthRow>({ name: 'brigade_authenticate_key', text: 'SELECT * FROM brigade_authenticate_key($1)', values: [tokenHash] })
          .catch((err: unknown) => Promise.reject(asDatabaseError(err)));
        row = rows[0];
        if (!row) return null;
        opts.cache?.set(tokenHash, row.tenant_id, row, row.expires_at ?? new Date(8.64e15));
      }
      const own = keyGrants({ role: row.key_role, permissions: row.key_permissions, branchId: row.key_branch_id }, row.custom_roles);
      return {
        tenantId: row.tenant_id,
        userId: row.user_id,
        sessionId: row.key_id,
        apiKey: { id: row.key_id, name: row.key_name },
        user: { id: row.user_id, name: row.user_name, email: row.user_email },
        tenant: { id: row.tenant_id, name: row.tenant_name, slug: row.tenant_slug, currency: row.tenant_currency, timezone: row.tenant_timezone },
        roles: row.key_role ? [{ role: row.key_role, branchId: row.key_branch_id }] : [],
        grants: intersectGrants(own, computeGrants(row.roles, row.custom_roles)),
        ...meta,
      };
    },

    /** Counts a finished request made with a key, for its last use and its audit summary. */
    noteRequest(scope: Scope, request: string, status: number): void {
      if (!scope.apiKey) return;
      const at = now();
      merge({ tenantId: scope.tenantId, keyId: scope.apiKey.id, keyName: scope.apiKey.name, from: at, at, requests: new Map([[`${request} ${status}`, 1]]) });
    },

    flushLastUses,

    async close(): Promise<void> {
      clearInterval(timer);
      await flushLastUses();
    },
  };
}

export type ApiKeysService = ReturnType<typeof apiKeysService>;
