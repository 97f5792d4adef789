import type { Platform } from '../../platform/deps.ts';
import type { Scope } from '../../platform/auth/scope.ts';
import { AppError } from '../../platform/errors/index.ts';
import { decodeCursor, toPage, DEFAULT_LIMIT } from '../../platform/http/pagination.ts';
import { recordAudit, auditSourceOfUser } from '../audit/index.ts';
import { systemRoles, isSystemRole, permissions, can, type Permission } from '../access/index.ts';
import { listCustomRoles, insertCustomRole, type CustomRoleRow } from './roles.repository.ts';
import type { CreateRoleInput, RoleView } from './members.schemas.ts';

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
      for (const p of perms) {
        if (!can(scope.grants, p, null)) {
          throw new AppError('forbidden', `A role carrying ${p} can only be defined by someone who holds it for the whole business, and you do not: nobody grants more than they hold.`, {
            requiredPermission: p,
            scope: { tenant: true },
          });
        }
      }
      const ordered = (Object.keys(permissions) as Permission[]).filter((p) => perms.includes(p));
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
  };
}

export type RolesService = ReturnType<typeof rolesService>;
