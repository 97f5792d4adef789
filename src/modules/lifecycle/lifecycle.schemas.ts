import { Type } from 'typebox';

const Nullable = <T extends ReturnType<typeof Type.String>>(t: T) => Type.Union([t, Type.Null()]);

export const ExportView = Type.Object({
  id: Type.String({ format: 'uuid' }),
  status: Type.Enum(['pending', 'ready', 'expired']),
  createdAt: Type.String({ format: 'date-time' }),
  readyAt: Nullable(Type.String({ format: 'date-time' })),
  expiresAt: Nullable(Type.String({ format: 'date-time', description: 'When the download link stops working' })),
  bytes: Type.Union([Type.Integer(), Type.Null()]),
  auditHead: Type.Union([Type.Object({ seq: Type.String(), hash: Type.String() }), Type.Null()], { description: 'The audit chain head the export verifies to' }),
  downloadUrl: Nullable(Type.String({ description: 'GET it with the same bearer: a gzip of JSON Lines (brigade export verify checks it offline)' })),
});
export const ExportResponse = Type.Object({ export: ExportView });
