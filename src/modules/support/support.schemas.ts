import { Type, type Static } from 'typebox';
import { PageQuery } from '../../platform/http/pagination.ts';

const Nullable = <T extends ReturnType<typeof Type.String>>(t: T) => Type.Union([t, Type.Null()]);

export const GrantSupportBody = Type.Object(
  {
    reason: Type.String({ minLength: 1, maxLength: 500, description: 'Why support needs access; shown to operators and kept in the audit log' }),
    expiresAt: Type.Optional(Type.String({ format: 'date-time', description: 'When access ends (give this or durationMinutes)' })),
    durationMinutes: Type.Optional(Type.Integer({ minimum: 1, description: 'How long access lasts (give this or expiresAt)' })),
  },
  { additionalProperties: false },
);
export type GrantSupportInput = Static<typeof GrantSupportBody>;

export const SupportGrantView = Type.Object({
  id: Type.String({ format: 'uuid' }),
  reason: Type.String(),
  status: Type.Enum(['active', 'expired', 'revoked']),
  grantedBy: Type.Object({ userId: Type.String(), name: Nullable(Type.String()) }),
  createdAt: Type.String({ format: 'date-time' }),
  expiresAt: Type.String({ format: 'date-time' }),
  revokedAt: Nullable(Type.String({ format: 'date-time' })),
});
export type SupportGrantView = Static<typeof SupportGrantView>;

export const SupportGrantResponse = Type.Object({ supportGrant: SupportGrantView });
export const SupportGrantsQuery = Type.Object(PageQuery, { additionalProperties: false });
export const GrantParams = Type.Object({ id: Type.String({ format: 'uuid' }) });
export const TenantParams = Type.Object({ tenantId: Type.String({ format: 'uuid' }) });

/** For operators: where they may read now (grant metadata, no tenant data). */
export const OpenGrantPage = Type.Object({
  data: Type.Array(
    Type.Object({
      id: Type.String({ format: 'uuid' }),
      tenant: Type.Object({ id: Type.String({ format: 'uuid' }), name: Type.String(), slug: Type.String() }),
      reason: Type.String(),
      createdAt: Type.String({ format: 'date-time' }),
      expiresAt: Type.String({ format: 'date-time' }),
    }),
  ),
  nextCursor: Nullable(Type.String()),
});
