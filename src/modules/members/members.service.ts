import type { Platform } from '../../platform/deps.ts';
import type { Tx } from '../../platform/db/index.ts';
import type { Scope } from '../../platform/auth/scope.ts';
import { hashPassword, hashToken, newToken } from '../../platform/auth/index.ts';
import { AppError, notFound } from '../../platform/errors/index.ts';
import { enqueueLater } from '../../platform/jobs/outbox.ts';
import { decodeCursor, toPage, DEFAULT_LIMIT } from '../../platform/http/pagination.ts';
import {
  assertMayChangeAssignments,
  assignmentDiff,
  branchesWith,
  isSystemRole,
  type RoleAssignment,
  type CustomRoleDefinitions,
} from '../access/index.ts';
import { recordAudit, auditSourceOfUser } from '../audit/index.ts';
import type { IdentityService, ClientMeta } from '../identity/index.ts';
import { customRoleDefinitions } from './roles.repository.ts';
import {
  findMembers,
  findMember,
  findUserByEmail,
  lockOwners,
  existingBranches,
  insertUser,
  reviveUser,
  addAssignments,
  removeAssignments,
  markRemoved,
  insertInvitation,
  revokePendingInvitations,
  rotateInvitationToken,
  lockPendingInvitation,
  acceptInvitationRow,
  invitationsSentSince,
  type MemberRow,
  type MemberStatus,
  type Visibility,
} from './members.repository.ts';
import type { CreateMemberInput, RoleGrantInput, MemberView, MembersQuery, AcceptInvitationInput } from './members.schemas.ts';

export function memberView(row: MemberRow): MemberView {
  return {
    id: row.id,
    userId: row.id,
    name: row.name,
    email: row.email,
    roles: row.roles,
    status: row.status,
    createdAt: row.created_at.toISOString(),
  };
}

/** Who the caller may see: everyone, or members holding a role in a branch they read or manage. */
export function visibleMembers(scope: Scope): Visibility {
  const read = branchesWith(scope.grants, 'members.read');
  const manage = branchesWith(scope.grants, 'members.manage');
  if (read === 'all' || manage === 'all') return 'all';
  return [...new Set([...read, ...manage])];
}

const invalid = (errors: { path: string; message: string }[]) =>
  new AppError('validation_failed', 'The request does not match the expected shape.', { errors });

function normalise(roles: readonly RoleGrantInput[]): RoleAssignment[] {
  const out: RoleAssignment[] = [];
  for (const r of roles) {
    const a = { role: r.role, branchId: r.branchId ?? null };
    if (!out.some((o) => o.role === a.role && o.branchId === a.branchId)) out.push(a);
  }
  return out;
}

/**
 * Every role given exists (system, or a custom role of this tenant), the owner role is given for
 * the whole business only, and every branch is an open branch of this tenant. Assignments the
 * member already has are not judged again. Returns the permissions of the custom roles named on
 * either side, for the delegation check.
 */
async function checkAssignments(trx: Tx, tenantId: string, after: readonly RoleAssignment[], before: readonly RoleAssignment[]) {
  const keys = [...new Set([...after, ...before].map((r) => r.role).filter((k) => !isSystemRole(k)))];
  const custom: CustomRoleDefinitions = await customRoleDefinitions(trx, tenantId, keys);
  const { added } = assignmentDiff(before, after);
  const branches = await existingBranches(trx, tenantId, [...new Set(added.flatMap((r) => (r.branchId ? [r.branchId] : [])))]);
  const errors: { path: string; message: string }[] = [];
  after.forEach((r, i) => {
    if (!added.includes(r)) return;
    if (!isSystemRole(r.role) && !Object.hasOwn(custom, r.role)) errors.push({ path: `roles.${i}.role`, message: 'is not a role of this business' });
    if (r.role === 'owner' && r.branchId !== null) errors.push({ path: `roles.${i}.branchId`, message: 'must be left out: the owner role applies to the whole business' });
    if (r.branchId !== null && !branches.has(r.branchId)) errors.push({ path: `roles.${i}.branchId`, message: 'is not a branch of this business' });
  });
  if (errors.length) throw invalid(errors);
  return custom;
}

