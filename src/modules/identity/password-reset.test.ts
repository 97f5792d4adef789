import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createJobsTestContext, aTenant, bearer, eventually, problem, type TestContext } from '../../../test/harness.ts';

let t: TestContext;
let op: string;
before(async () => {
  const ctx = await createJobsTestContext();
  t = ctx;
  op = ctx.operatorToken;
});
after(() => t.close());

interface Mail {
  to: string;
  subject: string;
  text: string;
  html: string;
  tenantId: string;
}
const mailsTo = async (to: string): Promise<Mail[]> =>
  (await t.app.inject({ method: 'GET', url: `/ops/api/mails?to=${encodeURIComponent(to)}`, headers: bearer(op) })).json().data;
const mailTo = (to: string, subject: RegExp, count = 1) =>
  eventually(async () => {
    const found = (await mailsTo(to)).filter((m) => subject.test(m.subject));
    return found.length >= count ? found : null;
  }, `mail "${subject}" to ${to}`);
const tokenIn = (m: Mail) => /token=([A-Za-z0-9_-]+)/.exec(m.text)![1]!;
const login = (email: string, password: string, tenant?: string) =>
  t.app.inject({ method: 'POST', url: '/v1/auth/login', payload: { email, password, ...(tenant ? { tenant } : {}) } });

test('signing up sends a welcome mail in the background', async () => {
  const owner = await aTenant(t.app, 'Welcome Bakery');
  const [mail] = await mailTo(owner.user.email, /^Welcome to Brigade/);
  assert.match(mail!.text, /Welcome Bakery is set up on Brigade/);
  assert.equal(mail!.tenantId, owner.tenant.id);
});

test('a password reset answers 202 alike for known and unknown addresses; the link sets a new password once and signs out other sessions', async () => {
  const owner = await aTenant(t.app);
  const known = await t.app.inject({ method: 'POST', url: '/v1/auth/password-reset', payload: { email: owner.user.email } });
  const unknown = await t.app.inject({ method: 'POST', url: '/v1/auth/password-reset', payload: { email: 'nobody-here@example.com' } });
  assert.equal(known.statusCode, 202);
  assert.equal(unknown.statusCode, 202);
  assert.deepEqual(known.json(), unknown.json());

  const [mail] = await mailTo(owner.user.email, /^Set a new password/);
  assert.match(mail!.html, /Choose a new password/);
  const token = tokenIn(mail!);
  const confirmed = await t.app.inject({ method: 'POST', url: '/v1/auth/password-reset/confirm', payload: { token, password: 'a brand new password' } });
  assert.equal(confirmed.statusCode, 200);
  assert.equal(confirmed.json().user.id, owner.user.id);

  assert.equal((await t.app.inject({ method: 'GET', url: '/v1/me', headers: bearer(owner) })).statusCode, 401, 'the old session is signed out');
  assert.equal((await t.app.inject({ method: 'GET', url: '/v1/me', headers: bearer(confirmed.json().token) })).statusCode, 200);
  assert.equal((await login(owner.user.email, 'a brand new password')).statusCode, 200);
  assert.equal((await login(owner.user.email, 'correct horse battery')).statusCode, 401);

  const again = await t.app.inject({ method: 'POST', url: '/v1/auth/password-reset/confirm', payload: { token, password: 'yet another password' } });
  assert.equal(again.statusCode, 400);
  assert.equal(problem(again).code, 'invalid_token');
  const forged = await t.app.inject({ method: 'POST', url: '/v1/auth/password-reset/confirm', payload: { token: 'pwr_not-a-real-token-at-all', password: 'yet another password' } });
  assert.equal(problem(forged).code, 'invalid_token');
});

test('an address with accounts in two businesses gets a link per business, and each link resets only its own account', async () => {
  const email = `two-places+${Date.now()}@example.com`;
  const alpha = (await t.app.inject({ method: 'POST', url: '/v1/signup', payload: { businessName: 'Alpha Diner', name: 'Al', email, password: 'alpha password' } })).json();
  const beta = (await t.app.inject({ method: 'POST', url: '/v1/signup', payload: { businessName: 'Beta Bar', name: 'Al', email, password: 'beta password' } })).json();
  await t.app.inject({ method: 'POST', url: '/v1/auth/password-reset', payload: { email } });
  const mails = await mailTo(email, /^Set a new password/, 2);
  const forAlpha = mails.find((m) => m.tenantId === alpha.tenant.id)!;
  assert.ok(mails.some((m) => m.tenantId === beta.tenant.id));
  assert.match(forAlpha.subject, /Alpha Diner/);

  const res = await t.app.inject({ method: 'POST', url: '/v1/auth/password-reset/confirm', payload: { token: tokenIn(forAlpha), password: 'alpha renewed' } });
  assert.equal(res.json().tenant.id, alpha.tenant.id);
  assert.equal((await login(email, 'alpha renewed', alpha.tenant.slug)).statusCode, 200);
  assert.equal((await login(email, 'beta password', beta.tenant.slug)).statusCode, 200, "the other business's password is untouched");
  assert.equal((await login(email, 'alpha renewed', beta.tenant.slug)).statusCode, 401);
});

test('password reset requests past the hourly limit are accepted and dropped', async () => {
  const owner = await aTenant(t.app);
  for (let i = 0; i < 7; i++) {
    const r = await t.app.inject({ method: 'POST', url: '/v1/auth/password-reset', payload: { email: owner.user.email } });
    assert.equal(r.statusCode, 202);
  }
  await mailTo(owner.user.email, /^Set a new password/, 5);
  const outbox = await t.platform.tenancy.withTenant({ tenantId: owner.tenant.id }, (trx) =>
    trx.selectFrom('outbox').select('id').where('tenant_id', '=', owner.tenant.id).where('type', '=', 'mail.password_reset').execute(),
  );
  assert.equal(outbox.length, 5);
});
