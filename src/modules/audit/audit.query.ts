import { Readable } from 'node:stream';
import type { Tenancy, Tx } from '../../platform/db/index.ts';
import type { Scope } from '../../platform/auth/index.ts';
import { decodeCursor, toPage, DEFAULT_LIMIT } from '../../platform/http/pagination.ts';
import { recordAudit, type AuditSource } from './audit.service.ts';
import { findAuditEvents, chainHead, type AuditRow, type AuditFilter } from './audit.repository.ts';
import type { AuditQuery, AuditExportQuery, AuditEventView } from './audit.schemas.ts';

export function auditEventView(row: AuditRow): AuditEventView {
  return {
    id: row.id,
    seq: row.seq,
    at: row.at.toISOString(),
    actor: {
      type: row.actor_type,
      userId: row.actor_type === 'user' ? row.actor_id : null,
      operatorId: row.actor_type === 'operator' ? row.actor_id : null,
      apiKeyId: row.actor_type === 'api_key' ? row.actor_id : null,
      name: row.actor_name,
    },
    action: row.action,
    permission: row.permission,
    target: row.target_type && row.target_id ? { type: row.target_type, id: row.target_id } : null,
    changes: row.changes,
    requestId: row.request_id,
    ip: row.ip,
    userAgent: row.user_agent,
    hash: row.hash,
  };
}

function filterOf(q: AuditFilter): AuditFilter {
  const { action, actorId, targetType, targetId, from, to } = q;
  return { action, actorId, targetType, targetId, from, to };
}

/** Newest first, one page, inside a transaction the caller holds (tenant or support access). */
export async function auditPageIn(trx: Tx, tenantId: string, query: AuditQuery) {
  const limit = query.limit ?? DEFAULT_LIMIT;
  const after = decodeCursor(query.cursor, ['n'])?.[0];
  const rows = await findAuditEvents(trx, tenantId, filterOf(query), { order: 'desc', afterSeq: after === undefined ? null : String(after), limit: limit + 1 });
  return toPage(rows, limit, (r) => [Number(r.seq)], auditEventView);
}

export function auditQueries(tenancy: Tenancy) {
  return {
    listAuditEvents(scope: Scope, query: AuditQuery) {
      return tenancy.readAsTenant(scope, (db) => auditPageIn(db, scope.tenantId, query));
    },

    /**
     * The whole filtered log, oldest first, as CSV or JSON Lines, streamed in batches up to the
     * chain head at the start (a stable cut). The export itself is recorded first, so it is in
     * the log even when the download is cut short.
     */
    async exportAuditEvents(source: AuditSource, query: AuditExportQuery, permission: string): Promise<Readable> {
      const tenantId = source.tenantId;
      const filter = filterOf(query);
      const head = await tenancy.withTenant({ tenantId }, async (trx) => {
        await recordAudit(trx, source, {
          action: 'audit.exported',
          permission,
          target: { type: 'audit_log', id: tenantId },
          changes: { format: query.format, filters: filter },
        });
        return (await chainHead(trx, tenantId))!;
      });
      async function* lines() {
        if (query.format === 'csv') yield csvLine(csvColumns);
        let afterSeq: string | null = null;
        for (;;) {
          const rows: AuditRow[] = await tenancy.readAsTenant({ tenantId }, (db) =>
            findAuditEvents(db, tenantId, filter, { order: 'asc', afterSeq, uptoSeq: head.seq, limit: 500 }),
          );
          let chunk = '';
          for (const row of rows) chunk += query.format === 'csv' ? csvLine(csvRow(row)) : `${JSON.stringify({ ...auditEventView(row), prevHash: row.prev_hash })}\n`;
          if (chunk) yield chunk;
          if (rows.length < 500) return;
          afterSeq = rows[rows.length - 1]!.seq;
        }
      }
      return Readable.from(lines());
    },
  };
}

const csvColumns = [
  'id', 'seq', 'at', 'actor_type', 'actor_id', 'actor_name', 'action', 'permission', 'target_type', 'target_id',
  'changes', 'request_id', 'ip', 'user_agent', 'prev_hash', 'hash',
];

function csvRow(r: AuditRow): (string | null)[] {
  return [
    r.id, r.seq, r.at.toISOString(), r.actor_type, r.actor_id, r.actor_name, r.action, r.permission, r.target_type, r.target_id,
    JSON.stringify(r.changes), r.request_id, r.ip, r.user_agent, r.prev_hash, r.hash,
  ];
}

/**
 * RFC 4180 quoting. A text cell starting with = + - @ or a control character is prefixed with
 * an apostrophe so a spreadsheet shows it instead of running it as a formula (CSV injection).
 */
function csvCell(value: string | null): string {
  if (value === null) return '';
  const safe = /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
  return /[",\r\n]/.test(safe) || safe !== value ? `"${safe.replace(/"/g, '""')}"` : safe;
}

function csvLine(cells: (string | null)[]): string {
  return `${cells.map(csvCell).join(',')}\r\n`;
}
