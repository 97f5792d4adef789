import { Type } from 'typebox';
import type { Tx } from '../../platform/db/index.ts';
import { defineJob } from '../../platform/jobs/index.ts';
import { sendOnce } from '../../platform/mail.ts';
import { issueInvitationLink } from './members.service.ts';
import { invitationMail } from './members.mails.ts';
import { Uuid } from '../../platform/http/schemas.ts';


async function person(trx: Tx, tenantId: string, userId: string) {
  return trx
    .selectFrom('users as u')
    .innerJoin('tenants as t', 't.id', 'u.tenant_id')
    .select(['u.id', 'u.email', 'u.name', 'u.status', 't.name as tenant_name', 't.slug'])
    .where('u.tenant_id', '=', tenantId)
    .where('u.id', '=', userId)
    .executeTakeFirst();
}

/**
 * Written by createMember (`sendInvitationLater`): {userId, invitedBy, invitationId}. The link's
 * token is issued only when the mail is actually sent (sendOnce composes unsent mail only), so
 * no secret waits in the outbox or the queue and a retry never leaves two working links. An
 * invitation accepted, withdrawn or expired meanwhile sends nothing. Without an invitationId
 * (a member who has a password) the mail carries a sign-in link. Extra fields are allowed so
 * the writer can grow the payload.
 */
export const invitationMailJob = defineJob(
  'mail.invitation',
  Type.Object({ userId: Uuid, invitedBy: Type.Optional(Uuid), invitationId: Type.Optional(Uuid) }, { additionalProperties: true }),
  async (job) => {
    const { userId, invitedBy, invitationId } = job.payload;
    const [user, inviter] = await job.withTenant(async (trx) => [
      await person(trx, job.tenantId, userId),
      invitedBy ? await person(trx, job.tenantId, invitedBy) : undefined,
    ]);
    if (!user || user.status === 'removed') {
      job.log.info('the invited member is gone; no invitation mail');
      return;
    }
    const config = job.platform.config;
    const outcome = await sendOnce({ mailer: job.mailer, tenancy: job.platform.tenancy }, job, user.email, async () => {
      let url = new URL(`/login?tenant=${encodeURIComponent(user.slug)}`, config.BRIGADE_PUBLIC_URL).toString();
      let expiresAt: Date | null = null;
      if (invitationId) {
        const link = await job.withTenant((trx) => issueInvitationLink(trx, config, job.tenantId, invitationId));
        if (!link) return null;
        url = link.url;
        expiresAt = link.expiresAt;
      }
      return invitationMail({ userName: user.name, tenantName: user.tenant_name, inviterName: inviter?.name ?? null, url, expiresAt });
    });
    if (outcome === 'nothing_to_send') job.log.info('the invitation was accepted, withdrawn or has expired; no mail');
  },
);

export const memberJobs = [invitationMailJob];
