import { Type } from 'typebox';
import type { Platform } from '../../platform/deps.ts';
import { defineJob, defineSystemJob, type AnyJobDefinition } from '../../platform/jobs/index.ts';
import { composeMail, sendOnce, type Mailer } from '../../platform/mail.ts';
import { billingRecipients, noticeById } from './billing.repository.ts';
import { billingModule } from './billing.module.ts';
import { SWEEP_EVERY_MS, WEBHOOK_JOB } from './billing.inbox.ts';
import { PROVISION_JOB } from './billing.service.ts';
import { MAIL_NOTICE_JOB } from './billing.sync.ts';
import { Uuid } from '../../platform/http/schemas.ts';

/**
 * Billing's background work. Tenant jobs arrive through the outbox:
 *   billing.provision       {}           the provider's customer and trial subscription
 *   billing.webhook_event   {eventId}    process one stored webhook event
 *   mail.billing_notice     {noticeId}   mail a notice to the business's owners
 * System jobs run on a schedule:
 *   billing.lifecycle       every 15 minutes   reminders, trial and grace ends, retention
 *   billing.reconcile       hourly             compare with the provider and repair
 *   billing.inbox_sweep     every 30 seconds   jobs for stored webhook events left without one
 *
 * Every handler is idempotent: a retry, a replay or a job running beside its own first attempt
 * changes nothing twice (see billing.sync.ts and the unique notice keys).
 */

export const LIFECYCLE_EVERY_MS = 15 * 60_000;
export const RECONCILE_CRON = '17 * * * *';

export const provisionJob = defineJob(PROVISION_JOB, Type.Object({}), async (job) => {
  const result = await billingModule(job.platform).service.provision(job.tenantId);
  job.log.info({ result }, 'billing: provisioned at the payment provider');
});

export const webhookEventJob = defineJob(WEBHOOK_JOB, Type.Object({ eventId: Type.String({ minLength: 1, maxLength: 255 }) }), async (job) => {
  await billingModule(job.platform).inbox.process(job.payload.eventId);
});

/** Sends one notice to each owner, once per recipient however often the job runs. */
export async function sendBillingNotice(platform: Platform, mailer: Mailer, job: { tenantId: string; jobId: string }, noticeId: string): Promise<number> {
  const found = await platform.tenancy.withTenant({ tenantId: job.tenantId }, async (trx) => ({
    notice: await noticeById(trx, job.tenantId, noticeId),
    recipients: await billingRecipients(trx, job.tenantId),
  }));
  if (!found.notice) return 0;
  const notice = found.notice;
  const billingUrl = new URL('/billing', platform.config.BRIGADE_PUBLIC_URL).toString();
  let sent = 0;
  for (const r of found.recipients) {
    const outcome = await sendOnce({ mailer, tenancy: platform.tenancy }, job, r.email, () =>
      composeMail({
        subject: notice.subject,
        greeting: `Hello ${r.name},`,
        paragraphs: [notice.body],
        action: { label: 'Open billing', url: billingUrl },
        note: 'You receive this because you own this business on Brigade.',
      }),
    );
    if (outcome === 'sent') sent++;
  }
  return sent;
}

export const billingNoticeMailJob = defineJob(MAIL_NOTICE_JOB, Type.Object({ noticeId: Uuid, kind: Type.Optional(Type.String()) }), async (job) => {
  await sendBillingNotice(job.platform, job.mailer, job, job.payload.noticeId);
});

export const lifecycleJob = defineSystemJob(
  'billing.lifecycle',
  async (run) => {
    const summary = await billingModule(run.platform).lifecycle.sweep();
    run.log.info(summary, 'billing: lifecycle sweep');
  },
  { schedule: { every: LIFECYCLE_EVERY_MS }, attempts: 3 },
);

export const reconcileJob = defineSystemJob(
  'billing.reconcile',
  async (run) => {
    await billingModule(run.platform).reconciler.reconcile({ trigger: 'schedule' });
  },
  { schedule: { pattern: RECONCILE_CRON }, attempts: 3 },
);

/** The backstop of the inbox's quick wake-up: an API process that died after its 200 queued nothing. */
export const inboxSweepJob = defineSystemJob(
  'billing.inbox_sweep',
  async (run) => {
    const queued = await billingModule(run.platform).inbox.sweep();
    if (queued > 0) run.log.info({ queued }, 'billing: queued stored webhook events');
  },
  { schedule: { every: SWEEP_EVERY_MS }, attempts: 2 },
);

export const billingJobs: AnyJobDefinition[] = [provisionJob, webhookEventJob, billingNoticeMailJob, lifecycleJob, reconcileJob, inboxSweepJob];

/**
 * Runs billing's pending outbox rows in this process, oldest first, marking each relayed when
 * its handler succeeds (a failing one stays pending, its error returned). For tests and the
 * benchmark, which drive billing step by step without the relay and the workers.
 */
export async function runBillingOutbox(
  platform: Platform,
  opts: { types?: string[]; tenantId?: string; signal?: AbortSignal } = {},
): Promise<{ ran: number; failed: { type: string; error: string }[] }> {
  const handlers: Record<string, (tenantId: string, payload: Record<string, unknown>) => Promise<unknown>> = {
    [PROVISION_JOB]: (tenantId) => billingModule(platform).service.provision(tenantId),
    [WEBHOOK_JOB]: (_tenantId, payload) => billingModule(platform).inbox.process(String(payload.eventId)),
  };
  const types = opts.types ?? Object.keys(handlers);
  // The jobs of stored webhook events, as the inbox's wake-up or the periodic sweep would queue
  // them. The wake-up first: while it runs, the events it holds locked are skipped by this sweep
  // and their jobs not yet committed, so the pass below would miss them and report nothing to run.
  if (types.includes(WEBHOOK_JOB)) {
    const { inbox } = billingModule(platform);
    await inbox.idle();
    await inbox.sweep();
  }
  const result = { ran: 0, failed: [] as { type: string; error: string }[] };
  const done = new Set<string>();
  for (;;) {
    if (opts.signal?.aborted) return result;
    const rows = await platform.tenancy.withSystem('billing: pending billing jobs', (trx) => {
      let q = trx.selectFrom('outbox').select(['tenant_id', 'id', 'type', 'payload']).where('relayed_at', 'is', null).where('type', 'in', types).where('run_at', '<=', new Date());
      if (opts.tenantId) q = q.where('tenant_id', '=', opts.tenantId);
      return q.orderBy('created_at').orderBy('id').limit(500).execute();
    });
    const fresh = rows.filter((r) => !done.has(r.id));
    if (fresh.length === 0) return result;
    for (const row of fresh) {
      if (opts.signal?.aborted) return result;
      done.add(row.id);
      const handler = handlers[row.type];
      if (!handler) continue;
      try {
        await handler(row.tenant_id, row.payload);
        await platform.tenancy.withSystem('billing: mark job done', (trx) =>
          trx.updateTable('outbox').set({ relayed_at: new Date() }).where('tenant_id', '=', row.tenant_id).where('id', '=', row.id).execute(),
        );
        result.ran++;
      } catch (err) {
        result.failed.push({ type: row.type, error: (err as Error).message });
      }
    }
  }
}
