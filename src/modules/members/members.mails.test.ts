import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createJobsTestContext, aTenant, bearer, eventually, type TestContext } from '../../../test/harness.ts';

let t: TestContext;
let op: string;
before(async () => {
  const ctx = await createJobsTestContext();
  t = ctx;
  op = ctx.operatorToken;
});
after(() => t.close());

const mailTo = (to: string) =>
  eventually(async () => {
    const data = (await t.app.inject({ method: 'GET', url: `/ops/api/mails?to=${encodeURIComponent(to)}`, headers: bearer(op) })).json().data as { subject: string; text: string }[];
    return data[0] ?? null;
  }, `a mail to ${to}`);

test('a member added without a password gets an invitation naming the inviter, whose link sets the password', async () => {
  const owner = await aTenant(t.app, 'Invite Inn');
  const email = `invited+${Date.now()}@example.com`;
  const created = await t.app.inject({ method: 'POST', url: '/v1/members', headers: bearer(owner), payload: { name: 'Ivy Invited', email, roles: [{ role: 'accountant' }] } });
  assert.equal(created.statusCode, 201);
  const mail = await mailTo(email);
  assert.equal(mail.subject, 'Olive Owner invited you to Invite Inn on Brigade');
  assert.match(mail.text, /Olive Owner has invited you to join Invite Inn/);
  const token = /accept-invitation\?token=([A-Za-z0-9_-]+)/.exec(mail.text)?.[1];
  assert.ok(token, 'the mail carries the invitation link');

  const accepted = await t.app.inject({ method: 'POST', url: '/v1/invitations/accept', payload: { token, password: 'my first password' } });
  assert.equal(accepted.statusCode, 200);
  // Accepting signs the member in: a session of the inviting business for the invited address.
  const session = accepted.json();
  assert.equal(session.user.email, email);
  assert.equal(session.tenant.id, owner.tenant.id);
  assert.equal((await t.app.inject({ method: 'GET', url: '/v1/me', headers: bearer(session.token) })).json().user.email, email);
  const login = await t.app.inject({ method: 'POST', url: '/v1/auth/login', payload: { email, password: 'my first password' } });
  assert.equal(login.statusCode, 200);
  assert.equal(login.json().user.id, session.user.id);
});
