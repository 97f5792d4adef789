import { sql, type Selectable } from 'kysely';
import { compiled, type Tx } from '../../platform/db/index.ts';
import type { BranchesTable } from '../../platform/db/schema.ts';
import { afterCursor, cursorAt, type PageKey } from '../../platform/http/pagination.ts';
import type { Branch } from './branches.schemas.ts';

type BranchRow = Selectable<BranchesTable>;

export function toBranch(row: BranchRow): Branch {
  return {
    id: row.id,
    name: row.name,
    address: row.address,
    timezone: row.timezone,
    archivedAt: row.archived_at?.toISOString() ?? null,
    createdAt: row.created_at.toISOString(),
  };
}

const branchById = compiled((db, a: { tenantId: string; id: string }) => db.selectFrom('branches').selectAll().where('tenant_id', '=', a.tenantId).where('id', '=', a.id));
const branchByIdForUpdate = compiled((db, a: { tenantId: string; id: string }) => db.selectFrom('branches').selectAll().where('tenant_id', '=', a.tenantId).where('id', '=', a.id).forUpdate());

export async function findBranch(trx: Tx, tenantId: string, id: string, opts: { lock?: boolean } = {}): Promise<BranchRow | undefined> {
  const [row] = await (opts.lock ? branchByIdForUpdate : branchById)(trx, { tenantId, id });
  return row;
}

export function listBranchRows(
  trx: Tx,
  tenantId: string,
  opts: { branchIds: 'all' | string[]; includeArchived: boolean; after: PageKey | null; limit: number },
) {
  let q = trx
    .selectFrom('branches')
    .selectAll()
    .select(cursorAt('created_at').as('cursor_at'))
    .where('tenant_id', '=', tenantId)
    .orderBy('created_at')
    .orderBy('id')
    .limit(opts.limit + 1);
  if (opts.branchIds !== 'all') q = q.where('id', 'in', opts.branchIds);
  if (!opts.includeArchived) q = q.where('archived_at', 'is', null);
  if (opts.after) q = q.where(afterCursor('created_at', 'id', opts.after, 'asc'));
  return q.execute();
}

export function insertBranch(trx: Tx, tenantId: string, values: { name: string; address: string | null; timezone: string }) {
  return trx.insertInto('branches').values({ tenant_id: tenantId, ...values }).returningAll().executeTakeFirstOrThrow();
}

export function updateBranchRow(trx: Tx, tenantId: string, id: string, values: Partial<{ name: string; address: string | null; timezone: string; archived_at: Date }>) {
  return trx.updateTable('branches').set(values).where('tenant_id', '=', tenantId).where('id', '=', id).returningAll().executeTakeFirstOrThrow();
}

/**
 * Deletes the branch unless something that must outlive it refers to it (orders, the stock
 * ledger, members' roles): the foreign keys decide, so this module need not know those tables.
 * Rows that only describe the branch (availability, untouched stock levels) go with it.
 */
export async function deleteBranchUnlessReferenced(trx: Tx, tenantId: string, id: string): Promise<boolean> {
  await sql`SAVEPOINT branch_delete`.execute(trx);
  try {
    await trx.deleteFrom('branches').where('tenant_id', '=', tenantId).where('id', '=', id).execute();
    await sql`RELEASE SAVEPOINT branch_delete`.execute(trx);
    return true;
  } catch (err) {
    if ((err as { code?: string }).code !== '23503') throw err;
    await sql`ROLLBACK TO SAVEPOINT branch_delete`.execute(trx);
    return false;
  }
}

/** Which of `ids` are branches of the tenant. */
export async function existingBranchIds(trx: Tx, tenantId: string, ids: string[]): Promise<Set<string>> {
  if (ids.length === 0) return new Set();
  const rows = await trx.selectFrom('branches').select('id').where('tenant_id', '=', tenantId).where('id', 'in', ids).execute();
  return new Set(rows.map((r) => r.id));
}
