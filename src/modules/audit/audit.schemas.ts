import type { Readable } from 'node:stream';
import { Type, type Static } from 'typebox';
import { PageQuery } from '../../platform/http/pagination.ts';
import { Uuid } from '../../platform/http/schemas.ts';

const Nullable = <T extends ReturnType<typeof Type.String>>(t: T) => Type.Union([t, Type.Null()]);

const filters = {
  action: Type.Optional(Type.String({ minLength: 1, maxLength: 100, description: 'An action ("member.roles_changed") or a family ("member.*")' })),
  actorId: Type.Optional(Type.String({ format: 'uuid', maxLength: 36, description: 'Events by this user (or operator, or API key)' })),
  targetType: Type.Optional(Type.String({ minLength: 1, maxLength: 50 })),
  targetId: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
  from: Type.Optional(Type.String({ format: 'date-time', maxLength: 40, description: 'Events at or after this instant' })),
  to: Type.Optional(Type.String({ format: 'date-time', maxLength: 40, description: 'Events before this instant' })),
};

export const AuditQuery = Type.Object({ ...PageQuery, ...filters }, { additionalProperties: false });
export type AuditQuery = Static<typeof AuditQuery>;

export const AuditExportQuery = Type.Object(
  { ...filters, format: Type.Enum(['csv', 'jsonl'], { description: 'CSV, or JSON Lines (one event per line)' }) },
  { additionalProperties: false },
);
export type AuditExportQuery = Static<typeof AuditExportQuery>;

export const AuditEventView = Type.Object({
  id: Uuid,
  seq: Type.String({ description: 'Position in the tenant\'s hash chain' }),
  at: Type.String({ format: 'date-time', maxLength: 40 }),
  actor: Type.Object({
    type: Type.Enum(['user', 'operator', 'system', 'api_key']),
    userId: Nullable(Type.String()),
    operatorId: Nullable(Type.String()),
    apiKeyId: Nullable(Type.String({ description: 'The API key that acted (actor type api_key)' })),
    name: Nullable(Type.String()),
  }),
  action: Type.String(),
  permission: Nullable(Type.String({ description: 'The permission the actor used' })),
  target: Type.Union([Type.Object({ type: Type.String(), id: Type.String() }), Type.Null()]),
  changes: Type.Record(Type.String(), Type.Unknown()),
  requestId: Nullable(Type.String()),
  ip: Nullable(Type.String()),
  userAgent: Nullable(Type.String()),
  hash: Type.String(),
});
export type AuditEventView = Static<typeof AuditEventView>;

/** The export is a file, not JSON: one event per line (JSON Lines) or a CSV with a header row, streamed. */
const File = (description: string) => Type.Unsafe<Readable | string>({ type: 'string', description });
export const AuditExportFile = {
  description: 'The file, sent as an attachment (Content-Disposition names it), oldest event first',
  content: {
    'application/jsonl': { schema: File('One audit event per line, as in GET /v1/audit-events') },
    'text/csv': { schema: File('A header row, then one event per row') },
  },
};

export const ChainVerdictView = Type.Object({
  tenantId: Type.String({ format: 'uuid' }),
  ok: Type.Boolean({ description: 'true: every event is intact and the chain is complete' }),
  checked: Type.Integer({ description: 'Events read and found intact before the first problem (all of them when ok)' }),
  head: Type.Object({ seq: Type.String(), hash: Type.String({ description: 'Keep a copy elsewhere: it proves later that nothing before it was rewritten' }) }),
  problem: Type.Union([
    Type.Object({
      kind: Type.Union([Type.Literal('altered'), Type.Literal('missing')]),
      seq: Type.String(),
      id: Type.Union([Type.String({ format: 'uuid' }), Type.Null()]),
      detail: Type.String(),
    }),
    Type.Null(),
  ]),
});
