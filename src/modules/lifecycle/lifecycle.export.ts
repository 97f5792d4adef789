import zlib from 'node:zlib';
import readline from 'node:readline';
import { Readable } from 'node:stream';
import { sql, type ColumnType, type Generated } from 'kysely';
import { Type } from 'typebox';
import type { Platform } from '../../platform/deps.ts';
import type { Tx } from '../../platform/db/index.ts';
import type { Scope } from '../../platform/auth/index.ts';
import { AppError, notFound } from '../../platform/errors/index.ts';
import { defineJob } from '../../platform/jobs/index.ts';
import { recordAudit, auditSourceOfUser, auditSourceOfSystem, verifyChainRows, GENESIS_HASH, type AuditRow, type ChainVerdict } from '../audit/index.ts';

export interface TenantExportsTable {
  tenant_id: string;
  id: Generated<string>;
  requested_by: string | null;
  requested_by_operator: string | null;
  status: ColumnType<'pending' | 'ready', 'pending' | 'ready' | undefined, 'pending' | 'ready'>;
  created_at: Generated<Date>;
  ready_at: Date | null;
  expires_at: Date | null;
  bytes: string | null;
  row_counts: ColumnType<Record<string, number> | null, string | null, string | null>;
  audit_head: ColumnType<{ seq: string; hash: string } | null, string | null, string | null>;
}
export interface TenantExportChunksTable {
  tenant_id: string;
  export_id: string;
  seq: number;
  data: Buffer;
}
declare module '../../platform/db/schema.ts' {
  interface Database {
    tenant_exports: TenantExportsTable;
    tenant_export_chunks: TenantExportChunksTable;
  }
}

export const EXPORT_FORMAT = 'brigade-export/1';
/** Secrets the export never carries, even hashed: a leaked export must not help anyone sign in. */
const WITHHELD_COLUMNS = ['password_hash', 'token_hash'];
const CHUNK_BYTES = 512 * 1024;
const FETCH_ROWS = 2000;

/**
 * Every table that holds a business's rows, from the catalogue: each with a tenant_id column
 * (tenants itself aside; tenant_deletions is what outlives a business). A table added tomorrow is exported (and deleted) without a change
 * here. Read it as the owner role: the runtime role does not see every such table.
 */
export async function tenantTables(trx: Tx): Promise<string[]> {
  const { rows } = await sql<{ table_name: string }>`
    SELECT c.table_name FROM information_schema.columns c
      JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name AND t.table_type = 'BASE TABLE'
     WHERE c.table_schema = 'public' AND c.column_name = 'tenant_id' AND c.table_name <> 'tenant_deletions'
     ORDER BY c.table_name`.execute(trx);
  return rows.map((r) => r.table_name);
}

export interface ExportSummary {
  rowCounts: Record<string, number>;
  auditHead: { seq: string; hash: string };
  bytes: number;
}

/**
 * Writes the business's export to `sink` as gzip members of JSON Lines: a header (with the audit
 * chain head), one line per row ({"table", "row"}), a trailer with the row counts. Streamed
 * through a cursor: memory stays bounded whatever the size of the business. `trx` must be a
 * snapshot (`withSystem(…, { snapshot: true })`): every table is read as of one moment, that of
 * the audit head read first, so the rows agree with each other and the chain in the file
 * verifies to the head it names. `sink` gets a gzip member each time about `chunkBytes` of lines
 * have gathered.
 */
