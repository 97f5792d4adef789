import { Type, type Static } from 'typebox';
import { PageQuery } from '../../platform/http/pagination.ts';

const Nullable = <T extends ReturnType<typeof Type.String>>(t: T) => Type.Union([t, Type.Null()]);

const filters = {
  action: Type.Optional(Type.String({ minLength: 1, maxLength: 100, description: 'An action ("member.roles_changed") or a family ("member.*")' })),
  actorId: Type.Optional(Type.String({ format: 'uuid', description: 'Events by this user (or operator, or API key)' })),
  targetType: Type.Optional(Type.String({ minLength: 1, maxLength: 50 })),
  targetId: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
  from: Type.Optional(Type.String({ format: 'date-time', description: 'Events at or after this instant' })),
  to: Type.Optional(Type.String({ format: 'date-time', description: 'Events before this instant' })),
};

export const AuditQuery = Type.Object({ ...PageQuery, ...filters }, { additionalProperties: false });
export type AuditQuery = Static<typeof AuditQuery>;

export const AuditExportQuery = Type.Object(
  { ...filters, format: Type.Enum(['csv', 'jsonl'], { description: 'CSV, or JSON Lines (one event per line)' }) },
  { additionalProperties: false },
);
export type AuditExportQuery = Static<typeof AuditExportQuery>;

export const AuditEventView = Type.Object({
  id: Type.String({ format: 'uuid' }),
  seq: Type.String({ description: 'Position in the tenant\'s hash chain' }),
  at: Type.String({ format: 'date-time' }),
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
