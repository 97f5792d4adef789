import { composeMail } from '../../platform/mail.ts';

export function invitationMail(p: { userName: string; tenantName: string; inviterName: string | null; url: string; expiresAt: Date | null }) {
  const who = p.inviterName ? `${p.inviterName} has invited you` : 'You have been invited';
  return composeMail({
    subject: `${p.inviterName ?? p.tenantName} invited you to ${p.tenantName} on Brigade`,
    greeting: `Hello ${p.userName},`,
    paragraphs: [`${who} to join ${p.tenantName} on Brigade.`],
    action: p.expiresAt ? { label: 'Accept and choose your password', url: p.url } : { label: 'Sign in to Brigade', url: p.url },
    note: p.expiresAt ? `The link works once, until ${p.expiresAt.toUTCString()}.` : undefined,
  });
}
