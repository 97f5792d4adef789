import { Type } from 'typebox';
import { allPermissions, allActions } from './catalogue.ts';

const Nullable = <T extends ReturnType<typeof Type.String>>(t: T) => Type.Union([t, Type.Null()]);

export const PermissionName = Type.Enum(allPermissions, { description: 'A permission of the catalogue' });

export const PermissionManifest = Type.Object({
  permissions: Type.Array(Type.Object({ permission: Type.String(), branchId: Nullable(Type.String()) })),
  actions: Type.Array(
    Type.Object({
      action: Type.Enum(allActions),
      label: Type.String(),
      allowed: Type.Boolean(),
      requiredPermission: Type.String(),
      branchIds: Type.Union([Type.Array(Type.String()), Type.Null()], {
        description: 'Where the action is allowed: null for everywhere, else these branches (empty when not allowed)',
      }),
      reason: Type.Union([Type.String(), Type.Null()], { description: 'Why not, as a 403 for this action would say it; null when allowed' }),
    }),
  ),
});
