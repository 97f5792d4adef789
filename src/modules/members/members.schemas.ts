import { Type, type Static } from 'typebox';
import { PageQuery } from '../../platform/http/pagination.ts';
import { Email, Password, PersonName } from '../identity/index.ts';
import { PermissionName, allPermissions } from '../access/index.ts';
import { Uuid } from '../../platform/http/schemas.ts';


export const RoleGrant = Type.Object(
  {
    role: Type.String({ minLength: 1, maxLength: 40, description: 'Key of a system or custom role' }),
    branchId: Type.Optional(Type.Union([Uuid, Type.Null()], { description: 'The branch it applies to; absent or null for the whole business' })),
  },
  { additionalProperties: false },
);
export type RoleGrantInput = Static<typeof RoleGrant>;

export const MemberStatus = Type.Enum(['active', 'invited', 'removed']);

export const MemberView = Type.Object({
  id: Uuid,
  userId: Uuid,
  name: Type.String(),
  email: Type.String(),
  roles: Type.Array(Type.Object({ role: Type.String(), branchId: Type.Union([Type.String(), Type.Null()]) })),
  status: MemberStatus,
  createdAt: Type.String({ format: 'date-time', maxLength: 40 }),
});
export type MemberView = Static<typeof MemberView>;

export const MemberResponse = Type.Object({ member: MemberView });

export const MembersQuery = Type.Object(
  { ...PageQuery, status: Type.Optional(Type.Enum(['active', 'invited', 'removed'], { description: 'Only members in this state (default: active and invited)' })) },
  { additionalProperties: false },
);
export type MembersQuery = Static<typeof MembersQuery>;

export const MemberParams = Type.Object({ id: Uuid });

export const CreateMemberBody = Type.Object(
  {
    name: PersonName,
    email: Email,
    password: Type.Optional(Password),
    roles: Type.Array(RoleGrant, { minItems: 1, maxItems: 50 }),
  },
  { additionalProperties: false },
);
export type CreateMemberInput = Static<typeof CreateMemberBody>;

export const ChangeRolesBody = Type.Object({ roles: Type.Array(RoleGrant, { maxItems: 50 }) }, { additionalProperties: false });

export const AcceptInvitationBody = Type.Object(
  { token: Type.String({ minLength: 10, maxLength: 200 }), password: Password, name: Type.Optional(PersonName) },
  { additionalProperties: false },
);
export type AcceptInvitationInput = Static<typeof AcceptInvitationBody>;

export const RoleView = Type.Object({
  key: Type.String(),
  name: Type.String(),
  description: Type.String(),
  permissions: Type.Array(Type.String()),
  system: Type.Boolean({ description: 'System roles are defined by Brigade and never change' }),
});
export type RoleView = Static<typeof RoleView>;

export const CreateRoleBody = Type.Object(
  {
    key: Type.String({ pattern: '^[a-z][a-z0-9_]{1,39}$', maxLength: 40, description: 'Lowercase letters, digits and _, starting with a letter (2 to 40 characters)' }),
    name: Type.String({ minLength: 1, maxLength: 100 }),
    description: Type.Optional(Type.String({ maxLength: 500 })),
    permissions: Type.Array(PermissionName, { minItems: 1, maxItems: allPermissions.length, uniqueItems: true }),
  },
  { additionalProperties: false },
);
export type CreateRoleInput = Static<typeof CreateRoleBody>;

export const RoleParams = Type.Object({ key: Type.String({ pattern: '^[a-z][a-z0-9_]{1,39}$', maxLength: 40 }) }, { additionalProperties: false });

export const UpdateRoleBody = Type.Object(
  {
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
    description: Type.Optional(Type.String({ maxLength: 500 })),
    permissions: Type.Optional(Type.Array(PermissionName, { minItems: 1, maxItems: allPermissions.length, uniqueItems: true })),
  },
  { additionalProperties: false, minProperties: 1 },
);
export type UpdateRoleInput = Static<typeof UpdateRoleBody>;

export const InvitationResent = Type.Object({
  member: MemberView,
  invitation: Type.Object({ expiresAt: Type.String({ format: 'date-time' }), sendsLeftThisHour: Type.Integer({ minimum: 0 }) }),
});

export const RolesQuery = Type.Object(PageQuery, { additionalProperties: false });
