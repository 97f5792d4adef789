import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { createTestContext, aTenant, problem, eventually, type TestContext } from './harness.ts';
import { startTcpProxy, throughProxy } from './fixtures/tcp-proxy.ts';
import { clientCounter } from '../src/platform/http/client-counter.ts';
import { createLogger } from '../src/platform/log.ts';
import { connectRedis } from '../src/platform/redis.ts';

const closers: (() => Promise<void>)[] = [];
after(async () => {
  for (const c of closers.reverse()) await c();
});
async function context(env: Record<string, string>): Promise<TestContext> {
  const t = await createTestContext(env);
  closers.push(() => t.close());
  return t;
}

const login = (t: TestContext, email: string, password: string, client?: string) =>
  t.app.inject({ method: 'POST', url: '/v1/auth/login', payload: { email, password }, headers: client ? { 'x-forwarded-for': client } : {} });

test('login works within bounded time while Redis is down or hung, and failures are still throttled', async () => {
  const redis = new URL(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
  const proxy = await startTcpProxy(redis.hostname, Number(redis.port || 6379));
  const t = await createTestContext({ REDIS_URL: throughProxy(redis.toString(), proxy), BRIGADE_REDIS_TIMEOUT_MS: '300' });
  try {
    const owner = await aTenant(t.app);
    proxy.refuse();
    let started = Date.now();
    const down = await login(t, owner.user.email, 'correct horse battery');
    assert.equal(down.statusCode, 200, down.body);
    assert.ok(Date.now() - started < 3000, `login took ${Date.now() - started} ms with Redis down`);

    proxy.restore();
    proxy.hang();
    started = Date.now();
    const hung = await login(t, owner.user.email, 'correct horse battery');
    assert.equal(hung.statusCode, 200, hung.body);
    assert.ok(Date.now() - started < 3000, `login took ${Date.now() - started} ms with Redis hung`);

    // Counted in this process meanwhile: the eleventh failure in a row is refused.
    const statuses: number[] = [];
    for (let i = 0; i < 11; i++) statuses.push((await login(t, owner.user.email, 'wrong password!')).statusCode);
    assert.deepEqual(statuses, [...Array(10).fill(401), 429]);
  } finally {
    proxy.restore();
    await eventually(async () => (await t.platform.redis.ping().catch(() => null)) === 'PONG', 'Redis to answer again');
    await t.close();
    await proxy.close();
  }
});

test('behind a trusted proxy the login throttle keys on the client, not the balancer', async () => {
  const t = await context({ BRIGADE_TRUST_PROXY: '127.0.0.1' });
  const victim = await aTenant(t.app);
  // One client fails a hundred times, on many accounts: its own address is locked...
  for (let i = 0; i < 100; i++) await login(t, `nobody+${i}@example.com`, 'wrong password!', '203.0.113.7');
  const attacker = await login(t, victim.user.email, 'correct horse battery', '203.0.113.7');
  assert.equal(attacker.statusCode, 429);
  assert.equal(problem(attacker).code, 'rate_limited');
  // ...and every other client behind the same balancer still signs in.
  assert.equal((await login(t, victim.user.email, 'correct horse battery', '198.51.100.20')).statusCode, 200);
});

test('without the trusted-proxy setting a forwarded address is not believed', async () => {
  const t = await context({});
  const owner = await aTenant(t.app);
  for (let i = 0; i < 100; i++) await login(t, `nobody+${i}@example.com`, 'wrong password!', `203.0.113.${i}`);
  // Everyone is 127.0.0.1 here, whatever X-Forwarded-For says: spoofing it does not help.
  assert.equal((await login(t, owner.user.email, 'correct horse battery', '198.51.100.1')).statusCode, 429);
});

test('signup, login, password reset and invitation acceptance are limited per client', async () => {
  const t = await context({ BRIGADE_TRUST_PROXY: '127.0.0.1', BRIGADE_CLIENT_RATE_LIMIT: '3' });
  const calls: [string, () => unknown][] = [
    ['/v1/signup', () => ({ businessName: 'Limited', name: 'L', email: `l+${crypto.randomBytes(4).toString('hex')}@example.com`, password: 'correct horse battery' })],
    ['/v1/auth/login', () => ({ email: 'nobody@example.com', password: 'wrong password!' })],
    ['/v1/auth/password-reset', () => ({ email: 'nobody@example.com' })],
    ['/v1/auth/password-reset/confirm', () => ({ token: 'not-a-token-at-all', password: 'correct horse battery' })],
    ['/v1/invitations/accept', () => ({ token: 'not-a-token-at-all', password: 'correct horse battery' })],
    ['/ops/api/login', () => ({ email: 'nobody@example.com', password: 'wrong password!' })],
  ];
  for (const [url, body] of calls) {
    const from = (client: string) => t.app.inject({ method: 'POST', url, payload: body() as object, headers: { 'x-forwarded-for': client } });
    const first = [await from('203.0.113.9'), await from('203.0.113.9'), await from('203.0.113.9')];
    assert.ok(first.every((r) => r.statusCode !== 429), `${url}: ${first.map((r) => r.statusCode)}`);
    const fourth = await from('203.0.113.9');
    assert.equal(fourth.statusCode, 429, url);
    assert.equal(problem(fourth).code, 'rate_limited');
    assert.ok(Number(fourth.headers['retry-after']) >= 1 && Number(fourth.headers['retry-after']) <= 60, url);
    assert.notEqual((await from('198.51.100.30')).statusCode, 429, `${url}: another client is not limited`);
  }
  // The refused signup created nothing.
  const n = await t.platform.tenancy.withSystem('test: count tenants', (trx) => trx.selectFrom('tenants').select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow());
  assert.equal(Number(n.n), 4);
});

test('counts fall back to this process while Redis does not answer, in windows on the given clock', async () => {
  let now = 1_000_000;
  const proxy = await startTcpProxy('127.0.0.1', Number(new URL(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379').port || 6379));
  const redis = connectRedis(`redis://127.0.0.1:${proxy.port}`, createLogger('silent'), { name: 'test', timeoutMs: 200 });
  try {
    proxy.refuse();
    const c = clientCounter(redis, createLogger('silent'), { windowSeconds: 60, now: () => now });
    const key = `test:${crypto.randomUUID()}`;
    assert.equal((await c.hit(key)).count, 1);
    assert.equal((await c.hit(key)).count, 2);
    assert.equal(c.degraded, true);
    assert.deepEqual(await c.peek(key), { count: 2, ttlSeconds: 60 });
    now += 59_000;
    assert.deepEqual(await c.peek(key), { count: 2, ttlSeconds: 1 });
    now += 1_000;
    assert.deepEqual(await c.peek(key), { count: 0, ttlSeconds: 0 });
    assert.equal((await c.hit(key)).count, 1);
  } finally {
    redis.disconnect();
    await proxy.close();
  }
});
