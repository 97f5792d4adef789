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
    // Shared lock: a role being deleted is not assigned in the same instant (deleteRole locks it for update).
    .forShare()
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

const columns = ['key', 'name', 'description', 'permissions', 'created_at'] as const;

export async function lockCustomRole(trx: Tx, tenantId: string, key: string): Promise<CustomRoleRow | undefined> {
  return trx.selectFrom('custom_roles').select(columns).where('tenant_id', '=', tenantId).where('key', '=', key).forUpdate().executeTakeFirst();
}

export async function updateCustomRole(trx: Tx, tenantId: string, key: string, patch: { name: string; description: string; permissions: string[] }): Promise<CustomRoleRow> {
  return trx.updateTable('custom_roles').set(patch).where('tenant_id', '=', tenantId).where('key', '=', key).returning(columns).executeTakeFirstOrThrow();
}

export async function deleteCustomRole(trx: Tx, tenantId: string, key: string): Promise<void> {
  await trx.deleteFrom('custom_roles').where('tenant_id', '=', tenantId).where('key', '=', key).execute();
}

/** How many members hold the role (in any branch). */
export async function holdersOf(trx: Tx, tenantId: string, key: string): Promise<number> {
  const row = await trx
    .selectFrom('role_assignments')
    .select((eb) => eb.fn.count<string>('user_id').distinct().as('n'))
    .where('tenant_id', '=', tenantId)
    .where('role_key', '=', key)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}
