export { permissions, allPermissions, systemRoles, isPermission, isSystemRole, type Permission, type SystemRoleKey, type PermissionInfo } from './catalogue.ts';
export { computeGrants, can, canSomewhere, branchesWith, grantsToList, explainDenial, permissionsOfRole, type Grants, type RoleAssignment } from './grants.ts';
export { accessPlugin, assertCan, forbidden, scopeOf, operatorOf, branchFromBody, type RouteAccess, type BranchResolver, type Entitlement, type GuardedRoute } from './access.plugin.ts';
