import type { Platform } from '../../platform/deps.ts';
import type { Scope } from '../../platform/auth/scope.ts';
import { AppError } from '../../platform/errors/index.ts';
import { decodeCursor, toPage, DEFAULT_LIMIT } from '../../platform/http/pagination.ts';
import { recordAudit, auditSourceOfUser } from '../audit/index.ts';
import { systemRoles, isSystemRole, permissions, can, type Permission } from '../access/index.ts';
import { listCustomRoles, insertCustomRole, lockCustomRole, updateCustomRole, deleteCustomRole, holdersOf, type CustomRoleRow } from './roles.repository.ts';
import type { CreateRoleInput, UpdateRoleInput, RoleView } from './members.schemas.ts';
import { notFound } from '../../platform/errors/index.ts';

const isUniqueViolation = (err: unknown) => (err as { code?: string }).code === '23505';

function customView(r: CustomRoleRow): RoleView {
  return { key: r.key, name: r.name, description: r.description, permissions: r.permissions, system: false };
}

const systemViews: RoleView[] = Object.values(systemRoles).map((r) => ({
  key: r.key,
  name: r.name,
  description: r.description,
  permissions: [...r.permissions],
  system: true,
}));

/** Nobody defines a role stronger than themselves: every permission must be held tenant-wide. */
function assertMayGrant(scope: Scope, perms: readonly Permission[]): void {
  for (const p of perms) {
    if (!can(scope.grants, p, null)) {
      throw new AppError('forbidden', `A role carrying ${p} can only be defined by someone who holds it for the whole business, and you do not: nobody grants more than they hold.`, {
        requiredPermission: p,
        scope: { tenant: true },
      });
    }
  }
}

const inCatalogueOrder = (perms: readonly string[]) => (Object.keys(permissions) as Permission[]).filter((p) => perms.includes(p));

function systemRoleIsFixed(key: string): AppError {
  return new AppError('invalid_state', `"${key}" is a system role: Brigade defines it and it cannot be changed or deleted. Define a custom role instead.`, { key });
}

export function rolesService(platform: Platform) {
  const { tenancy } = platform;

  return {
    /** System roles first (in the catalogue's order), then the tenant's custom roles by key. */
    async listRoles(scope: Scope, query: { limit?: number; cursor?: string }) {
      const limit = query.limit ?? DEFAULT_LIMIT;
      const after = decodeCursor(query.cursor, ['s'])?.[0] as string | undefined;
      const custom = await tenancy.readAsTenant(scope, (db) => listCustomRoles(db, scope.tenantId));
      const all = [...systemViews, ...custom.map(customView)];
      const start = after === undefined ? 0 : all.findIndex((r) => r.key === after) + 1;
      return toPage(all.slice(start, start + limit + 1), limit, (r) => [r.key], (r) => r);
    },

    /** A tenant role built from catalogue permissions; nobody defines a role stronger than themselves. */
    async createRole(scope: Scope, input: CreateRoleInput): Promise<RoleView> {
      if (isSystemRole(input.key)) {
        throw new AppError('already_exists', `"${input.key}" is the key of a system role; choose another key.`, { key: input.key });
      }
      const perms = [...new Set(input.permissions)] as Permission[];
      assertMayGrant(scope, perms);
      const ordered = inCatalogueOrder(perms);
      try {
        return await tenancy.withTenant(scope, async (trx) => {
          const row = await insertCustomRole(trx, scope.tenantId, {
            key: input.key,
            name: input.name.trim(),
            description: input.description?.trim() ?? '',
            permissions: ordered,
          });
          const view = customView(row);
          await recordAudit(trx, auditSourceOfUser(scope), {
            action: 'role.created',
            permission: 'roles.manage',
            target: { type: 'role', id: view.key },
            changes: { before: null, after: view },
          });
          return view;
        });
      } catch (err) {
        if (isUniqueViolation(err)) throw new AppError('already_exists', `A role with the key "${input.key}" already exists.`, { key: input.key });
        throw err;
      }
    },

    /**
     * Changes a custom role's name, description or permissions. Its holders' sessions see the
     * new permissions on their next request (the auth-changed signal of custom_roles).
     */
    async updateRole(scope: Scope, key: string, input: UpdateRoleInput): Promise<RoleView> {
      if (isSystemRole(key)) throw systemRoleIsFixed(key);
      if (input.permissions) assertMayGrant(scope, input.permissions as Permission[]);
      return tenancy.withTenant(scope, async (trx) => {
        const row = await lockCustomRole(trx, scope.tenantId, key);
        if (!row) throw notFound('role');
        // Nor does anyone change a role stronger than themselves (its holders answer to whoever holds all of it).
        assertMayGrant(scope, row.permissions as Permission[]);
        const before = customView(row);
        const after = customView(
          await updateCustomRole(trx, scope.tenantId, key, {
            name: input.name?.trim() ?? row.name,
            description: input.description?.trim() ?? row.description,
            permissions: input.permissions ? inCatalogueOrder(input.permissions) : row.permissions,
          }),
        );
        await recordAudit(trx, auditSourceOfUser(scope), {
          action: 'role.updated',
          permission: 'roles.manage',
          target: { type: 'role', id: key },
          changes: {
            before,
            after,
            permissionsAdded: after.permissions.filter((p) => !before.permissions.includes(p)),
            permissionsRemoved: before.permissions.filter((p) => !after.permissions.includes(p)),
          },
        });
        return after;
      });
    },

    /**
     * Deletes a custom role nobody holds. While members hold it the answer is 409 role_in_use
     * with their number: access is never taken away (or handed out) as a side effect of a
     * deletion; reassign them first (PUT /v1/members/:id/roles). See decision 0612.
     */
    async deleteRole(scope: Scope, key: string): Promise<void> {
      if (isSystemRole(key)) throw systemRoleIsFixed(key);
      await tenancy.withTenant(scope, async (trx) => {
        const row = await lockCustomRole(trx, scope.tenantId, key);
        if (!row) throw notFound('role');
        const holders = await holdersOf(trx, scope.tenantId, key);
        if (holders > 0) {
          throw new AppError('role_in_use', `${holders} member(s) hold the role "${row.name}": give them another role first, then delete it.`, { key, holders });
        }
        await deleteCustomRole(trx, scope.tenantId, key);
        await recordAudit(trx, auditSourceOfUser(scope), {
          action: 'role.deleted',
          permission: 'roles.manage',
          target: { type: 'role', id: key },
          changes: { before: customView(row), after: null },
        });
      });
    },
  };
}

export type RolesService = ReturnType<typeof rolesService>;
