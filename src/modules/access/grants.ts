import { permissions, systemRoles, isSystemRole, isPermission, type Permission } from './catalogue.ts';

export interface RoleAssignment {
  role: string;
  branchId: string | null;
}

/** For each permission held: the whole tenant, or the set of branches it holds in. */
export type Grants = ReadonlyMap<Permission, 'tenant' | ReadonlySet<string>>;

/** Custom roles of the tenant that the assignments name: key → permissions. */
export type CustomRoleDefinitions = Readonly<Record<string, readonly string[]>>;

export function permissionsOfRole(role: string, custom: CustomRoleDefinitions): Permission[] {
  if (isSystemRole(role)) return [...systemRoles[role].permissions];
  return (custom[role] ?? []).filter(isPermission);
}

/** Permissions that include a narrower one: whoever reads every order reads the open ones. */
const implied: Partial<Record<Permission, readonly Permission[]>> = { 'orders.read': ['orders.read_open'] };

export function computeGrants(assignments: readonly RoleAssignment[], custom: CustomRoleDefinitions): Grants {
  const grants = new Map<Permission, 'tenant' | Set<string>>();
  for (const a of assignments) {
    for (const p of permissionsOfRole(a.role, custom).flatMap((held) => [held, ...(implied[held] ?? [])])) {
      const held = grants.get(p);
      if (held === 'tenant') continue;
      if (a.branchId === null) {
        grants.set(p, 'tenant');
      } else if (permissions[p].level === 'branch') {
        // A tenant-level permission (billing, roles, ...) is never given by a branch grant.
        grants.set(p, new Set([...(held ?? []), a.branchId]));
      }
    }
  }
  return grants;
}

/**
 * What both sets of grants allow: a permission held in both, in the branches both hold it in
 * (an API key is never more than its creator holds now).
 */
export function intersectGrants(a: Grants, b: Grants): Grants {
  const out = new Map<Permission, 'tenant' | ReadonlySet<string>>();
  for (const [permission, inA] of a) {
    const inB = b.get(permission);
    if (inB === undefined) continue;
    if (inA === 'tenant') out.set(permission, inB);
    else if (inB === 'tenant') out.set(permission, inA);
    else {
      const both = new Set([...inA].filter((branch) => inB.has(branch)));
      if (both.size > 0) out.set(permission, both);
    }
  }
  return out;
}

/** The permissions `inner` holds beyond `outer` (not at all, or in more places): empty when it is within. */
export function grantsWithin(inner: Grants, outer: Grants): Permission[] {
  const beyond: Permission[] = [];
  for (const [permission, held] of inner) {
    const allowed = outer.get(permission);
    if (allowed === undefined || (allowed !== 'tenant' && (held === 'tenant' || [...held].some((b) => !allowed.has(b))))) beyond.push(permission);
  }
  return beyond;
}

/** Whether the grants allow `permission` at the tenant (no branch) or in `branchId`. */
export function can(grants: Grants, permission: Permission, branchId?: string | null): boolean {
  const held = grants.get(permission);
  if (held === undefined) return false;
  if (held === 'tenant') return true;
  return branchId != null && held.has(branchId);
}

/** Whether the grants allow `permission` anywhere at all (for lists, filtered afterwards). */
export function canSomewhere(grants: Grants, permission: Permission): boolean {
  return grants.has(permission);
}

/** Branches in which `permission` holds: 'all' or a list (possibly empty). */
export function branchesWith(grants: Grants, permission: Permission): 'all' | string[] {
  const held = grants.get(permission);
  if (held === undefined) return [];
  if (held === 'tenant') return 'all';
  return [...held];
}

export function grantsToList(grants: Grants): { permission: Permission; branchId: string | null }[] {
  const out: { permission: Permission; branchId: string | null }[] = [];
  for (const [permission, held] of grants) {
    if (held === 'tenant') out.push({ permission, branchId: null });
    else for (const branchId of held) out.push({ permission, branchId });
  }
  return out.sort((a, b) => a.permission.localeCompare(b.permission) || String(a.branchId).localeCompare(String(b.branchId)));
}

function rolePlural(role: string): string {
  return isSystemRole(role) ? systemRoles[role].plural : `holders of the ${role} role`;
}

function joinWords(words: string[]): string {
  if (words.length <= 1) return words[0] ?? '';
  return `${words.slice(0, -1).join(', ')} and ${words[words.length - 1]}`;
}

/**
 * The sentence a UI shows as is when `permission` is refused:
 * "Refunding an order requires the orders.refund permission, which cashiers do not have."
 */
export function explainDenial(assignments: readonly RoleAssignment[], permission: Permission, branchId?: string | null): string {
  const info = permissions[permission];
  const where = branchId ? ' in this branch' : info.level === 'tenant' ? ' for the whole business' : '';
  const roles = [...new Set(assignments.map((a) => a.role))];
  const who = roles.length === 0 ? 'you do not have (you hold no role)' : `which ${joinWords(roles.map(rolePlural))} do not have`;
  return `${info.action} requires the ${permission} permission${where}, ${who}.`;
}
