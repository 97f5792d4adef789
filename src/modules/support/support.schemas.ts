import { Type, type Static } from 'typebox';
import { PageQuery } from '../../platform/http/pagination.ts';
import { Uuid } from '../../platform/http/schemas.ts';

const Nullable = <T extends ReturnType<typeof Type.String>>(t: T) => Type.Union([t, Type.Null()]);

export const GrantSupportBody = Type.Object(
  {
    reason: Type.String({ minLength: 1, maxLength: 500, description: 'Why support needs access; shown to operators and kept in the audit log' }),
    expiresAt: Type.Optional(Type.String({ format: 'date-time', maxLength: 40, description: 'When access ends (give this or durationMinutes)' })),
    durationMinutes: Type.Optional(Type.Integer({ minimum: 1, maximum: 525_600, description: 'How long access lasts, in minutes (give this or expiresAt); at most BRIGADE_SUPPORT_GRANT_MAX_HOURS' })),
  },
  { additionalProperties: false },
);
export type GrantSupportInput = Static<typeof GrantSupportBody>;

export const SupportGrantView = Type.Object({
  id: Uuid,
  reason: Type.String(),
  status: Type.Enum(['active', 'expired', 'revoked']),
  grantedBy: Type.Object({ userId: Type.String(), name: Nullable(Type.String()) }),
  createdAt: Type.String({ format: 'date-time', maxLength: 40 }),
  expiresAt: Type.String({ format: 'date-time', maxLength: 40 }),
  revokedAt: Nullable(Type.String({ format: 'date-time', maxLength: 40 })),
});
export type SupportGrantView = Static<typeof SupportGrantView>;

export const SupportGrantResponse = Type.Object({ supportGrant: SupportGrantView });
export const SupportGrantsQuery = Type.Object(PageQuery, { additionalProperties: false });
export const GrantParams = Type.Object({ id: Uuid });
export const TenantParams = Type.Object({ tenantId: Uuid });

/** For operators: where they may read now (grant metadata, no tenant data). */
export const OpenGrantPage = Type.Object({
  data: Type.Array(
    Type.Object({
      id: Uuid,
      tenant: Type.Object({ id: Uuid, name: Type.String(), slug: Type.String() }),
      reason: Type.String(),
      createdAt: Type.String({ format: 'date-time', maxLength: 40 }),
      expiresAt: Type.String({ format: 'date-time', maxLength: 40 }),
    }),
  ),
  nextCursor: Nullable(Type.String()),
});
