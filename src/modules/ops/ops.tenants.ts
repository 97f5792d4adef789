import { UUID } from '../../platform/http/validation.ts';
import type { Tenancy } from '../../platform/db/index.ts';


/**
 * Business names for the ids a list shows, so an operator reads "Harbour Café" next to the
 * UUID. One query per page; names only (operational facts), never tenant data.
 */
export async function tenantNames(tenancy: Tenancy, ids: (string | null | undefined)[]): Promise<Map<string, string>> {
  const wanted = [...new Set(ids.filter((id): id is string => typeof id === 'string' && UUID.test(id)))];
  if (wanted.length === 0) return new Map();
  const rows = await tenancy.withSystem('ops: names of the tenants on a page', (trx) =>
    trx.selectFrom('tenants').select(['id', 'name']).where('id', 'in', wanted).execute(),
  );
  return new Map(rows.map((r) => [r.id, r.name]));
}

/** Adds `tenantName` beside each item's `tenantId`. */
export async function withTenantNames<T extends { tenantId: string | null }>(tenancy: Tenancy, items: T[]): Promise<(T & { tenantName: string | null })[]> {
  const names = await tenantNames(tenancy, items.map((i) => i.tenantId));
  return items.map((i) => ({ ...i, tenantName: i.tenantId ? (names.get(i.tenantId) ?? null) : null }));
}
