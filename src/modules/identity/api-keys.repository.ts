import { sql, type ColumnType, type Generated } from 'kysely';
import type { Tx } from '../../platform/db/index.ts';

export interface ApiKeysTable {
  tenant_id: string;
  id: Generated<string>;
  name: string;
  token_hash: string;
  token_hint: string;
  role_key: string | null;
  permissions: string[] | null;
  branch_id: string | null;
  created_by: string;
  created_at: Generated<Date>;
  expires_at: Date | null;
  revoked_at: ColumnType<Date | null, Date | null | undefined, Date | null>;
  revoked_by: ColumnType<string | null, string | null | undefined, string | null>;
  last_used_at: ColumnType<Date | null, Date | null | undefined, Date | null>;
}

declare module '../../platform/db/schema.ts' {
  interface Database {
    api_keys: ApiKeysTable;
  }
}

export interface ApiKeyRow {
  id: string;
  name: string;
  token_hint: string;
  role_key: string | null;
  permissions: string[] | null;
  branch_id: string | null;
  created_by: string;
  created_by_name: string | null;
  created_at: Date;
  created_at_text: string;
  expires_at: Date | null;
  revoked_at: Date | null;
  last_used_at: Date | null;
}

/** What brigade_authenticate_key (migration 20261201212400_api_keys) answers for a live key. */
export interface KeyAuthRow {
  key_id: string;
  key_name: string;
  tenant_id: string;
  user_id: string;
  user_name: string;
  user_email: string;
  tenant_name: string;
  tenant_slug: string;
  tenant_currency: string;
  tenant_timezone: string;
  key_role: string | null;
  key_permissions: string[] | null;
  key_branch_id: string | null;
  roles: { role: string; branchId: string | null }[];
  custom_roles: Record<string, string[]>;
  expires_at: Date | null;
}

function selectKeys(trx: Tx, tenantId: string) {
  return trx
    .selectFrom('api_keys as k')
    .leftJoin('users as u', (j) => j.onRef('u.tenant_id', '=', 'k.tenant_id').onRef('u.id', '=', 'k.created_by'))
    .select([
      'k.id', 'k.name', 'k.token_hint', 'k.role_key', 'k.permissions', 'k.branch_id', 'k.created_by', 'u.name as created_by_name',
      'k.created_at', sql<string>`k.created_at::text`.as('created_at_text'), 'k.expires_at', 'k.revoked_at', 'k.last_used_at',
    ])
    .where('k.tenant_id', '=', tenantId);
}

export async function insertKey(
  trx: Tx,
  tenantId: string,
  k: { name: string; tokenHash: string; tokenHint: string; roleKey: string | null; permissions: string[] | null; branchId: string | null; createdBy: string; expiresAt: Date | null },
): Promise<ApiKeyRow> {
  const { id } = await trx
    .insertInto('api_keys')
    .values({
      tenant_id: tenantId,
      name: k.name,
      token_hash: k.tokenHash,
      token_hint: k.tokenHint,
      role_key: k.roleKey,
      permissions: k.permissions,
      branch_id: k.branchId,
      created_by: k.createdBy,
      expires_at: k.expiresAt,
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  return (await findKey(trx, tenantId, id))!;
}

export async function findKey(trx: Tx, tenantId: string, id: string, forUpdate = false): Promise<ApiKeyRow | undefined> {
  let qb = selectKeys(trx, tenantId).where('k.id', '=', id);
  if (forUpdate) qb = qb.forUpdate('k');
  return qb.executeTakeFirst();
}

/** Newest first, strictly after the (created_at, id) cursor. */
export async function findKeys(trx: Tx, tenantId: string, page: { after: { at: string; id: string } | null; limit: number }): Promise<ApiKeyRow[]> {
  let qb = selectKeys(trx, tenantId);
  if (page.after) qb = qb.where(sql<boolean>`(k.created_at, k.id) < (${page.after.at}::timestamptz, ${page.after.id}::uuid)`);
  return qb.orderBy('k.created_at', 'desc').orderBy('k.id', 'desc').limit(page.limit + 1).execute();
}

export async function markKeyRevoked(trx: Tx, tenantId: string, id: string, by: string, at: Date): Promise<void> {
  await trx.updateTable('api_keys').set({ revoked_at: at, revoked_by: by }).where('tenant_id', '=', tenantId).where('id', '=', id).execute();
}

/** One statement for every key a process served since its last flush; a later time never goes back. */
export async function recordLastUses(trx: Tx, uses: { tenantId: string; keyId: string; at: Date }[]): Promise<void> {
  if (uses.length === 0) return;
  await sql`
    UPDATE api_keys k SET last_used_at = greatest(k.last_used_at, u.at)
      FROM unnest(${uses.map((u) => u.tenantId)}::uuid[], ${uses.map((u) => u.keyId)}::uuid[], ${uses.map((u) => u.at.toISOString())}::timestamptz[]) AS u (tenant_id, id, at)
     WHERE k.tenant_id = u.tenant_id AND k.id = u.id`.execute(trx);
}
