import { composeMail } from '../../platform/mail.ts';

/** The identity module's mails: text and HTML from one content description each. */

export function welcomeMail(p: { userName: string; tenantName: string; signInUrl: string }) {
  return composeMail({
    subject: `Welcome to Brigade, ${p.userName}`,
    greeting: `Hello ${p.userName},`,
    paragraphs: [
      `${p.tenantName} is set up on Brigade. Add your branches, your menu and your team, and you are ready for the first service.`,
      'You are the owner of this business: you can invite your managers, cashiers and accountant and decide what each of them may do.',
    ],
    action: { label: 'Sign in to Brigade', url: p.signInUrl },
  });
}

export function passwordResetMail(p: { userName: string; tenantName: string; url: string; validMinutes: number }) {
  return composeMail({
    subject: `Set a new password for ${p.tenantName}`,
    greeting: `Hello ${p.userName},`,
    paragraphs: [`Someone (we hope you) asked to set a new password for your ${p.tenantName} account on Brigade.`],
    action: { label: 'Choose a new password', url: p.url },
    note: `The link works once, for ${p.validMinutes} minutes. Setting a new password signs you out everywhere else. If you did not ask for this, ignore this mail: your password stays as it is.`,
  });
}
