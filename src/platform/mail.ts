import crypto from 'node:crypto';
import nodemailer, { type Transporter } from 'nodemailer';
import type { Config } from '../config.ts';
import type { Tenancy } from './db/index.ts';
import type { Logger } from './log.ts';

export interface MailMessage {
  to: string;
  subject: string;
  text: string;
  html?: string;
  /** Files sent with the mail (a report's CSV). SMTP only: the catcher does not keep them. */
  attachments?: { filename: string; content: string; contentType: string }[];
}

export interface OutgoingMail extends MailMessage {
  /** Stable per job and recipient, so a receiver (and the catcher) can drop a resend. */
  messageId: string;
  tenantId?: string | null;
  jobId?: string | null;
}

export interface Mailer {
  kind: 'smtp' | 'catcher';
  send(mail: OutgoingMail): Promise<void>;
  close(): void;
}

/**
 * SMTP through nodemailer when SMTP_URL is set; otherwise the built-in catcher, which keeps each
 * mail in `caught_mails` for the ops API and dashboard. Both implement the one port handlers use.
 */
export function createMailer(config: Config, tenancy: Tenancy, log: Logger): Mailer {
  const from = config.MAIL_FROM;
  if (config.SMTP_URL) {
    const transport: Transporter = nodemailer.createTransport(config.SMTP_URL);
    return {
      kind: 'smtp',
      async send(mail) {
        await transport.sendMail({ from, to: mail.to, subject: mail.subject, text: mail.text, html: mail.html, messageId: mail.messageId, attachments: mail.attachments });
        log.info({ to: mail.to, subject: mail.subject, messageId: mail.messageId }, 'mail sent');
      },
      close: () => transport.close(),
    };
  }
  return {
    kind: 'catcher',
    async send(mail) {
      await tenancy.withSystem('mail: catch outgoing mail', (trx) =>
        trx
          .insertInto('caught_mails')
          .values({
            message_id: mail.messageId,
            tenant_id: mail.tenantId ?? null,
            job_id: mail.jobId ?? null,
            sender: from,
            recipient: mail.to,
            subject: mail.subject,
            text_body: mail.text,
            html_body: mail.html ?? null,
          })
          .onConflict((oc) => oc.column('message_id').doNothing())
          .execute(),
      );
      log.info({ to: mail.to, subject: mail.subject, messageId: mail.messageId }, 'mail caught (SMTP_URL is unset)');
    },
    close: () => undefined,
  };
}

export function messageIdFor(jobId: string, recipient: string): string {
  const r = crypto.createHash('sha256').update(recipient.toLowerCase()).digest('hex').slice(0, 16);
  return `<${jobId}.${r}@brigade.mail>`;
}

/**
 * Sends one mail of a job at most once per recipient, as far as a database can promise it:
 * a delivery already recorded for (job, recipient) is skipped; otherwise the mail is composed
 * (only then: a password token is minted only for a mail that will go out; compose may find
 * there is nothing to send any more and return null), sent, and recorded.
 * A crash between sending and recording resends with the same Message-ID, which receivers and
 * the catcher use to drop the duplicate.
 */
export async function sendOnce(
  deps: { mailer: Mailer; tenancy: Tenancy },
  job: { tenantId: string; jobId: string },
  to: string,
  compose: () => Promise<Omit<MailMessage, 'to'> | null> | Omit<MailMessage, 'to'> | null,
): Promise<'sent' | 'already_sent' | 'nothing_to_send'> {
  const recipient = to.toLowerCase();
  const ctx = { tenantId: job.tenantId };
  const done = await deps.tenancy.withTenant(ctx, (trx) =>
    trx
      .selectFrom('mail_deliveries')
      .select('message_id')
      .where('tenant_id', '=', job.tenantId)
      .where('job_id', '=', job.jobId)
      .where('recipient', '=', recipient)
      .executeTakeFirst(),
  );
  if (done) return 'already_sent';
  const message = await compose();
  if (!message) return 'nothing_to_send';
  const messageId = messageIdFor(job.jobId, recipient);
  await deps.mailer.send({ ...message, to: recipient, messageId, tenantId: job.tenantId, jobId: job.jobId });
  await deps.tenancy.withTenant(ctx, (trx) =>
    trx
      .insertInto('mail_deliveries')
      .values({ tenant_id: job.tenantId, job_id: job.jobId, recipient, message_id: messageId })
      .onConflict((oc) => oc.columns(['tenant_id', 'job_id', 'recipient']).doNothing())
      .execute(),
  );
  return 'sent';
}

const escapes: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
export const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => escapes[c]!);

export interface MailContent {
  subject: string;
  greeting: string;
  paragraphs: string[];
  action?: { label: string; url: string };
  /** Small print under the action (why you got this mail, how long a link lasts). */
  note?: string;
}

/** One layout for every Brigade mail: a plain-text part and an HTML part saying the same. */
export function composeMail(c: MailContent): Omit<MailMessage, 'to'> {
  const text = [
    c.greeting,
    '',
    ...c.paragraphs.flatMap((p) => [p, '']),
    ...(c.action ? [`${c.action.label}: ${c.action.url}`, ''] : []),
    ...(c.note ? [c.note, ''] : []),
    '— Brigade',
  ].join('\n');
  const html = `<!doctype html>
<html><body style="font-family: -apple-system, Segoe UI, Roboto, sans-serif; color: #1f2933; max-width: 560px; margin: 0 auto; padding: 24px;">
<p>${escapeHtml(c.greeting)}</p>
${c.paragraphs.map((p) => `<p>${escapeHtml(p)}</p>`).join('\n')}
${c.action ? `<p><a href="${escapeHtml(c.action.url)}" style="display: inline-block; background: #0b6e4f; color: #fff; padding: 10px 18px; border-radius: 6px; text-decoration: none;">${escapeHtml(c.action.label)}</a></p>` : ''}
${c.note ? `<p style="color: #616e7c; font-size: 13px;">${escapeHtml(c.note)}</p>` : ''}
<p style="color: #616e7c;">— Brigade</p>
</body></html>`;
  return { subject: c.subject, text, html };
}
