import { sql, type ColumnType, type Generated } from 'kysely';
import type { Tx } from '../../platform/db/index.ts';
import type { RoleAssignment } from '../access/index.ts';

export interface InvitationsTable {
  tenant_id: string;
  id: Generated<string>;
  user_id: string;
  token_hash: string;
  invited_by: string | null;
  created_at: Generated<Date>;
  expires_at: Date;
  accepted_at: ColumnType<Date | null, Date | null | undefined, Date | null>;
  revoked_at: ColumnType<Date | null, Date | null | undefined, Date | null>;
}

declare module '../../platform/db/schema.ts' {
  interface Database {
    invitations: InvitationsTable;
  }
}

export type MemberStatus = 'active' | 'invited' | 'removed';

export interface MemberRow {
  id: string;
  name: string;
  email: string;
  status: MemberStatus;
  created_at: Date;
  roles: RoleAssignment[];
}

/** Members a caller may see: everyone, or those holding a role in one of these branches. */
export type Visibility = 'all' | readonly string[];

export interface MemberFilter {
  visible: Visibility;
  statuses: readonly MemberStatus[];
  after?: { name: string; id: string } | null;
  limit: number;
}

function selectMembers(trx: Tx, tenantId: string) {
  return trx
    .selectFrom('users as u')
    .select([
      'u.id',
      'u.name',
      'u.email',
      'u.status',
      'u.created_at',
      sql<RoleAssignment[]>`coalesce((
        SELECT jsonb_agg(jsonb_build_object('role', ra.role_key, 'branchId', ra.branch_id) ORDER BY ra.role_key, ra.branch_id NULLS FIRST)
          FROM role_assignments ra WHERE ra.tenant_id = u.tenant_id AND ra.user_id = u.id), '[]'::jsonb)`.as('roles'),
    ])
    .where('u.tenant_id', '=', tenantId);
}

function visibleTo(visible: Visibility) {
  if (visible === 'all') return sql<boolean>`true`;
  if (visible.length === 0) return sql<boolean>`false`;
  return sql<boolean>`EXISTS (SELECT 1 FROM role_assignments ra
    WHERE ra.tenant_id = u.tenant_id AND ra.user_id = u.id AND ra.branch_id = ANY(${[...visible]}::uuid[]))`;
}

/** One page in (name, id) order, limit+1 rows so the caller knows whether another page follows. */
export async function findMembers(trx: Tx, tenantId: string, f: MemberFilter): Promise<MemberRow[]> {
  let qb = selectMembers(trx, tenantId).where(visibleTo(f.visible)).where('u.status', 'in', [...f.statuses]);
  if (f.after) qb = qb.where(sql<boolean>`(u.name, u.id) > (${f.after.name}, ${f.after.id}::uuid)`);
  return (await qb.orderBy('u.name').orderBy('u.id').limit(f.limit + 1).execute()) as MemberRow[];
}

/** A member by id, or undefined when missing, removed, or outside what the caller may see. */
export async function findMember(
  trx: Tx,
  tenantId: string,
  id: string,
  opts: { visible: Visibility; forUpdate?: boolean; includeRemoved?: boolean },
): Promise<MemberRow | undefined> {
  let qb = selectMembers(trx, tenantId).where(visibleTo(opts.visible)).where('u.id', '=', id);
  if (!opts.includeRemoved) qb = qb.where('u.status', '!=', 'removed');
  if (opts.forUpdate) qb = qb.forUpdate('u');
  return (await qb.executeTakeFirst()) as MemberRow | undefined;
}

export async function findUserByEmail(trx: Tx, tenantId: string, email: string) {
  return trx.selectFrom('users').select(['id', 'status']).where('tenant_id', '=', tenantId).where('email', '=', email).forUpdate().executeTakeFirst();
}

/**
 * The active tenant-wide owners, locked: every change that could take away an owner takes this
 * lock first, so two such changes cannot both see "another owner remains" and leave none.
 */
export async function lockOwners(trx: Tx, tenantId: string): Promise<string[]> {
  const rows = await trx
    .selectFrom('role_assignments as ra')
    .innerJoin('users as u', (j) => j.onRef('u.tenant_id', '=', 'ra.tenant_id').onRef('u.id', '=', 'ra.user_id'))
    .select('ra.user_id')
    .where('ra.tenant_id', '=', tenantId)
    .where('ra.role_key', '=', 'owner')
    .where('ra.branch_id', 'is', null)
    .where('u.status', '=', 'active')
    .forUpdate('ra')
    .execute();
  return rows.map((r) => r.user_id);
}

/** Which of `ids` are open branches of the tenant. */
export async function existingBranches(trx: Tx, tenantId: string, ids: readonly string[]): Promise<Set<string>> {
  if (ids.length === 0) return new Set();
  const rows = await trx
    .selectFrom('branches')
    .select('id')
    .where('tenant_id', '=', tenantId)
    .where('id', 'in', [...ids])
    .where('archived_at', 'is', null)
    .execute();
  return new Set(rows.map((r) => r.id));
}

export async function insertUser(
  trx: Tx,
  tenantId: string,
  user: { email: string; name: string; passwordHash: string | null; status: 'active' | 'invited' },
): Promise<string> {
  const row = await trx
    .insertInto('users')
    .values({ tenant_id: tenantId, email: user.email, name: user.name, password_hash: user.passwordHash, status: user.status })
    .returning('id')
    .executeTakeFirstOrThrow();
  return row.id;
}

