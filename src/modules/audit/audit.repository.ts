import type { Tx } from '../../platform/db/index.ts';
import type { AuditActorType } from '../../platform/db/schema.ts';

export interface AuditFilter {
  action?: string;
  actorId?: string;
  targetType?: string;
  targetId?: string;
  from?: string;
  to?: string;
}

export interface AuditRow {
  id: string;
  seq: string;
  at: Date;
  actor_type: AuditActorType;
  actor_id: string | null;
  actor_name: string | null;
  action: string;
  permission: string | null;
  target_type: string | null;
  target_id: string | null;
  changes: Record<string, unknown>;
  request_id: string | null;
  ip: string | null;
  user_agent: string | null;
  prev_hash: string;
  hash: string;
}

const columns = [
  'id', 'seq', 'at', 'actor_type', 'actor_id', 'actor_name', 'action', 'permission', 'target_type', 'target_id',
  'changes', 'request_id', 'ip', 'user_agent', 'prev_hash', 'hash',
] as const;

/**
 * A page of the tenant's events, in `order` of seq, strictly after `afterSeq` in that order.
 * `action` ending in ".*" matches a family ("member.*").
 */
export async function findAuditEvents(
  trx: Tx,
  tenantId: string,
  f: AuditFilter,
  page: { order: 'asc' | 'desc'; afterSeq?: string | null; uptoSeq?: string | null; limit: number },
): Promise<AuditRow[]> {
  let qb = trx.selectFrom('audit_events').select(columns).where('tenant_id', '=', tenantId);
  if (f.action?.endsWith('.*')) qb = qb.where('action', 'like', `${f.action.slice(0, -2).replace(/[\\%_]/g, '\\$&')}.%`);
  else if (f.action) qb = qb.where('action', '=', f.action);
  if (f.actorId) qb = qb.where('actor_id', '=', f.actorId);
  if (f.targetType) qb = qb.where('target_type', '=', f.targetType);
  if (f.targetId) qb = qb.where('target_id', '=', f.targetId);
  if (f.from) qb = qb.where('at', '>=', new Date(f.from));
  if (f.to) qb = qb.where('at', '<', new Date(f.to));
  if (page.afterSeq) qb = qb.where('seq', page.order === 'desc' ? '<' : '>', page.afterSeq);
  if (page.uptoSeq) qb = qb.where('seq', '<=', page.uptoSeq);
  return (await qb.orderBy('seq', page.order).limit(page.limit).execute()) as AuditRow[];
}

export async function chainHead(trx: Tx, tenantId: string): Promise<{ seq: string; hash: string } | undefined> {
  return trx.selectFrom('audit_heads').select(['seq', 'hash']).where('tenant_id', '=', tenantId).executeTakeFirst();
}
