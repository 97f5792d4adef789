import { sql } from 'kysely';
import type { Tx } from '../../platform/db/index.ts';

/** Who hears about a branch's stock: its managers (for that branch or the whole business) and the owners. */
export async function branchAlertRecipients(trx: Tx, tenantId: string, branchId: string) {
  return trx
    .selectFrom('users as u')
    .innerJoin('role_assignments as ra', (j) => j.onRef('ra.tenant_id', '=', 'u.tenant_id').onRef('ra.user_id', '=', 'u.id'))
    .select(['u.id', 'u.email', 'u.name'])
    .distinct()
    .where('u.tenant_id', '=', tenantId)
    .where('u.status', '=', 'active')
    .where((eb) =>
      eb.or([
        eb('ra.role_key', '=', 'owner'),
        eb.and([eb('ra.role_key', '=', 'branch_manager'), eb.or([eb('ra.branch_id', '=', branchId), eb('ra.branch_id', 'is', null)])]),
      ]),
    )
    .orderBy('u.email')
    .execute();
}

export async function branchAndTenant(trx: Tx, tenantId: string, branchId: string) {
  return trx
    .selectFrom('branches as b')
    .innerJoin('tenants as t', 't.id', 'b.tenant_id')
    .select(['b.name as branch_name', 't.name as tenant_name'])
    .where('b.tenant_id', '=', tenantId)
    .where('b.id', '=', branchId)
    .executeTakeFirst();
}

/**
 * The inventory item's name and unit, read from the hospitality module's table when this
 * database has it. Under a savepoint, so a table of another shape cannot fail the mail.
 */
export async function inventoryItemLabel(trx: Tx, tenantId: string, itemId: string): Promise<{ name: string; unit: string | null } | null> {
  const exists = await sql<{ present: boolean }>`SELECT to_regclass('inventory_items') IS NOT NULL AS present`.execute(trx);
  if (!exists.rows[0]?.present) return null;
  await sql`SAVEPOINT item_label`.execute(trx);
  try {
    const r = await sql<{ name: string; unit: string | null }>`SELECT name, unit FROM inventory_items WHERE tenant_id = ${tenantId} AND id = ${itemId}`.execute(trx);
    await sql`RELEASE SAVEPOINT item_label`.execute(trx);
    return r.rows[0] ?? null;
  } catch {
    await sql`ROLLBACK TO SAVEPOINT item_label`.execute(trx);
    return null;
  }
}