const lastOwner = () =>
  new AppError('last_owner', 'This is the last owner of the business: make someone else an owner first, so the business is never left without one.');

export function membersService(platform: Platform, deps: { identity: IdentityService }) {
  const { tenancy, config } = platform;

  return {
    async listMembers(scope: Scope, query: MembersQuery) {
      const limit = query.limit ?? DEFAULT_LIMIT;
      const after = decodeCursor(query.cursor, ['s', 'uuid']);
      const statuses: MemberStatus[] = query.status ? [query.status] : ['active', 'invited'];
      const rows = await tenancy.readAsTenant(scope, (db) =>
        findMembers(db, scope.tenantId, {
          visible: visibleMembers(scope),
          statuses,
          after: after ? { name: after[0] as string, id: after[1] as string } : null,
          limit,
        }),
      );
      return toPage(rows, limit, (r) => [r.name, r.id], memberView);
    },

    async getMember(scope: Scope, id: string) {
      const row = await tenancy.readAsTenant(scope, (db) => findMember(db, scope.tenantId, id, { visible: visibleMembers(scope), includeRemoved: true }));
      if (!row) throw notFound('member');
      return { member: memberView(row) };
    },

    /**
     * Adds a member. With a password they can log in at once; without one they are invited: an
     * invitation mail (job `mail.invitation`) carries a link to set their own password.
     */
    async createMember(scope: Scope, input: CreateMemberInput) {
      const roles = normalise(input.roles);
      const email = input.email.toLowerCase();
      const name = input.name.trim();
      const passwordHash = input.password ? await hashPassword(input.password, config.BRIGADE_PASSWORD_COST) : null;
      const status = passwordHash ? 'active' : 'invited';
      return tenancy.withTenant(scope, async (trx) => {
        const custom = await checkAssignments(trx, scope.tenantId, roles, []);
        const permission = assertMayChangeAssignments(scope, { kind: 'create', targetUserId: null, before: [], after: roles, custom });
        const existing = await findUserByEmail(trx, scope.tenantId, email);
        if (existing && existing.status !== 'removed') {
          throw new AppError('already_exists', 'Someone with this e-mail address is already a member of this business.', { memberId: existing.id });
        }
        await platform.hooks.claimLimit?.(trx, scope.tenantId, 'members');
        let userId: string;
        if (existing) {
          userId = existing.id;
          await reviveUser(trx, scope.tenantId, userId, { name, passwordHash, status });
        } else {
          userId = await insertUser(trx, scope.tenantId, { email, name, passwordHash, status });
        }
        await addAssignments(trx, scope.tenantId, userId, roles);
        const member = memberView((await findMember(trx, scope.tenantId, userId, { visible: 'all' }))!);
        await recordAudit(trx, auditSourceOfUser(scope), {
          action: status === 'active' ? 'member.created' : 'member.invited',
          permission,
          target: { type: 'member', id: userId },
          changes: { before: null, after: member },
        });
        if (status === 'invited') await sendInvitationLater(trx, scope, member);
        return { member };
      });
    },

    async changeRoles(scope: Scope, id: string, input: { roles: RoleGrantInput[] }) {
      const after = normalise(input.roles);
      return tenancy.withTenant(scope, async (trx) => {
        const owners = await lockOwners(trx, scope.tenantId);
        const target = await findMember(trx, scope.tenantId, id, { visible: visibleMembers(scope), forUpdate: true });
        if (!target) throw notFound('member');
        const custom = await checkAssignments(trx, scope.tenantId, after, target.roles);
        const permission = assertMayChangeAssignments(scope, { kind: 'change', targetUserId: id, before: target.roles, after, custom });
        const { added, removed } = assignmentDiff(target.roles, after);
        if (added.length === 0 && removed.length === 0) return { member: memberView(target) };
        const losesOwner = owners.includes(id) && !after.some((a) => a.role === 'owner' && a.branchId === null);
        if (losesOwner && owners.every((o) => o === id)) throw lastOwner();
        await removeAssignments(trx, scope.tenantId, id, removed);
        await addAssignments(trx, scope.tenantId, id, added);
        const member = memberView((await findMember(trx, scope.tenantId, id, { visible: 'all' }))!);
        await recordAudit(trx, auditSourceOfUser(scope), {
          action: 'member.roles_changed',
          permission,
          target: { type: 'member', id },
          changes: { before: { roles: target.roles }, after: { roles: member.roles }, added, removed },
        });
        return { member };
      });
    },

    /** Takes a member out of the business: their tokens for it die at once. */
    async removeMember(scope: Scope, id: string): Promise<void> {
      await tenancy.withTenant(scope, async (trx) => {
        const owners = await lockOwners(trx, scope.tenantId);
        const target = await findMember(trx, scope.tenantId, id, { visible: visibleMembers(scope), forUpdate: true });
        if (!target) throw notFound('member');
        const custom = await checkAssignments(trx, scope.tenantId, [], target.roles);
        const permission = assertMayChangeAssignments(scope, { kind: 'remove', targetUserId: id, before: target.roles, after: [], custom });
        if (owners.includes(id) && owners.every((o) => o === id)) throw lastOwner();
        await markRemoved(trx, scope.tenantId, id);
        await recordAudit(trx, auditSourceOfUser(scope), {
          action: 'member.removed',
          permission,
          target: { type: 'member', id },
          changes: { before: memberView(target), after: { status: 'removed', roles: [] } },
        });
      });
    },

    /**
     * A new invitation mail for a member who has not accepted yet: the pending invitation is
     * withdrawn (its link stops working now) and a new one is sent. At most
     * BRIGADE_INVITATION_SENDS_PER_HOUR invitations per member per hour, the first included.
     */
    async resendInvitation(scope: Scope, id: string, now = new Date()) {
      return tenancy.withTenant(scope, async (trx) => {
        const target = await findMember(trx, scope.tenantId, id, { visible: visibleMembers(scope), forUpdate: true });
        if (!target) throw notFound('member');
        const custom = await checkAssignments(trx, scope.tenantId, [], target.roles);
        // Whoever may take the member's roles away may invite them again.
        const permission = assertMayChangeAssignments(scope, { kind: 'remove', targetUserId: id, before: target.roles, after: [], custom });
        if (target.status !== 'invited') {
          throw new AppError('invalid_state', `This member is ${target.status}: only a member who has not accepted their invitation yet can be sent a new one.`, { memberStatus: target.status });
        }
        const hourAgo = new Date(now.getTime() - 3600_000);
        const recent = await invitationsSentSince(trx, scope.tenantId, id, hourAgo);
        const max = config.BRIGADE_INVITATION_SENDS_PER_HOUR;
        if (recent.length >= max) {
          const retryAfter = Math.max(1, Math.ceil((recent[0]!.getTime() + 3600_000 - now.getTime()) / 1000));
          throw new AppError('rate_limited', `This member was sent ${recent.length} invitations in the last hour, the most allowed; try again in ${Math.ceil(retryAfter / 60)} minute(s).`, { retryAfterSeconds: retryAfter }, { 'Retry-After': String(retryAfter) });
        }
        const member = memberView(target);
        const expiresAt = await sendInvitationLater(trx, scope, member, now);
        await recordAudit(trx, auditSourceOfUser(scope), {
          action: 'member.invitation_resent',
          permission,
          target: { type: 'member', id },
          changes: { after: { expiresAt: expiresAt.toISOString() } },
        });
        return { member, invitation: { expiresAt: expiresAt.toISOString(), sendsLeftThisHour: max - recent.length - 1 } };
      });
    },

    /** Public: the invited person sets a password with the e-mailed token and is logged in. */
    async acceptInvitation(input: AcceptInvitationInput, meta: ClientMeta) {
      const tokenHash = hashToken(input.token);
      const found = await tenancy.withSystem('invitations: find by token', (trx) =>
        trx.selectFrom('invitations').select(['tenant_id', 'id', 'user_id']).where('token_hash', '=', tokenHash).executeTakeFirst(),
      );
      const expired = () =>
        new AppError('not_found', 'This invitation is not valid any more: it was used, withdrawn or has expired. Ask for a new one.');
      if (!found) throw expired();
      const passwordHash = await hashPassword(input.password, config.BRIGADE_PASSWORD_COST);
      const accepted = await tenancy.withTenant({ tenantId: found.tenant_id, userId: found.user_id }, async (trx) => {
        const inv = await lockPendingInvitation(trx, found.tenant_id, found.id);
        if (!inv) throw expired();
        const name = input.name?.trim() ?? inv.name;
        await acceptInvitationRow(trx, found.tenant_id, { id: inv.id, userId: inv.user_id, passwordHash, name });
        await recordAudit(
          trx,
          { tenantId: found.tenant_id, actor: { type: 'user', id: inv.user_id, name }, ...meta },
          {
            action: 'member.invitation_accepted',
            permission: null,
            target: { type: 'member', id: inv.user_id },
            changes: { before: { status: 'invited', name: inv.name }, after: { status: 'active', name } },
          },
        );
        return { inv, name };
      });
      const { inv, name } = accepted;
      const token = await deps.identity.openSession(found.tenant_id, inv.user_id, meta);
      return {
        token,
        tenant: { id: found.tenant_id, name: inv.tenant_name, slug: inv.slug, currency: inv.currency, timezone: inv.timezone },
        user: { id: inv.user_id, email: inv.email, name },
      };
    },

    /** For the support module: one page of a tenant's members inside a transaction it holds. */
    membersPageIn: async (trx: Tx, tenantId: string, query: MembersQuery) => {
      const limit = query.limit ?? DEFAULT_LIMIT;
      const after = decodeCursor(query.cursor, ['s', 'uuid']);
      const rows = await findMembers(trx, tenantId, {
        visible: 'all',
        statuses: query.status ? [query.status] : ['active', 'invited'],
        after: after ? { name: after[0] as string, id: after[1] as string } : null,
        limit,
      });
      return toPage(rows, limit, (r) => [r.name, r.id], memberView);
    },
  };

  /**
   * The invitation row exists from now on, but no usable token yet: the mail job issues one
   * when it sends (`issueInvitationLink`), so no secret waits in the outbox or the queue.
   * Any earlier pending invitation of the member is withdrawn.
   */
  async function sendInvitationLater(trx: Tx, scope: Scope, member: MemberView, now = new Date()): Promise<Date> {
    const expiresAt = new Date(now.getTime() + config.BRIGADE_INVITATION_TTL_HOURS * 3600_000);
    await revokePendingInvitations(trx, scope.tenantId, member.id);
    const unusable = hashToken(newToken('inv'));
    const invitationId = await insertInvitation(trx, scope.tenantId, { userId: member.id, tokenHash: unusable, invitedBy: scope.userId, expiresAt });
    await enqueueLater(trx, scope.tenantId, 'mail.invitation', { userId: member.id, invitedBy: scope.userId, invitationId });
    return expiresAt;
  }
}

/**
 * For the `mail.invitation` job, at the moment it sends: a fresh token for the invitation and
 * the link that carries it (to `POST /v1/invitations/accept`). Issuing again makes the previous
 * link useless, so a retried send never leaves two working links. Null when the invitation was
 * accepted, withdrawn or has expired: send nothing then.
 */
export async function issueInvitationLink(
  trx: Tx,
  config: { BRIGADE_PUBLIC_URL: string },
  tenantId: string,
  invitationId: string,
): Promise<{ token: string; url: string; expiresAt: Date } | null> {
  const token = newToken('inv');
  const row = await rotateInvitationToken(trx, tenantId, invitationId, hashToken(token));
  if (!row) return null;
  const url = new URL('/accept-invitation', config.BRIGADE_PUBLIC_URL);
  url.searchParams.set('token', token);
  return { token, url: url.toString(), expiresAt: row.expires_at };
}

export type MembersService = ReturnType<typeof membersService>;