/** A removed member added again keeps their id (and so their history in the audit log). */
export async function reviveUser(
  trx: Tx,
  tenantId: string,
  id: string,
  user: { name: string; passwordHash: string | null; status: 'active' | 'invited' },
): Promise<void> {
  await trx
    .updateTable('users')
    .set({ name: user.name, password_hash: user.passwordHash, status: user.status, updated_at: new Date() })
    .where('tenant_id', '=', tenantId)
    .where('id', '=', id)
    .execute();
}

export async function addAssignments(trx: Tx, tenantId: string, userId: string, roles: readonly RoleAssignment[]): Promise<void> {
  if (roles.length === 0) return;
  await trx
    .insertInto('role_assignments')
    .values(roles.map((r) => ({ tenant_id: tenantId, user_id: userId, role_key: r.role, branch_id: r.branchId })))
    .execute();
}

export async function removeAssignments(trx: Tx, tenantId: string, userId: string, roles: readonly RoleAssignment[]): Promise<void> {
  for (const r of roles) {
    await trx
      .deleteFrom('role_assignments')
      .where('tenant_id', '=', tenantId)
      .where('user_id', '=', userId)
      .where('role_key', '=', r.role)
      .where((eb) => (r.branchId === null ? eb('branch_id', 'is', null) : eb('branch_id', '=', r.branchId)))
      .execute();
  }
}

/** Takes a member out: no roles, status removed, every session and pending invitation dead. */
export async function markRemoved(trx: Tx, tenantId: string, userId: string): Promise<void> {
  const now = new Date();
  await trx.deleteFrom('role_assignments').where('tenant_id', '=', tenantId).where('user_id', '=', userId).execute();
  await trx.updateTable('users').set({ status: 'removed', updated_at: now }).where('tenant_id', '=', tenantId).where('id', '=', userId).execute();
  await trx.updateTable('sessions').set({ revoked_at: now }).where('tenant_id', '=', tenantId).where('user_id', '=', userId).where('revoked_at', 'is', null).execute();
  await revokePendingInvitations(trx, tenantId, userId);
}

export async function insertInvitation(
  trx: Tx,
  tenantId: string,
  inv: { userId: string; tokenHash: string; invitedBy: string; expiresAt: Date },
): Promise<string> {
  const row = await trx
    .insertInto('invitations')
    .values({ tenant_id: tenantId, user_id: inv.userId, token_hash: inv.tokenHash, invited_by: inv.invitedBy, expires_at: inv.expiresAt })
    .returning('id')
    .executeTakeFirstOrThrow();
  return row.id;
}

/**
 * Gives a pending, unexpired invitation a new token hash (the previous link stops working).
 * Undefined when the invitation was accepted, withdrawn or has expired.
 */
export async function rotateInvitationToken(trx: Tx, tenantId: string, id: string, tokenHash: string) {
  return trx
    .updateTable('invitations')
    .set({ token_hash: tokenHash })
    .where('tenant_id', '=', tenantId)
    .where('id', '=', id)
    .where('accepted_at', 'is', null)
    .where('revoked_at', 'is', null)
    .where('expires_at', '>', new Date())
    .returning(['user_id', 'expires_at'])
    .executeTakeFirst();
}

export async function revokePendingInvitations(trx: Tx, tenantId: string, userId: string): Promise<void> {
  await trx
    .updateTable('invitations')
    .set({ revoked_at: new Date() })
    .where('tenant_id', '=', tenantId)
    .where('user_id', '=', userId)
    .where('accepted_at', 'is', null)
    .where('revoked_at', 'is', null)
    .execute();
}

/** The pending, unexpired invitation with this id, locked, with its invited user. */
export async function lockPendingInvitation(trx: Tx, tenantId: string, id: string) {
  return trx
    .selectFrom('invitations as i')
    .innerJoin('users as u', (j) => j.onRef('u.tenant_id', '=', 'i.tenant_id').onRef('u.id', '=', 'i.user_id'))
    .innerJoin('tenants as t', 't.id', 'i.tenant_id')
    .select(['i.id', 'i.user_id', 'u.name', 'u.email', 't.name as tenant_name', 't.slug', 't.currency', 't.timezone'])
    .where('i.tenant_id', '=', tenantId)
    .where('i.id', '=', id)
    .where('i.accepted_at', 'is', null)
    .where('i.revoked_at', 'is', null)
    .where('i.expires_at', '>', new Date())
    .where('u.status', '=', 'invited')
    .forUpdate('i')
    .executeTakeFirst();
}

export async function acceptInvitationRow(trx: Tx, tenantId: string, inv: { id: string; userId: string; passwordHash: string; name: string }) {
  const now = new Date();
  await trx.updateTable('invitations').set({ accepted_at: now }).where('tenant_id', '=', tenantId).where('id', '=', inv.id).execute();
  await trx
    .updateTable('users')
    .set({ status: 'active', password_hash: inv.passwordHash, name: inv.name, updated_at: now })
    .where('tenant_id', '=', tenantId)
    .where('id', '=', inv.userId)
    .execute();
  await revokePendingInvitations(trx, tenantId, inv.userId);
}

/** When the member's invitations of the window were created, oldest first (withdrawn ones count: each was a mail). */
export async function invitationsSentSince(trx: Tx, tenantId: string, userId: string, since: Date): Promise<Date[]> {
  const rows = await trx
    .selectFrom('invitations')
    .select('created_at')
    .where('tenant_id', '=', tenantId)
    .where('user_id', '=', userId)
    .where('created_at', '>', since)
    .orderBy('created_at')
    .execute();
  return rows.map((r) => r.created_at);
}
