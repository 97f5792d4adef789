import type { Scope } from '../../platform/auth/scope.ts';
import { actions, allActions } from './catalogue.ts';
import { can, canSomewhere, branchesWith, grantsToList } from './grants.ts';
import { forbidden } from './access.plugin.ts';

/**
 * What the caller may do, for a UI to show, disable and explain without rules of its own.
 * `allowed` is decided exactly as a route performing the action decides its first check, and
 * `reason` is the sentence that route's 403 would carry.
 */
export function permissionManifest(scope: Scope) {
  return {
    permissions: grantsToList(scope.grants),
    actions: allActions.map((action) => {
      const { permission, where, label } = actions[action];
      const allowed = where === 'tenant' ? can(scope.grants, permission, null) : canSomewhere(scope.grants, permission);
      const branches = branchesWith(scope.grants, permission);
      return {
        action,
        label,
        allowed,
        requiredPermission: permission,
        branchIds: !allowed ? [] : branches === 'all' || where === 'tenant' ? null : branches,
        reason: allowed ? null : forbidden(scope, permission, null).detail,
      };
    }),
  };
}
