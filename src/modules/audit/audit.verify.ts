import type { Tenancy } from '../../platform/db/index.ts';
import { chainHash, GENESIS_HASH, type ChainedFields } from './audit.chain.ts';
import { findAuditEvents, chainHead, type AuditRow } from './audit.repository.ts';

export interface ChainProblem {
  kind: 'altered' | 'missing';
  seq: string;
  id: string | null;
  detail: string;
}

export interface ChainVerdict {
  tenantId: string;
  ok: boolean;
  /** Events read and found intact before the first problem (all of them when ok). */
  checked: number;
  head: { seq: string; hash: string };
  problem: ChainProblem | null;
}

export function chainedFieldsOf(tenantId: string, row: AuditRow): ChainedFields {
  return {
    tenantId,
    id: row.id,
    seq: row.seq,
    at: row.at.toISOString(),
    actorType: row.actor_type,
    actorId: row.actor_id,
    actorName: row.actor_name,
    action: row.action,
    permission: row.permission,
    targetType: row.target_type,
    targetId: row.target_id,
    changes: row.changes,
    requestId: row.request_id,
    ip: row.ip,
    userAgent: row.user_agent,
  };
}

const BATCH = 1000;

/**
 * Recomputes the tenant's hash chain from the first event to the head and names the first
 * event that was changed or is missing:
 * - an event whose hash is not the hash of its own content and link was altered in place;
 * - an event that hashes correctly but whose successor links to another hash was rewritten
 *   with a recomputed hash (the successor still remembers the original);
 * - a gap in the sequence numbers, or a head ahead of the last event, is a deleted event.
 * Someone able to rewrite every later event and the head as well is caught only by comparing
 * the head with a copy kept elsewhere: `brigade audit verify` prints it for that reason.
 */
export async function verifyAuditChain(tenancy: Tenancy, tenantId: string): Promise<ChainVerdict> {
  const stored = await tenancy.readAsTenant({ tenantId }, (db) => chainHead(db, tenantId));
  async function* rows(): AsyncGenerator<AuditRow> {
    let after: string | null = null;
    for (;;) {
      const batch = await tenancy.readAsTenant({ tenantId }, (db) =>
        findAuditEvents(db, tenantId, {}, { order: 'asc', afterSeq: after, uptoSeq: stored?.seq ?? null, limit: BATCH }),
      );
      yield* batch;
      if (batch.length < BATCH) return;
      after = batch[batch.length - 1]!.seq;
    }
  }
  const erased = await tenancy.readAsTenant({ tenantId }, (db) => db.selectFrom('audit_erasures').select(['seq', 'hash']).where('tenant_id', '=', tenantId).execute());
  return verifyChainRows(tenantId, rows(), stored ?? null, new Map(erased.map((e) => [String(e.seq), e.hash])));
}

/**
 * The chain check itself, over events in ascending seq and the head they should end at: what
 * `verifyAuditChain` runs on the database and `brigade export verify` on an export file.
 */
export async function verifyChainRows(
  tenantId: string,
  rows: AsyncIterable<AuditRow> | Iterable<AuditRow>,
  stored: { seq: string; hash: string } | null,
  /** seq -> original hash of events whose personal data was erased (see migration 20261201212404_audit_erasures). */
  erased: ReadonlyMap<string, string> = new Map(),
): Promise<ChainVerdict> {
  const vouched = new Set<string>();
  const head = stored ?? { seq: '0', hash: GENESIS_HASH };
  const verdict = (checked: number, problem: ChainProblem | null): ChainVerdict => ({ tenantId, ok: problem === null, checked, head, problem });

  let expected = 1n;
  let prev: { seq: string; id: string; hash: string } | null = null;
  let checked = 0;
  for await (const row of rows) {
    if (BigInt(row.seq) !== expected) {
      return verdict(checked, { kind: 'missing', seq: String(expected), id: null, detail: `Event #${expected} is missing: the chain goes from #${expected - 1n} to #${row.seq}.` });
    }
    const erasedHash = erased.get(row.seq);
    if (erasedHash !== undefined ? erasedHash !== row.hash : chainHash(row.prev_hash, chainedFieldsOf(tenantId, row)) !== row.hash) {
      return verdict(checked, { kind: 'altered', seq: row.seq, id: row.id, detail: `Event #${row.seq} (${row.id}) was altered: its content no longer matches its hash.` });
    }
    const prevHash = prev?.hash ?? GENESIS_HASH;
    if (row.prev_hash !== prevHash) {
      return verdict(checked - 1, prev
        ? { kind: 'altered', seq: prev.seq, id: prev.id, detail: `Event #${prev.seq} (${prev.id}) was rewritten: event #${row.seq} links to a different hash.` }
        : { kind: 'altered', seq: row.seq, id: row.id, detail: `Event #${row.seq} (${row.id}) does not start the chain.` });
    }
    if (row.action === 'member.erased' && erasedHash === undefined) {
      for (const e of (row.changes.erasedEvents as { seq: string; hash: string }[] | undefined) ?? []) vouched.add(`${e.seq}:${e.hash}`);
    }
    prev = { seq: row.seq, id: row.id, hash: row.hash };
    expected++;
    checked++;
  }
  for (const [seq, hash] of erased) {
    if (!vouched.has(`${seq}:${hash}`)) {
      return verdict(checked, { kind: 'altered', seq, id: null, detail: `Event #${seq} is marked erased, but no member.erased event of the chain says so.` });
    }
  }
  if (expected - 1n < BigInt(head.seq)) {
    return verdict(checked, { kind: 'missing', seq: String(expected), id: null, detail: `Events #${expected} to #${head.seq} are missing: the chain ends at #${expected - 1n}.` });
  }
  if (prev && !stored) {
    return verdict(checked, { kind: 'missing', seq: '0', id: null, detail: 'The chain head is missing: it was deleted behind the application\'s back.' });
  }
  if (prev && prev.hash !== head.hash) {
    return verdict(checked - 1, { kind: 'altered', seq: prev.seq, id: prev.id, detail: `Event #${prev.seq} (${prev.id}) was rewritten: the chain head remembers a different hash.` });
  }
  return verdict(checked, null);
}
