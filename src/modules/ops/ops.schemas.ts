import { Type } from 'typebox';
import { listableStates } from '../../platform/jobs/index.ts';

const Limit = Type.Integer({ minimum: 1, maximum: 200, default: 50 });

export const JobsQuery = Type.Object(
  {
    state: Type.Union(listableStates.map((s) => Type.Literal(s)), { default: 'dead', description: 'dead, failed (waiting for a retry), completed, waiting, active or delayed' }),
    tenantId: Type.Optional(Type.String({ maxLength: 64 })),
    type: Type.Optional(Type.String({ maxLength: 100 })),
    queue: Type.Optional(Type.String({ maxLength: 64 })),
    limit: Limit,
    cursor: Type.Optional(Type.String({ maxLength: 500 })),
  },
  { additionalProperties: false },
);

export const JobParams = Type.Object({ queue: Type.String({ maxLength: 64 }), id: Type.String({ maxLength: 200 }) });

export const JobActionBody = Type.Object(
  { reason: Type.Optional(Type.String({ maxLength: 1000, description: 'Why; kept with the record of the action' })) },
  { additionalProperties: false },
);

export const BulkActionBody = Type.Object(
  {
    state: Type.Optional(Type.Literal('dead')),
    queue: Type.Optional(Type.String({ maxLength: 64 })),
    tenantId: Type.Optional(Type.String({ format: 'uuid' })),
    type: Type.Optional(Type.String({ maxLength: 100 })),
    reason: Type.Optional(Type.String({ maxLength: 1000 })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, description: 'At most this many jobs (default 100), oldest first' })),
  },
  { additionalProperties: false },
);

export const MailsQuery = Type.Object(
  {
    to: Type.Optional(Type.String({ maxLength: 254 })),
    tenantId: Type.Optional(Type.String({ maxLength: 64 })),
    limit: Limit,
    cursor: Type.Optional(Type.String({ maxLength: 500 })),
  },
  { additionalProperties: false },
);
