import crypto from 'node:crypto';
import type { Platform } from '../../platform/deps.ts';
import { billingRecipients, noticeById } from './billing.repository.ts';
import { billingModule } from './billing.module.ts';
import { WEBHOOK_JOB } from './billing.inbox.ts';
import { PROVISION_JOB } from './billing.service.ts';
import { MAIL_NOTICE_JOB } from './billing.sync.ts';

/**
 * Billing's background work. Tenant jobs arrive through the outbox:
 *   billing.provision       {tenantId}           the provider's customer and trial subscription
 *   billing.webhook_event   {tenantId, eventId}  process one stored webhook event
 *   mail.billing_notice     {tenantId, noticeId} mail a notice to the business's owners
 * System jobs run on a schedule:
 *   billing.lifecycle       every 15 minutes     reminders, trial and grace ends, retention
 *   billing.reconcile       every hour           compare with the provider and repair
 *
 * The handlers are plain functions of (platform, payload) so that the job runtime, the CLI and
 * tests call the same code.
 */
export const billingJobTypes = { provision: PROVISION_JOB, webhookEvent: WEBHOOK_JOB, notice: MAIL_NOTICE_JOB, lifecycle: 'billing.lifecycle', reconcile: 'billing.reconcile' } as const;

export const LIFECYCLE_EVERY_MS = 15 * 60_000;
export const RECONCILE_CRON = '17 * * * *';

export async function provisionTenantJob(platform: Platform, payload: { tenantId: string }): Promise<void> {
  await billingModule(platform).service.provision(payload.tenantId);
}

export async function webhookEventJob(platform: Platform, payload: { tenantId: string; eventId: string }): Promise<void> {
  await billingModule(platform).inbox.process(payload.eventId);
}

export async function lifecycleJob(platform: Platform, now = new Date()) {
  return billingModule(platform).lifecycle.sweep(now);
}

export async function reconcileJob(platform: Platform, opts: { tenantId?: string } = {}) {
  return billingModule(platform).reconciler.reconcile({ trigger: 'schedule', ...opts });
}

/** The part of the job runtime's mail port this job needs. */
export interface NoticeMailer {
  send(mail: { to: string; subject: string; text: string; messageId: string; tenantId?: string | null; jobId?: string | null }): Promise<void>;
}

/**
 * `mail.billing_notice`: mails one notice to the business's owners. The Message-ID is stable per
 * notice and recipient, so a retried job is recognised as a resend by receivers and the catcher.
 */
export async function billingNoticeMailJob(platform: Platform, mailer: NoticeMailer, payload: { tenantId: string; noticeId: string }, jobId: string | null = null): Promise<number> {
  const { tenantId, noticeId } = payload;
  const found = await platform.tenancy.withTenant({ tenantId }, async (trx) => ({
    notice: await noticeById(trx, tenantId, noticeId),
    recipients: await billingRecipients(trx, tenantId),
  }));
  if (!found.notice) return 0;
  for (const r of found.recipients) {
    const digest = crypto.createHash('sha256').update(`${noticeId}:${r.email}`).digest('hex').slice(0, 24);
    await mailer.send({
      to: r.email,
      subject: found.notice.subject,
      text: `Hello ${r.name},\n\n${found.notice.body}\n\nBrigade`,
      messageId: `<billing-${digest}@brigade.mail>`,
      tenantId,
      jobId,
    });
  }
  return found.recipients.length;
}

const tenantJobs: Record<string, (platform: Platform, payload: Record<string, unknown>) => Promise<void>> = {
  [PROVISION_JOB]: (platform, payload) => provisionTenantJob(platform, payload as { tenantId: string }),
  [WEBHOOK_JOB]: (platform, payload) => webhookEventJob(platform, payload as { tenantId: string; eventId: string }),
};

/**
 * Runs billing's pending outbox rows in this process, oldest first, marking each relayed when
 * its handler succeeds (a failing one stays pending with its error returned). The job runtime
 * does this in production; tests and the CLI use it to run the work in step.
 */
export async function runBillingOutbox(
  platform: Platform,
  opts: { types?: string[]; tenantId?: string; signal?: AbortSignal } = {},
): Promise<{ ran: number; failed: { type: string; error: string }[] }> {
  const types = opts.types ?? Object.keys(tenantJobs);
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
      const handler = tenantJobs[row.type];
      if (!handler) continue;
      try {
        await handler(platform, row.payload);
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

/**
 * Until the job runtime (relay, workers, schedules) runs billing's jobs, `brigade start` runs
 * them in process: pending billing outbox rows every few seconds, the lifecycle sweep every 15
 * minutes and reconciliation every hour. Remove once billing's jobs are registered with it.
 */
export function runBillingInProcess(platform: Platform, opts: { pollMs?: number } = {}): { stop(): Promise<void> } {
  const { log } = platform;
  const busy = new Set<string>();
  const stopping = new AbortController();
  const once = (name: string, fn: () => Promise<unknown>) => async () => {
    if (busy.has(name)) return;
    busy.add(name);
    try {
      const result = await fn();
      if (name !== 'outbox') log.info({ result }, `billing: ${name} ran`);
    } catch (err) {
      log.warn({ err }, `billing: ${name} failed; it runs again on its next turn`);
    } finally {
      busy.delete(name);
    }
  };
  const outbox = once('outbox', async () => {
    const { failed } = await runBillingOutbox(platform, { signal: stopping.signal });
    for (const f of failed) log.warn({ type: f.type, error: f.error }, 'billing: job failed; retried on the next pass');
  });
  const timers = [
    setInterval(outbox, opts.pollMs ?? 2_000),
    setInterval(once('lifecycle', () => lifecycleJob(platform)), LIFECYCLE_EVERY_MS),
    setInterval(once('reconciliation', () => reconcileJob(platform)), 60 * 60_000),
  ];
  for (const timer of timers) timer.unref();
  void outbox();
  return {
    /** Stops scheduling; a pass in flight gets a moment to finish (its transactions roll back if cut short). */
    async stop() {
      stopping.abort();
      for (const timer of timers) clearInterval(timer);
      const deadline = Date.now() + 200;
      while (busy.size > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 25));
    },
  };
}
