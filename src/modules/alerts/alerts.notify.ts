import crypto from 'node:crypto';
import { sql } from 'kysely';
import type { Platform } from '../../platform/deps.ts';
import { defineSystemJob, addSystemJob, type SystemJobRun } from '../../platform/jobs/index.ts';
import { composeMail, messageIdFor } from '../../platform/mail.ts';
import { alertsService, type AlertView } from './alerts.service.ts';

/**
 * Notifications leave through jobs, like any other side effect: each row of
 * alert_notifications (written with the alert's change) becomes one `alerts.notify` job with
 * the row's id as job id, retried with backoff and dead-lettered after its last attempt. The
 * row says where it stands (pending, queued, sent, retrying, dead) beside the alert. An
 * endpoint that is down holds up neither the alert nor any request: the alert is listed
 * whatever its notifications do.
 *
 * The webhook is signed: `Brigade-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of
 * "<t>.<body>" with BRIGADE_ALERT_WEBHOOK_SECRET>` (docs/runbooks/alerts.md shows how to check it).
 */
export const WEBHOOK_TIMEOUT_MS = 5000;

export function signWebhook(secret: string, body: string, at: Date): string {
  const t = Math.floor(at.getTime() / 1000);
  const v1 = crypto.createHmac('sha256', secret).update(`${t}.${body}`).digest('hex');
  return `t=${t},v1=${v1}`;
}

async function deliver(run: SystemJobRun): Promise<void> {
  const id = String(run.payload.notificationId ?? '');
  const { tenancy, config } = run.platform;
  const found = await tenancy.withSystem('alerts: notification to deliver', (trx) => trx.selectFrom('alert_notifications').selectAll().where('id', '=', id).executeTakeFirst());
  if (!found) {
    run.log.warn({ notificationId: id }, 'alerts: notification no longer exists (its alert was deleted)');
    return;
  }
  if (found.state === 'sent') return;
  const alert = await alertsService(run.platform).getAlert(found.alert_id);
  if (!alert) return;
  const attempts = run.attempt;
  try {
    if (found.channel === 'mail') {
      await run.mailer.send({ ...alertMail(alert, found.event), to: found.target, messageId: messageIdFor(found.id, found.target), jobId: run.jobId, tenantId: null });
    } else {
      if (!config.BRIGADE_ALERT_WEBHOOK_SECRET) throw new Error('BRIGADE_ALERT_WEBHOOK_SECRET is not set: the webhook cannot be signed');
      const body = JSON.stringify({ id: found.id, type: `alert.${found.event}`, createdAt: found.created_at.toISOString(), alert });
      const res = await fetch(found.target, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'user-agent': 'Brigade-Alerts/1',
          'brigade-event-id': found.id,
          'brigade-signature': signWebhook(config.BRIGADE_ALERT_WEBHOOK_SECRET, body, new Date()),
        },
        body,
        signal: AbortSignal.timeout(WEBHOOK_TIMEOUT_MS),
      });
      await res.body?.cancel();
      if (!res.ok) throw new Error(`The alert webhook answered ${res.status}`);
    }
    await tenancy.withSystem('alerts: notification sent', (trx) =>
      trx.updateTable('alert_notifications').set({ state: 'sent', sent_at: new Date(), attempts, last_error: null }).where('id', '=', id).execute(),
    );
  } catch (err) {
    const last = attempts >= (notifyJob.attempts ?? config.BRIGADE_JOB_ATTEMPTS);
    await tenancy.withSystem('alerts: notification failed', (trx) =>
      trx
        .updateTable('alert_notifications')
        .set({ state: last ? 'dead' : 'retrying', attempts, last_error: (err as Error).message.slice(0, 500) })
        .where('id', '=', id)
        .execute(),
    );
    throw err;
  }
}

function alertMail(alert: AlertView, event: 'opened' | 'resolved') {
  const who = alert.tenantName ? ` for ${alert.tenantName} (${alert.tenantSlug})` : '';
  const subject = event === 'opened' ? `[${alert.severity}] ${alert.title}${who}` : `[resolved] ${alert.title}${who}`;
  const paragraphs = [
    alert.summary,
    `Rule ${alert.rule}, started ${alert.startedAt}${alert.resolvedAt ? `, resolved ${alert.resolvedAt} (${alert.resolution})` : ''}.`,
    ...(alert.observed !== null ? [`Observed ${alert.observed}${alert.expected !== null ? ` against an expected ${alert.expected}` : ''} (${alert.unit ?? 'value'}).`] : []),
  ];
  return composeMail({ subject, greeting: 'Hello operations,', paragraphs, action: { label: 'Open the runbook', url: alert.runbookUrl }, note: 'You receive this because BRIGADE_ALERT_MAIL_TO names you.' });
}

export const notifyJob = defineSystemJob('alerts.notify', deliver);

/**
 * Hands pending notifications to the queue. Run after every evaluation and on its own
 * schedule (notifications written by billing's transactions, or whose job went missing).
 * A row still queued after ten minutes is handed again: the job id makes that a no-op while the
 * job exists.
 */
export async function dispatchNotifications(platform: Platform, now = new Date()): Promise<number> {
  const due = await platform.tenancy.withSystem('alerts: notifications to dispatch', (trx) =>
    trx
      .selectFrom('alert_notifications')
      .select('id')
      .where((eb) => eb.or([eb('state', '=', 'pending'), eb.and([eb('state', '=', 'queued'), eb('queued_at', '<', new Date(now.getTime() - 10 * 60_000))])]))
      .orderBy('created_at')
      .limit(500)
      .execute(),
  );
  for (const n of due) {
    await addSystemJob(platform, notifyJob, { notificationId: n.id }, n.id);
    await platform.tenancy.withSystem('alerts: notification queued', (trx) =>
      trx.updateTable('alert_notifications').set({ state: sql`CASE WHEN state IN ('pending', 'queued') THEN 'queued' ELSE state END`, queued_at: now }).where('id', '=', n.id).execute(),
    );
  }
  return due.length;
}

export const dispatchJob = defineSystemJob(
  'alerts.dispatch',
  async (run) => {
    const n = await dispatchNotifications(run.platform);
    if (n) run.log.info({ notifications: n }, 'alerts: notifications handed to the queue');
  },
  { schedule: { every: 30_000 }, attempts: 3 },
);
