export {
  permissions, allPermissions, systemRoles, isPermission, isSystemRole, actions, allActions, isAction, branchDelegableRoles,
  type Permission, type SystemRoleKey, type PermissionInfo, type Action, type ActionInfo,
} from './catalogue.ts';
export { computeGrants, intersectGrants, grantsWithin, can, canSomewhere, branchesWith, grantsToList, explainDenial, permissionsOfRole, type Grants, type RoleAssignment, type CustomRoleDefinitions } from './grants.ts';
export {
  accessPlugin, assertCan, assertEntitled, forbidden, scopeOf, operatorOf, branchFromBody, requiredPermission,
  type RouteAccess, type BranchResolver, type Entitlement, type GuardedRoute,
} from './access.plugin.ts';
export { assertMayChangeAssignments, assignmentDiff, type AssignmentChange } from './delegation.ts';
export { permissionManifest } from './manifest.ts';
export { accessRoutes } from './access.routes.ts';
export { PermissionName } from './access.schemas.ts';
