import type { Tx } from '../../platform/db/index.ts';
import type { CustomRoleDefinitions } from '../access/index.ts';

export interface CustomRoleRow {
  key: string;
  name: string;
  description: string;
  permissions: string[];
  created_at: Date;
}

export async function listCustomRoles(trx: Tx, tenantId: string): Promise<CustomRoleRow[]> {
  return trx
    .selectFrom('custom_roles')
    .select(['key', 'name', 'description', 'permissions', 'created_at'])
    .where('tenant_id', '=', tenantId)
    .orderBy('key')
    .execute();
}

/** Permissions of the tenant's custom roles among `keys` (unknown keys are simply absent). */
export async function customRoleDefinitions(trx: Tx, tenantId: string, keys: readonly string[]): Promise<CustomRoleDefinitions> {
  if (keys.length === 0) return {};
  const rows = await trx
    .selectFrom('custom_roles')
    .select(['key', 'permissions'])
    .where('tenant_id', '=', tenantId)
    .where('key', 'in', [...keys])
    .execute();
  return Object.fromEntries(rows.map((r) => [r.key, r.permissions]));
}

export async function insertCustomRole(
  trx: Tx,
  tenantId: string,
  role: { key: string; name: string; description: string; permissions: string[] },
): Promise<CustomRoleRow> {
  return trx
    .insertInto('custom_roles')
    .values({ tenant_id: tenantId, ...role })
    .returning(['key', 'name', 'description', 'permissions', 'created_at'])
    .executeTakeFirstOrThrow();
}