export async function writeTenantExport(trx: Tx, tenantId: string, meta: { exportId: string | null; at: Date; chunkBytes?: number }, sink: (gz: Buffer) => Promise<void>): Promise<ExportSummary> {
  const chunkBytes = meta.chunkBytes ?? CHUNK_BYTES;
  const head = (await trx.selectFrom('audit_heads').select(['seq', 'hash']).where('tenant_id', '=', tenantId).executeTakeFirst()) ?? { seq: '0', hash: GENESIS_HASH };
  const tenant = await trx.selectFrom('tenants').select(['id', 'name', 'slug']).where('id', '=', tenantId).executeTakeFirstOrThrow();
  let pending: string[] = [];
  let pendingBytes = 0;
  let bytes = 0;
  const flush = async () => {
    if (!pending.length) return;
    const gz = zlib.gzipSync(pending.join(''));
    pending = [];
    pendingBytes = 0;
    bytes += gz.length;
    await sink(gz);
  };
  const line = async (value: unknown) => {
    const text = `${JSON.stringify(value)}\n`;
    pending.push(text);
    pendingBytes += text.length;
    if (pendingBytes >= chunkBytes) await flush();
  };
  await line({ kind: 'header', format: EXPORT_FORMAT, tenant, exportId: meta.exportId, createdAt: meta.at.toISOString(), auditHead: head });
  const rowCounts: Record<string, number> = {};
  const tables = ['tenants', ...(await tenantTables(trx)).filter((t) => t !== 'tenant_export_chunks')];
  for (const table of tables) {
    const keyColumn = table === 'tenants' ? 'id' : 'tenant_id';
    const order = table === 'audit_events' ? sql`ORDER BY x.seq` : sql``;
    const upto = table === 'audit_events' ? sql`AND x.seq <= ${head.seq}::bigint` : sql``;
    await sql`DECLARE brigade_export NO SCROLL CURSOR FOR
      SELECT to_jsonb(x) - ${WITHHELD_COLUMNS}::text[] AS row FROM ${sql.table(table)} x
       WHERE x.${sql.ref(keyColumn)} = ${tenantId}::uuid ${upto} ${order}`.execute(trx);
    let n = 0;
    for (;;) {
      const { rows } = await sql<{ row: unknown }>`FETCH ${sql.raw(String(FETCH_ROWS))} FROM brigade_export`.execute(trx);
      for (const r of rows) await line({ kind: 'row', table, row: r.row });
      n += rows.length;
      if (rows.length < FETCH_ROWS) break;
    }
    await sql`CLOSE brigade_export`.execute(trx);
    rowCounts[table] = n;
  }
  await line({ kind: 'trailer', rowCounts });
  await flush();
  return { rowCounts, auditHead: head, bytes };
}

/** An audit_events row as the export holds it (to_jsonb), as the chain check reads it. */
function auditRowOf(row: Record<string, unknown>): AuditRow {
  return { ...(row as unknown as AuditRow), seq: String(row.seq), at: new Date(row.at as string) };
}

export interface ExportVerdict {
  ok: boolean;
  tenantId: string | null;
  rowCounts: Record<string, number>;
  chain: ChainVerdict | null;
  problem: string | null;
}

/**
 * Checks an export offline (no database): it is whole (header, trailer, every table's rows as
 * counted) and its audit log recomputes, event by event, to the chain head the header names.
 * Compare that head with one kept elsewhere (a previous export, `brigade audit verify`) to
 * know the log was not rewritten as a whole.
 */
export async function verifyTenantExport(gzipped: Readable): Promise<ExportVerdict> {
  const lines = readline.createInterface({ input: gzipped.pipe(zlib.createGunzip()), crlfDelay: Infinity });
  const it = lines[Symbol.asyncIterator]();
  const first = await it.next();
  const header = first.done ? null : (JSON.parse(first.value) as { kind: string; format: string; tenant: { id: string }; auditHead: { seq: string; hash: string } });
  const fail = (problem: string, tenantId: string | null = null): ExportVerdict => ({ ok: false, tenantId, rowCounts: {}, chain: null, problem });
  if (!header || header.kind !== 'header' || header.format !== EXPORT_FORMAT) return fail(`not a ${EXPORT_FORMAT} file`);
  const tenantId = header.tenant.id;
  const counted: Record<string, number> = {};
  let trailer: { rowCounts: Record<string, number> } | null = null;
  // audit_erasures sorts before audit_events in the file: the map is full before the first event.
  const erased = new Map<string, string>();
  async function* auditRows(): AsyncGenerator<AuditRow> {
    for (let next = await it.next(); !next.done; next = await it.next()) {
      const entry = JSON.parse(next.value) as { kind: string; table?: string; row?: Record<string, unknown>; rowCounts?: Record<string, number> };
      if (entry.kind === 'trailer') trailer = { rowCounts: entry.rowCounts ?? {} };
      if (entry.kind !== 'row') continue;
      counted[entry.table!] = (counted[entry.table!] ?? 0) + 1;
      if (entry.table === 'audit_erasures') erased.set(String(entry.row!.seq), String(entry.row!.hash));
      if (entry.table === 'audit_events') yield auditRowOf(entry.row!);
    }
  }
  const chain = await verifyChainRows(tenantId, auditRows(), header.auditHead, erased);
  // The chain check stops at the first problem; read the rest for the counts.
  if (!chain.ok) return { ok: false, tenantId, rowCounts: counted, chain, problem: chain.problem!.detail };
  const end = trailer as { rowCounts: Record<string, number> } | null;
  if (!end) return { ok: false, tenantId, rowCounts: counted, chain, problem: 'the file is cut short: it has no trailer' };
  for (const [table, n] of Object.entries(end.rowCounts)) {
    if ((counted[table] ?? 0) !== n) return { ok: false, tenantId, rowCounts: counted, chain, problem: `table ${table} has ${counted[table] ?? 0} rows, the trailer says ${n}` };
  }
  return { ok: true, tenantId, rowCounts: counted, chain, problem: null };
}

