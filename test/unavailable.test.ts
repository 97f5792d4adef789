import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type pg from 'pg';
import { createTestContext, aTenant, bearer, problem, eventually, adminUrl, type TestContext } from './harness.ts';
import { startTcpProxy, throughProxy, type TcpProxy } from './fixtures/tcp-proxy.ts';

let t: TestContext;
let proxy: TcpProxy;
before(async () => {
  const target = new URL(adminUrl);
  proxy = await startTcpProxy(target.hostname, Number(target.port || 5432));
  t = await createTestContext(
    { BRIGADE_DB_CONNECT_TIMEOUT_MS: '1000', BRIGADE_DB_QUERY_TIMEOUT_MS: '1000' },
    { databaseUrl: (url) => throughProxy(url, proxy) },
  );
});
after(async () => {
  proxy.restore();
  await t.close();
  await proxy.close();
});

const login = (email: string) => t.app.inject({ method: 'POST', url: '/v1/auth/login', payload: { email, password: 'correct horse battery' } });

test('with the database down, requests answer 503 service_unavailable with Retry-After, and recover by themselves', async () => {
  const owner = await aTenant(t.app);
  assert.equal((await login(owner.user.email)).statusCode, 200);

  proxy.refuse();
  try {
    const refused = await login(owner.user.email);
    assert.equal(refused.statusCode, 503);
    assert.equal(problem(refused).code, 'service_unavailable');
    assert.equal(refused.headers['retry-after'], '5');
    assert.ok(refused.headers['x-request-id']);
    // An authenticated request too (its session cannot be trusted from memory either).
    const me = await t.app.inject({ method: 'GET', url: '/v1/me', headers: bearer(owner) });
    assert.equal(me.statusCode, 503);
    assert.equal(problem(me).code, 'service_unavailable');
    const ready = await t.app.inject({ method: 'GET', url: '/readyz' });
    assert.equal(ready.statusCode, 503);
    assert.deepEqual(ready.json().checks, { postgres: 'unreachable', redis: 'ok' });
  } finally {
    proxy.restore();
  }
  await eventually(async () => (await t.app.inject({ method: 'GET', url: '/readyz' })).statusCode === 200, 'readiness after the outage');
  assert.equal((await login(owner.user.email)).statusCode, 200);
});

test('with the database hung, requests answer 503 within the configured timeouts instead of hanging', async () => {
  const owner = await aTenant(t.app);
  proxy.hang();
  try {
    const started = Date.now();
    const hung = await login(owner.user.email);
    assert.equal(hung.statusCode, 503, hung.body);
    assert.equal(problem(hung).code, 'service_unavailable');
    assert.ok(Date.now() - started < 4000, `answered after ${Date.now() - started} ms`);
  } finally {
    proxy.restore();
  }
  await eventually(async () => (await login(owner.user.email)).statusCode === 200, 'logins after the hang', 15_000);
});

test('/readyz says busy, and stays ready, when every pooled connection is taken', async () => {
  const held: pg.PoolClient[] = [];
  try {
    for (let i = 0; i < 20; i++) held.push(await t.platform.db.runtimePool.connect());
    // A request waits for one of them meanwhile.
    const waiting = t.platform.db.runtimePool.query('SELECT 1');
    const ready = await t.app.inject({ method: 'GET', url: '/readyz' });
    assert.equal(ready.statusCode, 200, ready.body);
    assert.deepEqual(ready.json(), { status: 'ready', checks: { postgres: 'busy', redis: 'ok' } });
    for (const c of held.splice(0)) c.release();
    await waiting;
  } finally {
    for (const c of held) c.release();
  }
  assert.deepEqual((await t.app.inject({ method: 'GET', url: '/readyz' })).json().checks, { postgres: 'ok', redis: 'ok' });
});
