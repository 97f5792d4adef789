import { Type } from 'typebox';
import type { Tx } from '../../platform/db/index.ts';
import { defineJob } from '../../platform/jobs/index.ts';
import { sendOnce } from '../../platform/mail.ts';
import { newToken, hashToken } from '../../platform/auth/index.ts';
import { welcomeMail, passwordResetMail } from './identity.mails.ts';
import { Uuid } from '../../platform/http/schemas.ts';

export const PASSWORD_RESET_MINUTES = 60;

async function recipient(trx: Tx, tenantId: string, userId: string) {
  return trx
    .selectFrom('users as u')
    .innerJoin('tenants as t', 't.id', 'u.tenant_id')
    .select(['u.id', 'u.email', 'u.name', 'u.status', 'u.password_hash', 't.name as tenant_name', 't.slug'])
    .where('u.tenant_id', '=', tenantId)
    .where('u.id', '=', userId)
    .executeTakeFirst();
}

/**
 * A single-use token that sets the user's password. One per job: a retry replaces the token
 * of its earlier attempt, whose mail never went out (sendOnce mints only for unsent mail).
 */
async function issuePasswordToken(trx: Tx, p: { tenantId: string; userId: string; jobId: string; purpose: 'reset'; validMs: number }): Promise<string> {
  const token = newToken('pwr');
  const expires = new Date(Date.now() + p.validMs);
  await trx
    .insertInto('password_tokens')
    .values({ tenant_id: p.tenantId, user_id: p.userId, purpose: p.purpose, token_hash: hashToken(token), job_id: p.jobId, expires_at: expires })
    .onConflict((oc) => oc.columns(['tenant_id', 'job_id']).doUpdateSet({ token_hash: hashToken(token), expires_at: expires, used_at: null }))
    .execute();
  return token;
}

/** Written by signup. */
export const welcomeMailJob = defineJob('mail.welcome', Type.Object({ userId: Uuid }), async (job) => {
  const user = await job.withTenant((trx) => recipient(trx, job.tenantId, job.payload.userId));
  if (!user || user.status === 'removed') {
    job.log.info('the user is gone; no welcome mail');
    return;
  }
  const base = job.platform.config.BRIGADE_PUBLIC_URL;
  await sendOnce({ mailer: job.mailer, tenancy: job.platform.tenancy }, job, user.email, () =>
    welcomeMail({ userName: user.name, tenantName: user.tenant_name, signInUrl: `${base}/login?tenant=${encodeURIComponent(user.slug)}` }),
  );
});

/** Written by POST /v1/auth/password-reset, one per account the address has. */
export const passwordResetMailJob = defineJob('mail.password_reset', Type.Object({ userId: Uuid }), async (job) => {
  const user = await job.withTenant((trx) => recipient(trx, job.tenantId, job.payload.userId));
  if (!user || user.status === 'removed') {
    job.log.info('the user is gone; no password reset mail');
    return;
  }
  const base = job.platform.config.BRIGADE_PUBLIC_URL;
  await sendOnce({ mailer: job.mailer, tenancy: job.platform.tenancy }, job, user.email, async () => {
    const token = await job.withTenant((trx) =>
      issuePasswordToken(trx, { tenantId: job.tenantId, userId: user.id, jobId: job.jobId, purpose: 'reset', validMs: PASSWORD_RESET_MINUTES * 60_000 }),
    );
    return passwordResetMail({ userName: user.name, tenantName: user.tenant_name, url: `${base}/reset-password?token=${token}`, validMinutes: PASSWORD_RESET_MINUTES });
  });
});

export const identityJobs = [welcomeMailJob, passwordResetMailJob];
