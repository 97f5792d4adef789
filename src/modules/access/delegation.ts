import { AppError } from '../../platform/errors/index.ts';
import type { Scope } from '../../platform/auth/scope.ts';
import { permissions, branchDelegableRoles, isSystemRole, systemRoles, type Permission } from './catalogue.ts';
import { can, permissionsOfRole, type CustomRoleDefinitions, type RoleAssignment } from './grants.ts';
import { assertCan } from './access.plugin.ts';

/**
 * Who may grant what. A change of someone's roles is judged by the assignments it adds or takes
 * away (for a new member: all of theirs; for a removal: all they had):
 * - nobody changes their own roles or removes themselves;
 * - without roles.manage, members.manage in a branch covers cashiers of that branch only;
 * - members.manage must hold where each touched assignment applies;
 * - nobody gives or takes away a role holding a permission they do not hold there themselves.
 * The last owner is the service's check: it needs the owners locked in the same transaction.
 */
export interface AssignmentChange {
  kind: 'create' | 'change' | 'remove';
  targetUserId: string | null;
  before: readonly RoleAssignment[];
  after: readonly RoleAssignment[];
  /** Permissions of every custom role named in `before` and `after`. */
  custom: CustomRoleDefinitions;
}

const sameAssignment = (a: RoleAssignment, b: RoleAssignment) => a.role === b.role && a.branchId === b.branchId;

/** Assignments in `after` but not `before`, and the reverse. */
export function assignmentDiff(before: readonly RoleAssignment[], after: readonly RoleAssignment[]) {
  return {
    added: after.filter((a) => !before.some((b) => sameAssignment(a, b))),
    removed: before.filter((b) => !after.some((a) => sameAssignment(a, b))),
  };
}

function roleName(role: string): string {
  return isSystemRole(role) ? `the ${systemRoles[role].name.toLowerCase()} role` : `the ${role} role`;
}

function where(branchId: string | null): string {
  return branchId === null ? 'for the whole business' : 'in that branch';
}

/** Throws 403 when the change is not the caller's to make; otherwise names the permission it used. */
export function assertMayChangeAssignments(scope: Scope, change: AssignmentChange): 'members.manage' | 'roles.manage' {
  if (change.targetUserId === scope.userId) {
    throw new AppError(
      'cannot_change_own_roles',
      change.kind === 'remove'
        ? 'You cannot remove yourself from the business: ask another member who manages members.'
        : 'You cannot change your own roles: ask another member who manages roles.',
    );
  }
  const { added, removed } = assignmentDiff(change.before, change.after);
  const touched = [...added, ...removed];
  if (change.kind === 'remove' && touched.length === 0) assertCan(scope, 'members.manage', null);

  const mayManageRoles = can(scope.grants, 'roles.manage', null);
  const delegable = (a: RoleAssignment) => a.branchId !== null && (branchDelegableRoles as readonly string[]).includes(a.role);
  for (const a of touched) {
    const verb = added.includes(a) ? 'Giving' : 'Taking away';
    if (!mayManageRoles && !delegable(a)) {
      throw new AppError(
        'forbidden',
        `${verb} ${roleName(a.role)}${a.branchId === null ? ' for the whole business' : ''} requires the roles.manage permission for the whole business, which you do not have. ` +
          'Without it, members.manage lets you add, change and remove cashiers of your own branch only.',
        { requiredPermission: 'roles.manage', scope: { tenant: true } },
      );
    }
    assertCan(scope, 'members.manage', a.branchId);
    for (const p of permissionsOfRole(a.role, change.custom)) {
      // A branch assignment never carries a tenant-level permission, so it needs none either.
      if (a.branchId !== null && permissions[p].level === 'tenant') continue;
      if (!can(scope.grants, p, a.branchId)) throw unheld(a, p, verb);
    }
  }
  return touched.every(delegable) ? 'members.manage' : 'roles.manage';
}

function unheld(a: RoleAssignment, p: Permission, verb: string): AppError {
  return new AppError(
    'forbidden',
    `${verb} ${roleName(a.role)} needs every permission it carries, and you do not hold ${p} ${where(a.branchId)}: nobody grants more than they hold.`,
    { requiredPermission: p, scope: a.branchId === null ? { tenant: true } : { branchId: a.branchId } },
  );
}
