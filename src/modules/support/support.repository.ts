import { sql, type ColumnType, type Generated } from 'kysely';
import type { Tx } from '../../platform/db/index.ts';
import { afterCursor, cursorAt, type PageKey } from '../../platform/http/pagination.ts';

export interface SupportGrantsTable {
  tenant_id: string;
  id: Generated<string>;
  reason: string;
  granted_by: string;
  created_at: Date;
  expires_at: Date;
  revoked_at: ColumnType<Date | null, Date | null | undefined, Date | null>;
  revoked_by: ColumnType<string | null, string | null | undefined, string | null>;
}

declare module '../../platform/db/schema.ts' {
  interface Database {
    support_grants: SupportGrantsTable;
  }
}

export interface SupportGrantRow {
  id: string;
  reason: string;
  granted_by: string;
  granted_by_name: string | null;
  created_at: Date;
  expires_at: Date;
  revoked_at: Date | null;
  revoked_by: string | null;
}

function selectGrants(trx: Tx, tenantId: string) {
  return trx
    .selectFrom('support_grants as g')
    .leftJoin('users as u', (j) => j.onRef('u.tenant_id', '=', 'g.tenant_id').onRef('u.id', '=', 'g.granted_by'))
    .select(['g.id', 'g.reason', 'g.granted_by', 'u.name as granted_by_name', 'g.created_at', 'g.expires_at', 'g.revoked_at', 'g.revoked_by'])
    .where('g.tenant_id', '=', tenantId);
}

export async function insertGrant(trx: Tx, tenantId: string, g: { reason: string; grantedBy: string; createdAt: Date; expiresAt: Date }): Promise<SupportGrantRow> {
  const { id } = await trx
    .insertInto('support_grants')
    .values({ tenant_id: tenantId, reason: g.reason, granted_by: g.grantedBy, created_at: g.createdAt, expires_at: g.expiresAt })
    .returning('id')
    .executeTakeFirstOrThrow();
  return (await findGrant(trx, tenantId, id))!;
}

export async function findGrant(trx: Tx, tenantId: string, id: string, forUpdate = false): Promise<SupportGrantRow | undefined> {
  let qb = selectGrants(trx, tenantId).where('g.id', '=', id);
  if (forUpdate) qb = qb.forUpdate('g');
  return qb.executeTakeFirst();
}

/** Newest first, strictly after the (created_at, id) cursor. */
export async function findGrants(trx: Tx, tenantId: string, page: { after: PageKey | null; limit: number }) {
  let qb = selectGrants(trx, tenantId).select(cursorAt('g.created_at').as('cursor_at'));
  if (page.after) qb = qb.where(afterCursor('g.created_at', 'g.id', page.after, 'desc'));
  return qb.orderBy('g.created_at', 'desc').orderBy('g.id', 'desc').limit(page.limit + 1).execute();
}

export async function markRevoked(trx: Tx, tenantId: string, id: string, by: string): Promise<void> {
  await trx.updateTable('support_grants').set({ revoked_at: new Date(), revoked_by: by }).where('tenant_id', '=', tenantId).where('id', '=', id).execute();
}

/** The grant that lets operators in right now, if any: not revoked, not expired (database time). */
export async function activeGrant(trx: Tx, tenantId: string): Promise<{ id: string; expires_at: Date } | undefined> {
  return trx
    .selectFrom('support_grants')
    .select(['id', 'expires_at'])
    .where('tenant_id', '=', tenantId)
    .where('revoked_at', 'is', null)
    .where('expires_at', '>', sql<Date>`now()`)
    .orderBy('expires_at', 'desc')
    .limit(1)
    .executeTakeFirst();
}

/** For operators: every grant open now, across tenants (withSystem only). */
export async function openGrantsAcrossTenants(trx: Tx) {
  return trx
    .selectFrom('support_grants as g')
    .innerJoin('tenants as t', 't.id', 'g.tenant_id')
    .select(['g.id', 'g.tenant_id', 't.name as tenant_name', 't.slug', 'g.reason', 'g.created_at', 'g.expires_at'])
    .where('g.revoked_at', 'is', null)
    .where('g.expires_at', '>', sql<Date>`now()`)
    .orderBy('g.expires_at')
    .limit(500)
    .execute();
}
