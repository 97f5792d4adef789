import type { Platform } from '../../platform/deps.ts';
import type { Tx } from '../../platform/db/index.ts';
import type { Scope, OperatorScope } from '../../platform/auth/index.ts';
import { AppError, notFound } from '../../platform/errors/index.ts';
import { decodeTimeCursor, toPage, timeKeyOf, DEFAULT_LIMIT } from '../../platform/http/pagination.ts';
import { recordAudit, auditSourceOfUser, auditSourceOfOperator } from '../audit/index.ts';
import { insertGrant, findGrant, findGrants, markRevoked, activeGrant, openGrantsAcrossTenants, type SupportGrantRow } from './support.repository.ts';
import type { GrantSupportInput, SupportGrantView } from './support.schemas.ts';

export function supportGrantView(row: SupportGrantRow, now = new Date()): SupportGrantView {
  return {
    id: row.id,
    reason: row.reason,
    status: row.revoked_at ? 'revoked' : row.expires_at <= now ? 'expired' : 'active',
    grantedBy: { userId: row.granted_by, name: row.granted_by_name },
    createdAt: row.created_at.toISOString(),
    expiresAt: row.expires_at.toISOString(),
    revokedAt: row.revoked_at?.toISOString() ?? null,
  };
}

const invalid = (path: string, message: string, detail = 'The request does not match the expected shape.') =>
  new AppError('validation_failed', detail, { errors: [{ path, message }] });

/**
 * Governed support access. Operators see no tenant data by default; a tenant owner
 * (settings.manage) grants time-boxed access with a reason, and may revoke it. Each operator
 * read checks for an open grant and is written into the tenant's own audit log, in the same
 * transaction as the read, as "operator X under grant Y".
 */
export function supportService(platform: Platform) {
  const { tenancy, config } = platform;
  const maxMs = config.BRIGADE_SUPPORT_GRANT_MAX_HOURS * 3600_000;

  return {
    async grantSupportAccess(scope: Scope, input: GrantSupportInput) {
      if ((input.expiresAt === undefined) === (input.durationMinutes === undefined)) {
        throw invalid('expiresAt', 'give either expiresAt or durationMinutes', 'Say how long support access lasts: give either expiresAt or durationMinutes.');
      }
      const now = new Date();
      const expiresAt = input.expiresAt ? new Date(input.expiresAt) : new Date(now.getTime() + input.durationMinutes! * 60_000);
      const path = input.expiresAt ? 'expiresAt' : 'durationMinutes';
      if (expiresAt.getTime() <= now.getTime()) throw invalid(path, 'must be in the future');
      if (expiresAt.getTime() - now.getTime() > maxMs) throw invalid(path, `must be at most ${config.BRIGADE_SUPPORT_GRANT_MAX_HOURS} hours from now`);
      return tenancy.withTenant(scope, async (trx) => {
        const row = await insertGrant(trx, scope.tenantId, { reason: input.reason.trim(), grantedBy: scope.userId, createdAt: now, expiresAt });
        const supportGrant = supportGrantView(row, now);
        await recordAudit(trx, auditSourceOfUser(scope), {
          action: 'support_access.granted',
          permission: 'settings.manage',
          target: { type: 'support_grant', id: row.id },
          changes: { before: null, after: supportGrant },
        });
        return { supportGrant };
      });
    },

    async listSupportGrants(scope: Scope, query: { limit?: number; cursor?: string }) {
      const limit = query.limit ?? DEFAULT_LIMIT;
      const after = decodeTimeCursor(query.cursor);
      const rows = await tenancy.readAsTenant(scope, (db) => findGrants(db, scope.tenantId, { after, limit }));
      const now = new Date();
      return toPage(rows, limit, timeKeyOf, (r) => supportGrantView(r, now));
    },

    /** Ends access at once: the next operator request under this grant is refused. */
    async revokeSupportAccess(scope: Scope, id: string): Promise<void> {
      await tenancy.withTenant(scope, async (trx) => {
        const row = await findGrant(trx, scope.tenantId, id, true);
        if (!row) throw notFound('support grant');
        if (row.revoked_at) return;
        await markRevoked(trx, scope.tenantId, id, scope.userId);
        await recordAudit(trx, auditSourceOfUser(scope), {
          action: 'support_access.revoked',
          permission: 'settings.manage',
          target: { type: 'support_grant', id },
          changes: { before: supportGrantView(row), after: { status: 'revoked' } },
        });
      });
    },

    /**
     * Runs an operator's read of one tenant's data under that tenant's open grant, recording it
     * in the same transaction. No open grant (none given, expired, revoked, or no such tenant):
     * 403, and nothing is read.
     */
    async readAsOperator<T>(op: OperatorScope, tenantId: string, what: { resource: string; query?: Record<string, unknown> }, read: (trx: Tx) => Promise<T>): Promise<T> {
      return tenancy.withTenant({ tenantId }, async (trx) => {
        const grant = await activeGrant(trx, tenantId);
        if (!grant) {
          throw new AppError('support_grant_required', 'This business has not granted support access, or the grant has expired or was revoked. Ask its owner to grant access.', { tenantId });
        }
        await recordAudit(trx, auditSourceOfOperator(tenantId, op, grant.id), {
          action: 'support_access.used',
          permission: null,
          target: { type: 'support_grant', id: grant.id },
          changes: { resource: what.resource, query: what.query ?? {}, grantId: grant.id, grantExpiresAt: grant.expires_at.toISOString() },
        });
        return read(trx);
      });
    },

    /** For operators: where they may read now. Grant metadata only, no tenant data. */
    async openGrants() {
      const rows = await tenancy.withSystem('support: list open grants for operators', (trx) => openGrantsAcrossTenants(trx));
      return {
        data: rows.map((r) => ({
          id: r.id,
          tenant: { id: r.tenant_id, name: r.tenant_name, slug: r.slug },
          reason: r.reason,
          createdAt: r.created_at.toISOString(),
          expiresAt: r.expires_at.toISOString(),
        })),
        nextCursor: null,
      };
    },
  };
}

export type SupportService = ReturnType<typeof supportService>;
