import type { Platform } from '../../platform/deps.ts';
import type { Tx } from '../../platform/db/index.ts';
import type { Scope } from '../../platform/auth/index.ts';
import { AppError, notFound } from '../../platform/errors/index.ts';
import { decodeTimeCursor, toPage, timeKeyOf, type Page } from '../../platform/http/pagination.ts';
import { assertCan, branchesWith, type Permission } from '../access/index.ts';
import { recordAudit, auditSourceOfUser } from '../audit/index.ts';
import { isTimeZone } from '../identity/index.ts';
import { findBranch, listBranchRows, insertBranch, updateBranchRow, deleteBranchUnlessReferenced, toBranch } from './branches.repository.ts';
import type { Branch, CreateBranchInput, UpdateBranchInput, ListBranchesInput } from './branches.schemas.ts';

const isUniqueViolation = (err: unknown) => (err as { code?: string }).code === '23505';

function assertTimeZone(tz: string | undefined): void {
  if (tz !== undefined && !isTimeZone(tz)) {
    throw new AppError('validation_failed', 'The request does not match the expected shape.', {
      errors: [{ path: 'timezone', message: 'is not an IANA time zone' }],
    });
  }
}

const nameTaken = (name: string) => new AppError('already_exists', `A branch named "${name}" already exists.`, { field: 'name' });

/** A filter naming a branch: 404 unless it is one of the tenant's (archived ones included). */
export async function requireBranch(trx: Tx, tenantId: string, id: string | undefined): Promise<void> {
  if (id !== undefined && !(await findBranch(trx, tenantId, id))) throw new AppError('not_found', `No branch ${id}.`);
}

/** The branch, open for business, or the reason it is not: for other modules' use cases. */
export async function requireOpenBranch(trx: Tx, tenantId: string, id: string): Promise<Branch> {
  const row = await findBranch(trx, tenantId, id);
  if (!row) throw new AppError('not_found', `No branch ${id}.`);
  if (row.archived_at) throw new AppError('branch_archived', `The branch "${row.name}" is closed (archived).`, { branchId: id });
  return toBranch(row);
}

/** The branches a list shows: the one asked for (403 unless permitted there), else all permitted ones. */
export function visibleBranches(scope: Scope, permission: Permission, branchId: string | undefined): 'all' | string[] {
  if (branchId) {
    assertCan(scope, permission, branchId);
    return [branchId];
  }
  return branchesWith(scope.grants, permission);
}

export function branchesService(platform: Platform) {
  const { tenancy } = platform;

  return {
    async listBranches(scope: Scope, query: ListBranchesInput): Promise<Page<Branch>> {
      const branchIds = branchesWith(scope.grants, 'branches.read');
      const after = decodeTimeCursor(query.cursor);
      const limit = query.limit ?? 50;
      if (branchIds !== 'all' && branchIds.length === 0) return { data: [], nextCursor: null };
      const rows = await tenancy.readAsTenant(scope, (db) =>
        listBranchRows(db, scope.tenantId, { branchIds, includeArchived: query.includeArchived ?? false, after, limit }),
      );
      return toPage(rows, limit, timeKeyOf, toBranch);
    },

    async getBranch(scope: Scope, id: string): Promise<Branch> {
      const row = await tenancy.readAsTenant(scope, (db) => findBranch(db, scope.tenantId, id));
      if (!row) throw notFound('branch');
      return toBranch(row);
    },

    async openBranch(scope: Scope, input: CreateBranchInput): Promise<Branch> {
      assertTimeZone(input.timezone);
      const values = { name: input.name.trim(), address: input.address?.trim() || null, timezone: input.timezone ?? scope.tenant.timezone };
      try {
        return await tenancy.withTenant(scope, async (trx) => {
          await platform.hooks.claimLimit?.(trx, scope.tenantId, 'branches');
          const branch = toBranch(await insertBranch(trx, scope.tenantId, values));
          await recordAudit(trx, auditSourceOfUser(scope), {
            action: 'branch.opened',
            permission: 'branches.manage',
            target: { type: 'branch', id: branch.id },
            changes: { after: values },
          });
          return branch;
        });
      } catch (err) {
        if (isUniqueViolation(err)) throw nameTaken(values.name);
        throw err;
      }
    },

    async updateBranch(scope: Scope, id: string, input: UpdateBranchInput): Promise<Branch> {
      assertTimeZone(input.timezone);
      const patch: { name?: string; address?: string | null; timezone?: string } = {};
      if (input.name !== undefined) patch.name = input.name.trim();
      if (input.address !== undefined) patch.address = input.address?.trim() || null;
      if (input.timezone !== undefined) patch.timezone = input.timezone;
      try {
        return await tenancy.withTenant(scope, async (trx) => {
          const before = await findBranch(trx, scope.tenantId, id, { lock: true });
          if (!before) throw notFound('branch');
          const after = await updateBranchRow(trx, scope.tenantId, id, patch);
          const keys = Object.keys(patch) as (keyof typeof patch)[];
          await recordAudit(trx, auditSourceOfUser(scope), {
            action: 'branch.updated',
            permission: 'branches.manage',
            target: { type: 'branch', id },
            changes: { before: Object.fromEntries(keys.map((k) => [k, before[k]])), after: patch },
          });
          return toBranch(after);
        });
      } catch (err) {
        if (isUniqueViolation(err) && patch.name) throw nameTaken(patch.name);
        throw err;
      }
    },

    /**
     * Closes a branch. One that never traded and has no members is deleted (null); one with
     * history is archived: it leaves the lists and takes no orders, its past stays reportable.
     */
    async closeBranch(scope: Scope, id: string): Promise<Branch | null> {
      return tenancy.withTenant(scope, async (trx) => {
        const branch = await findBranch(trx, scope.tenantId, id, { lock: true });
        if (!branch) throw notFound('branch');
        if (branch.archived_at) return toBranch(branch);
        const deleted = await deleteBranchUnlessReferenced(trx, scope.tenantId, id);
        const archived = deleted ? null : await updateBranchRow(trx, scope.tenantId, id, { archived_at: new Date() });
        await recordAudit(trx, auditSourceOfUser(scope), {
          action: deleted ? 'branch.deleted' : 'branch.archived',
          permission: 'branches.manage',
          target: { type: 'branch', id },
          changes: { before: toBranch(branch), after: archived ? toBranch(archived) : null },
        });
        return archived ? toBranch(archived) : null;
      });
    },
  };
}

export type BranchesService = ReturnType<typeof branchesService>;