/** Built by POST /v1/exports; a retry starts the file over. */
export const tenantExportJob = defineJob('tenant.export', Type.Object({ exportId: Type.String({ format: 'uuid' }) }), async (job) => {
  const hours = job.platform.config.BRIGADE_EXPORT_LINK_HOURS;
  // The owner role: some tables about the business (billing events, alerts) are not the runtime role's.
  await job.platform.tenancy.withSystem('export: read every table of one tenant', async (trx) => {
    const row = await trx.selectFrom('tenant_exports').select(['status']).where('tenant_id', '=', job.tenantId).where('id', '=', job.payload.exportId).forUpdate().executeTakeFirst();
    if (!row || row.status === 'ready') return;
    await trx.deleteFrom('tenant_export_chunks').where('tenant_id', '=', job.tenantId).where('export_id', '=', job.payload.exportId).execute();
    let seq = 0;
    const summary = await writeTenantExport(trx, job.tenantId, { exportId: job.payload.exportId, at: new Date() }, async (gz) => {
      await trx.insertInto('tenant_export_chunks').values({ tenant_id: job.tenantId, export_id: job.payload.exportId, seq: seq++, data: gz }).execute();
    });
    const now = new Date();
    await trx
      .updateTable('tenant_exports')
      .set({
        status: 'ready',
        ready_at: now,
        expires_at: new Date(now.getTime() + hours * 3600_000),
        bytes: String(summary.bytes),
        row_counts: JSON.stringify(summary.rowCounts),
        audit_head: JSON.stringify(summary.auditHead),
      })
      .where('tenant_id', '=', job.tenantId)
      .where('id', '=', job.payload.exportId)
      .execute();
    await recordAudit(trx, auditSourceOfSystem(job.tenantId, 'export job'), {
      action: 'tenant.export_ready',
      permission: null,
      target: { type: 'export', id: job.payload.exportId },
      changes: { after: { bytes: summary.bytes, rowCounts: summary.rowCounts, auditHead: summary.auditHead } },
    });
  }, { snapshot: true });
});

const PURGE_BATCH = 200;

/**
 * Deletes the files of exports whose link has expired, a batch of chunks per transaction (a
 * large business's file is many chunks of half a megabyte). The export's row stays: its status
 * reads `expired`, its counts and audit head remain for the record. Run by the hourly lifecycle
 * job; returns how many chunks it deleted.
 */
export async function purgeExpiredExports(platform: Platform, now: Date): Promise<number> {
  let purged = 0;
  for (;;) {
    const n = await platform.tenancy.withSystem('lifecycle: delete expired export files', async (trx) => {
      const res = await sql`DELETE FROM tenant_export_chunks WHERE ctid = ANY(ARRAY(
        SELECT c.ctid FROM tenant_export_chunks c JOIN tenant_exports e ON e.tenant_id = c.tenant_id AND e.id = c.export_id
         WHERE e.expires_at <= ${now} LIMIT ${PURGE_BATCH}))`.execute(trx);
      return Number(res.numAffectedRows ?? 0n);
    });
    purged += n;
    if (n < PURGE_BATCH) return purged;
  }
}

type ExportRow = { id: string; status: 'pending' | 'ready'; created_at: Date; ready_at: Date | null; expires_at: Date | null; bytes: string | null; audit_head: { seq: string; hash: string } | null };

