import crypto from 'node:crypto';
import type { Tx } from '../../platform/db/index.ts';
import type { AuditActorType } from '../../platform/db/schema.ts';
import type { Scope, OperatorScope } from '../../platform/auth/index.ts';
import { chainHash, GENESIS_HASH, type ChainedFields } from './audit.chain.ts';

export interface AuditSource {
  tenantId: string;
  actor: { type: AuditActorType; id: string | null; name: string | null };
  requestId: string | null;
  ip: string | null;
  userAgent: string | null;
}

export interface AuditEventInput {
  action: string;
  permission: string | null;
  target?: { type: string; id: string } | null;
  changes?: Record<string, unknown>;
}

/** The caller of a tenant request: the member, or the API key when a key made the request. */
export function auditSourceOfUser(scope: Scope): AuditSource {
  return {
    tenantId: scope.tenantId,
    actor: scope.apiKey ? { type: 'api_key', id: scope.apiKey.id, name: `API key ${scope.apiKey.name}` } : { type: 'user', id: scope.userId, name: scope.user.name },
    requestId: scope.requestId,
    ip: scope.ip,
    userAgent: scope.userAgent,
  };
}

export function auditSourceOfOperator(tenantId: string, op: OperatorScope, grantId?: string): AuditSource {
  return {
    tenantId,
    actor: { type: 'operator', id: op.operatorId, name: grantId ? `operator ${op.email} under grant ${grantId}` : `operator ${op.email}` },
    requestId: op.requestId,
    ip: op.ip,
    userAgent: op.userAgent,
  };
}

export function auditSourceOfSystem(tenantId: string, name: string): AuditSource {
  return { tenantId, actor: { type: 'system', id: null, name }, requestId: null, ip: null, userAgent: null };
}

/**
 * Appends one event to the tenant's chain, inside the caller's transaction: the event exists
 * exactly when the change it describes does. Locking the chain head serialises writers per tenant.
 */
export async function recordAudit(trx: Tx, source: AuditSource, event: AuditEventInput): Promise<{ id: string; seq: string }> {
  const head = await trx
    .selectFrom('audit_heads')
    .select(['seq', 'hash'])
    .where('tenant_id', '=', source.tenantId)
    .forUpdate()
    .executeTakeFirst();
  const prevSeq = head ? BigInt(head.seq) : 0n;
  const prevHash = head?.hash ?? GENESIS_HASH;
  const at = new Date();
  const fields: ChainedFields = {
    tenantId: source.tenantId,
    id: crypto.randomUUID(),
    seq: String(prevSeq + 1n),
    at: at.toISOString(),
    actorType: source.actor.type,
    actorId: source.actor.id,
    actorName: source.actor.name,
    action: event.action,
    permission: event.permission,
    targetType: event.target?.type ?? null,
    targetId: event.target?.id ?? null,
    // What is hashed must be exactly what the database gives back: JSON-only values (a Date
    // becomes its ISO string, undefined members vanish), as jsonb will store them.
    changes: JSON.parse(JSON.stringify(event.changes ?? {})) as unknown,
    requestId: source.requestId,
    ip: source.ip,
    userAgent: source.userAgent,
  };
  const hash = chainHash(prevHash, fields);
  await trx
    .insertInto('audit_events')
    .values({
      tenant_id: fields.tenantId,
      id: fields.id,
      seq: fields.seq,
      at,
      actor_type: fields.actorType as 'user',
      actor_id: fields.actorId,
      actor_name: fields.actorName,
      action: fields.action,
      permission: fields.permission,
      target_type: fields.targetType,
      target_id: fields.targetId,
      changes: JSON.stringify(fields.changes),
      request_id: fields.requestId,
      ip: fields.ip,
      user_agent: fields.userAgent,
      prev_hash: prevHash,
      hash,
    })
    .execute();
  if (head) {
    await trx.updateTable('audit_heads').set({ seq: fields.seq, hash }).where('tenant_id', '=', source.tenantId).execute();
  } else {
    // Two first events racing: the primary key makes the loser fail and retry from the top.
    await trx.insertInto('audit_heads').values({ tenant_id: source.tenantId, seq: fields.seq, hash }).execute();
  }
  return { id: fields.id, seq: fields.seq };
}
