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
      reason: Type.Union([Type.String(), Type.Null()], { description: 'Why not, as the 403 (or, when the plan blocks every route of the action, the 402) would say it; null when allowed' }),
      planBlock: Type.Union(
        [
          Type.Object({
            code: Type.Enum(['plan_limit_reached', 'feature_not_in_plan']),
            feature: Type.Union([Type.String(), Type.Null()]),
            limit: Type.Union([Type.String(), Type.Null()]),
            current: Type.Unknown({ description: 'As in the 402: the usage, or the current plan for a feature' }),
            allowed: Type.Unknown({ description: 'As in the 402: the allowance, or the plans that include the feature' }),
            upgradeTo: Type.Union([Type.String(), Type.Null()], { description: 'The cheapest plan that allows it' }),
            plan: Type.Union([Type.String(), Type.Null()], { description: 'The plan the business is on' }),
            detail: Type.String({ description: 'The sentence the 402 carries' }),
            operations: Type.Array(Type.String(), { description: 'The operations (METHOD /path) the plan blocks' }),
          }),
          Type.Null(),
        ],
        { description: 'What the plan withholds from this action (the 402 its routes answer); null when nothing' },
      ),
    }),
  ),
});
