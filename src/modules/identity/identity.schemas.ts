import { Type, type Static } from 'typebox';
import { Uuid } from '../../platform/http/schemas.ts';

export const Email = Type.String({ format: 'email', maxLength: 254, description: 'E-mail address' });
export const Password = Type.String({ minLength: 8, maxLength: 200, description: 'At least 8 characters' });
export const PersonName = Type.String({ minLength: 1, maxLength: 200 });

export const SignupBody = Type.Object(
  {
    businessName: Type.String({ minLength: 1, maxLength: 200 }),
    name: PersonName,
    email: Email,
    password: Password,
    currency: Type.Optional(Type.String({ pattern: '^[A-Z]{3}$', maxLength: 3, description: 'ISO 4217 code; default EUR' })),
    timezone: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: 'IANA time zone; default UTC' })),
  },
  { additionalProperties: false },
);
export type SignupInput = Static<typeof SignupBody>;

export const LoginBody = Type.Object(
  {
    email: Email,
    password: Type.String({ minLength: 1, maxLength: 200 }),
    tenant: Type.Optional(Type.String({ minLength: 1, maxLength: 100, description: 'Slug or id of the tenant, when the address belongs to several' })),
  },
  { additionalProperties: false },
);
export type LoginInput = Static<typeof LoginBody>;

export const PasswordResetBody = Type.Object(
  {
    email: Email,
    tenant: Type.Optional(Type.String({ minLength: 1, maxLength: 100, description: 'Slug or id of the tenant; without it every account of the address gets a mail' })),
  },
  { additionalProperties: false },
);
export type PasswordResetInput = Static<typeof PasswordResetBody>;

export const PasswordResetAccepted = Type.Object({ status: Type.Literal('accepted'), detail: Type.String() });

export const PasswordResetConfirmBody = Type.Object(
  {
    token: Type.String({ minLength: 10, maxLength: 200, description: 'The token from the mail link' }),
    password: Password,
  },
  { additionalProperties: false },
);
export type PasswordResetConfirmInput = Static<typeof PasswordResetConfirmBody>;

export const TenantView = Type.Object({
  id: Uuid,
  name: Type.String(),
  slug: Type.String(),
  currency: Type.String(),
  timezone: Type.String(),
});

export const UserView = Type.Object({
  id: Uuid,
  email: Type.String(),
  name: Type.String(),
});

export const SessionResponse = Type.Object({ tenant: TenantView, user: UserView, token: Type.String() });

export const RoleGrantView = Type.Object({ role: Type.String(), branchId: Type.Union([Type.String(), Type.Null()]) });
export const PermissionGrantView = Type.Object({ permission: Type.String(), branchId: Type.Union([Type.String(), Type.Null()]) });

export const MeResponse = Type.Object({
  user: UserView,
  tenant: TenantView,
  roles: Type.Array(RoleGrantView),
  permissions: Type.Array(PermissionGrantView),
});

export const OperatorLoginBody = Type.Object(
  { email: Email, password: Type.String({ minLength: 1, maxLength: 200 }) },
  { additionalProperties: false },
);
