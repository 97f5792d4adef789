import { sql } from 'kysely';
import type { Platform } from '../../platform/deps.ts';
import type { Scope } from '../../platform/auth/index.ts';
import { AppError, notFound } from '../../platform/errors/index.ts';
import { recordAudit, auditSourceOfUser, auditSourceOfSystem, eraseFromAudit, type AuditSource } from '../audit/index.ts';

/**
 * Erases a member's personal data (GDPR art. 17) while their orders, payments and the audit log
 * stay whole: the user row keeps its id (every reference still holds) under a pseudonym, they are
 * removed from the business and signed out everywhere, their keys revoked, their mails and the
 * business's exports (which hold their address) deleted, and the audit log rewritten the one
 * way its chain can still prove (see eraseFromAudit). Runs as the owner role in one transaction.
 */
export async function eraseMember(platform: Platform, tenantId: string, userId: string, source: AuditSource) {
  return platform.tenancy.withSystem('erasure: erase a member\'s personal data', async (trx) => {
    const user = await trx.selectFrom('users').select(['id', 'name', 'email', 'status']).where('tenant_id', '=', tenantId).where('id', '=', userId).forUpdate().executeTakeFirst();
    if (!user) throw notFound('member');
    const pseudonym = { name: `Erased member ${user.id.slice(0, 8)}`, email: `erased+${user.id}@erased.invalid` };
    if (user.email === pseudonym.email) return { erased: false, auditEvents: 0 };
    const owners = await trx.selectFrom('role_assignments as ra').innerJoin('users as u', (j) => j.onRef('u.tenant_id', '=', 'ra.tenant_id').onRef('u.id', '=', 'ra.user_id'))
      .select('ra.user_id').where('ra.tenant_id', '=', tenantId).where('ra.role_key', '=', 'owner').where('u.status', '=', 'active').execute();
    if (owners.some((o) => o.user_id === userId) && owners.every((o) => o.user_id === userId)) {
      throw new AppError('last_owner', 'This member is the business\'s only owner: make someone else owner first.');
    }
    const now = new Date();
    await trx.updateTable('sessions').set({ revoked_at: now }).where('tenant_id', '=', tenantId).where('user_id', '=', userId).where('revoked_at', 'is', null).execute();
    await trx.updateTable('api_keys').set({ revoked_at: now }).where('tenant_id', '=', tenantId).where('created_by', '=', userId).where('revoked_at', 'is', null).execute();
    await trx.deleteFrom('role_assignments').where('tenant_id', '=', tenantId).where('user_id', '=', userId).execute();
    await trx.deleteFrom('report_schedule_recipients').where('tenant_id', '=', tenantId).where('user_id', '=', userId).execute();
    await trx.deleteFrom('password_tokens').where('tenant_id', '=', tenantId).where('user_id', '=', userId).execute();
    await trx.updateTable('mail_deliveries').set({ recipient: pseudonym.email }).where('tenant_id', '=', tenantId).where('recipient', '=', user.email).execute();
    await sql`DELETE FROM caught_mails WHERE tenant_id = ${tenantId}::uuid AND recipient = ${user.email}`.execute(trx);
    // Stored answers and exports may quote the address: they go rather than keep it.
    await sql`DELETE FROM idempotency_keys WHERE tenant_id = ${tenantId}::uuid AND strpos(response_body::text, ${user.email}) > 0`.execute(trx);
    await trx.deleteFrom('tenant_exports').where('tenant_id', '=', tenantId).execute();
    await trx
      .updateTable('users')
      .set({ name: pseudonym.name, email: pseudonym.email, password_hash: null, status: 'removed', updated_at: now })
      .where('tenant_id', '=', tenantId)
      .where('id', '=', userId)
      .execute();
    const erasedEvents = await eraseFromAudit(trx, tenantId, user, pseudonym);
    await recordAudit(trx, source, {
      action: 'member.erased',
      permission: source.actor.type === 'user' ? 'settings.manage' : null,
      target: { type: 'member', id: userId },
      changes: { pseudonym: pseudonym.name, erasedEvents },
    });
    return { erased: true, auditEvents: erasedEvents.length };
  });
}

export function erasureService(platform: Platform) {
  return {
    async eraseMemberAsOwner(scope: Scope, userId: string) {
      if (userId === scope.userId) throw new AppError('forbidden', 'Nobody erases themselves here: ask another owner, or Brigade support.');
      return eraseMember(platform, scope.tenantId, userId, auditSourceOfUser(scope));
    },
    /** `brigade members erase`: an operator handling a request sent to Brigade. */
    eraseMemberAsOperator: (tenantId: string, userId: string, operator: string) => eraseMember(platform, tenantId, userId, auditSourceOfSystem(tenantId, `operator ${operator} (brigade members erase)`)),
  };
}
export type ErasureService = ReturnType<typeof erasureService>;