export function exportView(row: ExportRow, now: Date) {
  const expired = row.expires_at !== null && row.expires_at <= now;
  return {
    id: row.id,
    status: expired ? ('expired' as const) : row.status,
    createdAt: row.created_at.toISOString(),
    readyAt: row.ready_at?.toISOString() ?? null,
    expiresAt: row.expires_at?.toISOString() ?? null,
    bytes: row.bytes === null ? null : Number(row.bytes),
    auditHead: row.audit_head,
    downloadUrl: row.status === 'ready' && !expired ? `/v1/exports/${row.id}/download` : null,
  };
}

export function exportsService(platform: Platform, opts: { now?: () => Date; chunkBytes?: number } = {}) {
  const { tenancy } = platform;
  const now = opts.now ?? (() => new Date());
  const columns = ['id', 'status', 'created_at', 'ready_at', 'expires_at', 'bytes', 'audit_head'] as const;

  return {
    async requestExport(scope: Scope) {
      return tenancy.withTenant(scope, async (trx) => {
        const row = await trx.insertInto('tenant_exports').values({ tenant_id: scope.tenantId, requested_by: scope.userId, requested_by_operator: null }).returning(columns).executeTakeFirstOrThrow();
        await tenantExportJob.later(trx, scope.tenantId, { exportId: row.id });
        await recordAudit(trx, auditSourceOfUser(scope), { action: 'tenant.export_requested', permission: 'settings.manage', target: { type: 'export', id: row.id }, changes: {} });
        return { export: exportView(row as ExportRow, now()) };
      });
    },

    async getExport(scope: Scope, id: string) {
      const row = await tenancy.readAsTenant(scope, (trx) => trx.selectFrom('tenant_exports').select(columns).where('tenant_id', '=', scope.tenantId).where('id', '=', id).executeTakeFirst());
      if (!row) throw notFound('export');
      return { export: exportView(row as ExportRow, now()) };
    },

    /** The file as a stream of its chunks; the download is audited before the first byte. 404 for another business. */
    async downloadExport(scope: Scope, id: string): Promise<{ stream: Readable; bytes: number }> {
      const row = await tenancy.withTenant(scope, async (trx) => {
        const found = await trx.selectFrom('tenant_exports').select(columns).where('tenant_id', '=', scope.tenantId).where('id', '=', id).executeTakeFirst();
        if (!found) throw notFound('export');
        const view = exportView(found as ExportRow, now());
        if (view.status === 'expired') throw new AppError('export_expired', 'This export\'s download link has expired. Request a new export.', { expiredAt: view.expiresAt });
        if (view.status !== 'ready') throw new AppError('invalid_state', 'This export is still being built. Try again when its status is ready.', { exportStatus: view.status });
        await recordAudit(trx, auditSourceOfUser(scope), { action: 'tenant.export_downloaded', permission: 'settings.manage', target: { type: 'export', id }, changes: { bytes: view.bytes } });
        return found;
      });
      const tenantId = scope.tenantId;
      async function* chunks() {
        for (let seq = 0; ; seq++) {
          const chunk = await tenancy.readAsTenant({ tenantId }, (trx) =>
            trx.selectFrom('tenant_export_chunks').select('data').where('tenant_id', '=', tenantId).where('export_id', '=', id).where('seq', '=', seq).executeTakeFirst(),
          );
          if (!chunk) return;
          yield chunk.data;
        }
      }
      return { stream: Readable.from(chunks()), bytes: Number(row.bytes) };
    },

    /** `brigade tenants export`: the same file, written straight to `sink`, audited in the tenant's log. */
    async exportForOperator(tenantId: string, operator: string, sink: (gz: Buffer) => Promise<void>): Promise<ExportSummary> {
      return tenancy.withSystem('export: read every table of one tenant (operator)', async (trx) => {
        const at = now();
        const summary = await writeTenantExport(trx, tenantId, { exportId: null, at, chunkBytes: opts.chunkBytes }, sink);
        await recordAudit(trx, auditSourceOfSystem(tenantId, `operator ${operator} (brigade tenants export)`), {
          action: 'tenant.exported_by_operator',
          permission: null,
          target: { type: 'tenant', id: tenantId },
          changes: { after: { bytes: summary.bytes, rowCounts: summary.rowCounts, auditHead: summary.auditHead } },
        });
        return summary;
      }, { snapshot: true });
    },
  };
}

export type ExportsService = ReturnType<typeof exportsService>;
