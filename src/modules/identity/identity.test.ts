import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createTestContext, aTenant, bearer, problem, type TestContext } from '../../../test/harness.ts';

let t: TestContext;
before(async () => {
  t = await createTestContext();
});
after(() => t.close());

test('signup creates a business whose owner can call /v1/me', async () => {
  const owner = await aTenant(t.app, 'Signup Test');
  assert.equal(owner.tenant.currency, 'EUR');
  const me = await t.app.inject({ method: 'GET', url: '/v1/me', headers: bearer(owner) });
  assert.equal(me.statusCode, 200);
  const body = me.json();
  assert.equal(body.tenant.id, owner.tenant.id);
  assert.deepEqual(body.roles, [{ role: 'owner', branchId: null }]);
  assert.ok(body.permissions.some((p: { permission: string }) => p.permission === 'billing.manage'));
});

test('login gives the same answer for an unknown e-mail and a wrong password', async () => {
  const owner = await aTenant(t.app);
  const wrong = await t.app.inject({ method: 'POST', url: '/v1/auth/login', payload: { email: owner.user.email, password: 'wrong password' } });
  const unknown = await t.app.inject({ method: 'POST', url: '/v1/auth/login', payload: { email: 'nobody@example.com', password: 'wrong password' } });
  assert.equal(wrong.statusCode, 401);
  assert.equal(unknown.statusCode, 401);
  assert.equal(problem(wrong).code, 'invalid_credentials');
  assert.deepEqual({ ...problem(wrong), instance: undefined }, { ...problem(unknown), instance: undefined });
});

test('logout kills the token', async () => {
  const owner = await aTenant(t.app);
  const out = await t.app.inject({ method: 'POST', url: '/v1/auth/logout', headers: bearer(owner) });
  assert.equal(out.statusCode, 204);
  const me = await t.app.inject({ method: 'GET', url: '/v1/me', headers: bearer(owner) });
  assert.equal(me.statusCode, 401);
  assert.equal(problem(me).code, 'unauthenticated');
});

test('a user in two businesses must say which one, and never learns the other password', async () => {
  const email = `shared+${Date.now()}@example.com`;
  const a = await t.app.inject({ method: 'POST', url: '/v1/signup', payload: { businessName: 'Alpha', name: 'Al', email, password: 'password-alpha' } });
  const b = await t.app.inject({ method: 'POST', url: '/v1/signup', payload: { businessName: 'Beta', name: 'Bo', email, password: 'password-alpha' } });
  assert.equal(a.statusCode, 201);
  assert.equal(b.statusCode, 201);
  const ambiguous = await t.app.inject({ method: 'POST', url: '/v1/auth/login', payload: { email, password: 'password-alpha' } });
  assert.equal(ambiguous.statusCode, 409);
  assert.equal(problem(ambiguous).code, 'tenant_required');
  const chosen = await t.app.inject({ method: 'POST', url: '/v1/auth/login', payload: { email, password: 'password-alpha', tenant: b.json().tenant.slug } });
  assert.equal(chosen.statusCode, 200);
  assert.equal(chosen.json().tenant.id, b.json().tenant.id);

  // A third business registering the same address with another password changes nothing for the first two.
  const c = await t.app.inject({ method: 'POST', url: '/v1/signup', payload: { businessName: 'Gamma', name: 'Ga', email, password: 'password-gamma' } });
  assert.equal(c.statusCode, 201);
  const asGamma = await t.app.inject({ method: 'POST', url: '/v1/auth/login', payload: { email, password: 'password-gamma' } });
  assert.equal(asGamma.json().tenant.id, c.json().tenant.id);
  const alphaWithGammaPassword = await t.app.inject({ method: 'POST', url: '/v1/auth/login', payload: { email, password: 'password-gamma', tenant: a.json().tenant.slug } });
  assert.equal(alphaWithGammaPassword.statusCode, 401);
});

test('repeated failed logins are throttled with 429 and Retry-After', async () => {
  const owner = await aTenant(t.app);
  let last;
  for (let i = 0; i < 11; i++) {
    last = await t.app.inject({ method: 'POST', url: '/v1/auth/login', payload: { email: owner.user.email, password: `guess-${i}` } });
  }
  assert.equal(last!.statusCode, 429);
  assert.equal(problem(last!).code, 'rate_limited');
  assert.ok(Number(last!.headers['retry-after']) > 0);
  // Even the right password is refused while the account is locked.
  const right = await t.app.inject({ method: 'POST', url: '/v1/auth/login', payload: { email: owner.user.email, password: 'correct horse battery' } });
  assert.equal(right.statusCode, 429);
});

test('a token of tenant A never reaches tenant B: the tenant comes from the token only', async () => {
  const a = await aTenant(t.app);
  const b = await aTenant(t.app);
  const me = await t.app.inject({ method: 'GET', url: '/v1/me', headers: { ...bearer(a), 'x-tenant-id': b.tenant.id } });
  assert.equal(me.json().tenant.id, a.tenant.id);
});

test('a session revoked behind the application’s back stops working within moments in every process', async () => {
  const owner = await aTenant(t.app);
  assert.equal((await t.app.inject({ method: 'GET', url: '/v1/me', headers: bearer(owner) })).statusCode, 200);
  // Every process hears of it on the brigade_auth channel; this one's cache subscribed first, so it has forgotten the session when this hears it.
  const heard = new Promise<void>((resolve) => {
    const stop = t.platform.db.notifications.subscribe('brigade_auth', (tenantId) => {
      if (tenantId !== owner.tenant.id) return;
      stop();
      resolve();
    }, () => undefined);
  });
  const { default: pg } = await import('pg');
  const c = new pg.Client({ connectionString: t.ownerUrl });
  await c.connect();
  await c.query('UPDATE sessions SET revoked_at = now() WHERE tenant_id = $1', [owner.tenant.id]);
  await c.end();
  await heard;
  const after = await t.app.inject({ method: 'GET', url: '/v1/me', headers: bearer(owner) });
  assert.equal(after.statusCode, 401);
  assert.equal(problem(after).code, 'unauthenticated');
});

test('a role taken away inside the application is gone on the very next request', async () => {
  const owner = await aTenant(t.app);
  assert.equal((await t.app.inject({ method: 'GET', url: '/v1/me', headers: bearer(owner) })).json().roles.length, 1);
  await t.platform.tenancy.withTenant({ tenantId: owner.tenant.id }, (trx) =>
    trx.insertInto('role_assignments').values({ tenant_id: owner.tenant.id, user_id: owner.user.id, role_key: 'accountant', branch_id: null }).execute(),
  );
  const me = await t.app.inject({ method: 'GET', url: '/v1/me', headers: bearer(owner) });
  assert.equal(me.json().roles.length, 2);
});
