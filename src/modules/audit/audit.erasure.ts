import { sql } from 'kysely';
import type { Tx } from '../../platform/db/index.ts';

declare module '../../platform/db/schema.ts' {
  interface Database {
    audit_erasures: { tenant_id: string; seq: string; hash: string; erased_at?: Date };
  }
}

/**
 * Replaces a person's name and address by their pseudonym in every audit event about them (as
 * actor, as target, or naming their address or id), and drops the ip and user agent of their own
 * requests. Each rewritten event's hash stays as it was and goes into audit_erasures; the caller
 * records a `member.erased` event listing them (`erasedEvents`), which is what lets
 * `verifyAuditChain` accept exactly these events. Needs the owner role (events are append-only
 * for the runtime role).
 */
export async function eraseFromAudit(
  trx: Tx,
  tenantId: string,
  person: { id: string; name: string; email: string },
  pseudonym: { name: string; email: string },
): Promise<{ seq: string; hash: string }[]> {
  const json = (s: string) => JSON.stringify(s).slice(1, -1);
  const { rows } = await sql<{ seq: string; hash: string }>`
    WITH touched AS (
      SELECT e.seq FROM audit_events e
       WHERE e.tenant_id = ${tenantId}::uuid
         AND ((e.actor_type IN ('user', 'api_key') AND e.actor_id = ${person.id}::uuid)
              OR e.target_id = ${person.id}
              OR strpos(e.changes::text, ${json(person.email)}) > 0
              OR strpos(e.changes::text, ${person.id}) > 0)
         AND NOT EXISTS (SELECT 1 FROM audit_erasures x WHERE x.tenant_id = e.tenant_id AND x.seq = e.seq)
    ), kept AS (
      INSERT INTO audit_erasures (tenant_id, seq, hash)
      SELECT ${tenantId}::uuid, e.seq, e.hash FROM audit_events e JOIN touched t ON t.seq = e.seq WHERE e.tenant_id = ${tenantId}::uuid
      RETURNING seq, hash
    )
    UPDATE audit_events e SET
      actor_name = CASE WHEN e.actor_type = 'user' AND e.actor_id = ${person.id}::uuid THEN ${pseudonym.name} ELSE e.actor_name END,
      ip = CASE WHEN e.actor_type = 'user' AND e.actor_id = ${person.id}::uuid THEN NULL ELSE e.ip END,
      user_agent = CASE WHEN e.actor_type = 'user' AND e.actor_id = ${person.id}::uuid THEN NULL ELSE e.user_agent END,
      changes = replace(replace(e.changes::text, ${json(person.email)}, ${json(pseudonym.email)}), ${'"' + json(person.name) + '"'}, ${'"' + json(pseudonym.name) + '"'})::jsonb
      FROM kept k
     WHERE e.tenant_id = ${tenantId}::uuid AND e.seq = k.seq
    RETURNING k.seq::text AS seq, k.hash`.execute(trx);
  return rows.sort((a, b) => Number(a.seq) - Number(b.seq));
}
