import { Type, type Static } from 'typebox';
import { PageQuery } from '../../platform/http/pagination.ts';
import { PermissionName } from '../access/index.ts';

const Nullable = <T extends ReturnType<typeof Type.String>>(t: T) => Type.Union([t, Type.Null()]);

export const CreateApiKeyBody = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 100, description: 'What the key is for ("Till 3", "Accounting export")' }),
    role: Type.Optional(Type.String({ minLength: 1, maxLength: 40, description: 'A system or custom role the key acts with (give this or permissions)' })),
    permissions: Type.Optional(Type.Array(PermissionName, { minItems: 1, maxItems: 50, uniqueItems: true, description: 'The permissions the key holds (give this or role)' })),
    branchId: Type.Optional(Type.String({ format: 'uuid', maxLength: 36, description: 'Limit the key to one branch (branch-level permissions only)' })),
    expiresAt: Type.Optional(Type.String({ format: 'date-time', maxLength: 40, description: 'When the key stops working; none: until revoked' })),
  },
  { additionalProperties: false },
);
export type CreateApiKeyInput = Static<typeof CreateApiKeyBody>;

export const ApiKeyView = Type.Object({
  id: Type.String({ format: 'uuid' }),
  name: Type.String(),
  hint: Type.String({ description: 'The first characters of the secret, to tell keys apart' }),
  role: Nullable(Type.String()),
  permissions: Type.Union([Type.Array(Type.String()), Type.Null()]),
  branchId: Nullable(Type.String({ format: 'uuid' })),
  status: Type.Enum(['active', 'expired', 'revoked']),
  createdBy: Type.Object({ userId: Type.String(), name: Nullable(Type.String()) }),
  createdAt: Type.String({ format: 'date-time' }),
  expiresAt: Nullable(Type.String({ format: 'date-time' })),
  revokedAt: Nullable(Type.String({ format: 'date-time' })),
  lastUsedAt: Nullable(Type.String({ format: 'date-time', description: 'Last request made with the key (written in batches: up to BRIGADE_API_KEY_LAST_USE_FLUSH_SECONDS late)' })),
});
export type ApiKeyView = Static<typeof ApiKeyView>;

export const CreatedApiKey = Type.Object({
  apiKey: ApiKeyView,
  secret: Type.String({ description: 'The bearer token. Shown this once: Brigade keeps only its hash' }),
});
export const ApiKeysQuery = Type.Object(PageQuery, { additionalProperties: false });
export const ApiKeyParams = Type.Object({ id: Type.String({ format: 'uuid', maxLength: 36 }) });
