import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import Fastify from 'fastify';
import { createTestContext, aTenant, bearer, problem, type Session, type TestContext } from './harness.ts';
import { buildApp } from '../src/app.ts';
import { tenantRateLimiter } from '../src/platform/http/tenant-rate-limit.ts';
import { accessPlugin } from '../src/modules/access/index.ts';
import { createLogger } from '../src/platform/log.ts';
import { runWithContext } from '../src/platform/context/index.ts';

let t: TestContext;
before(async () => {
  t = await createTestContext();
});
after(() => t.close());

const signup = (payload: unknown, headers: Record<string, string> = {}) =>
  t.app.inject({ method: 'POST', url: '/v1/signup', payload: payload as string, headers: { 'content-type': 'application/json', ...headers } });

test('an unknown route is a 404 problem', async () => {
  const res = await t.app.inject({ method: 'GET', url: '/v1/no-such-thing' });
  assert.equal(res.statusCode, 404);
  assert.equal(problem(res).code, 'not_found');
});

test('malformed JSON is a 400 problem that names the body', async () => {
  const res = await signup('{"businessName": "x",');
  assert.equal(res.statusCode, 400);
  const p = problem(res);
  assert.equal(p.code, 'validation_failed');
  assert.deepEqual(p.errors, [{ path: 'body', message: 'is not valid JSON' }]);
});

test('a body over the limit is a 413 problem', async () => {
  const res = await signup(JSON.stringify({ businessName: 'x'.repeat(2 * 1024 * 1024) }));
  assert.equal(res.statusCode, 413);
  assert.equal(problem(res).code, 'payload_too_large');
});

test('validation failures list every bad field, and a client-sent tenantId is an error', async () => {
  const res = await signup({ businessName: '', name: 42, email: 'not-an-email', password: 'short', tenantId: 'x' });
  assert.equal(res.statusCode, 400);
  const p = problem(res);
  assert.equal(p.code, 'validation_failed');
  const paths = (p.errors as { path: string }[]).map((e) => e.path).sort();
  assert.deepEqual(paths, ['businessName', 'email', 'name', 'password', 'tenantId']);
  for (const key of ['type', 'title', 'status', 'detail', 'code']) assert.ok(key in p, `problem lacks ${key}`);
});

test('a body that is not JSON is refused with 415', async () => {
  const res = await t.app.inject({ method: 'POST', url: '/v1/signup', payload: 'a=b', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
  assert.equal(res.statusCode, 415);
  assert.equal(problem(res).code, 'unsupported_media_type');
});

test('X-Request-Id is returned on every response and a sane client value is honoured', async () => {
  const mine = await t.app.inject({ method: 'GET', url: '/healthz', headers: { 'x-request-id': 'client-abc.123' } });
  assert.equal(mine.headers['x-request-id'], 'client-abc.123');
  const insane = await t.app.inject({ method: 'GET', url: '/healthz', headers: { 'x-request-id': 'bad id with spaces <script>' } });
  assert.match(String(insane.headers['x-request-id']), /^[0-9a-f-]{36}$/);
  const err = await t.app.inject({ method: 'GET', url: '/nope' });
  assert.ok(err.headers['x-request-id']);
});

test('a missing or bad token is 401 with WWW-Authenticate', async () => {
  for (const headers of [{}, { authorization: 'Bearer brg_nope' }, { authorization: 'Basic abc' }]) {
    const res = await t.app.inject({ method: 'GET', url: '/v1/me', headers });
    assert.equal(res.statusCode, 401);
    assert.equal(problem(res).code, 'unauthenticated');
    assert.equal(res.headers['www-authenticate'], 'Bearer');
  }
});

test('an operator token is refused on /v1 and a tenant token on /ops/api', async () => {
  const { operatorsService } = await import('../src/modules/identity/index.ts');
  const ops = operatorsService(t.platform);
  await ops.createOperator({ email: 'op@brigade.test', password: 'operator password' });
  const login = await t.app.inject({ method: 'POST', url: '/ops/api/login', payload: { email: 'op@brigade.test', password: 'operator password' } });
  assert.equal(login.statusCode, 200);
  const opToken = login.json().token as string;
  const owner = await aTenant(t.app);
  const asOp = await t.app.inject({ method: 'GET', url: '/v1/me', headers: bearer(opToken) });
  assert.equal(asOp.statusCode, 401);
  const opsRoute = t.app.printRoutes({ commonPrefix: false }).includes('ops/api/queues') ? '/ops/api/queues' : null;
  if (opsRoute) {
    const asTenant = await t.app.inject({ method: 'GET', url: opsRoute, headers: bearer(owner) });
    assert.equal(asTenant.statusCode, 401);
  }
});

test('the app refuses to start when a route declares no access rule', async () => {
  const app = Fastify();
  await app.register(accessPlugin, { guardedPrefixes: ['/v1'], authenticate: async () => null, authenticateOperator: async () => null });
  assert.throws(() => app.get('/v1/forgotten', async () => 'oops'), /declares no access rule/);
  await app.close();
});

test('the route table lists every guarded route with its access rule', async () => {
  assert.ok(t.app.accessTable.length > 0);
  for (const route of t.app.accessTable) {
    assert.ok(route.access, `${route.method} ${route.url}`);
    assert.ok(t.app.hasRoute({ method: route.method as 'GET', url: route.url }), `${route.method} ${route.url} is not routable`);
  }
  assert.ok(t.app.accessTable.some((r) => r.url === '/v1/me' && r.method === 'GET'));
});

test('server errors carry no internals, only the request id', async () => {
  const app = Fastify();
  const { installProblemHandlers } = await import('../src/platform/http/problems.ts');
  installProblemHandlers(app);
  app.get('/boom', async () => {
    throw new Error('password=hunter2 at /srv/secret.ts:12');
  });
  const res = await app.inject({ method: 'GET', url: '/boom' });
  assert.equal(res.statusCode, 500);
  assert.doesNotMatch(res.body, /hunter2|secret\.ts/);
  assert.equal(problem(res).code, 'internal_error');
  await app.close();
});

test('every log line written for a request carries requestId, tenantId and userId, and secrets are redacted', async () => {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      for (const l of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(l));
      cb();
    },
  });
  const log = createLogger('info', sink);
  runWithContext({ requestId: 'r-1', tenantId: 't-1', userId: 'u-1' }, () => {
    log.info({ password: 'hunter2', headers: { authorization: 'Bearer brg_secret' } }, 'inside');
  });
  const given = { user: { email: 'a@example.com', password: 'hunter3' }, req: { headers: { authorization: 'Bearer brg_deep', 'stripe-signature': 't=1,v1=sig' } }, count: 2 };
  log.info(given, 'nested');
  log.info('outside');
  assert.equal(lines[0]!.requestId, 'r-1');
  assert.equal(lines[0]!.tenantId, 't-1');
  assert.equal(lines[0]!.userId, 'u-1');
  assert.doesNotMatch(JSON.stringify(lines[0]), /hunter2|brg_secret/);
  // One and two levels down too, and the caller's object is left as it was.
  assert.doesNotMatch(JSON.stringify(lines[1]), /hunter3|brg_deep|v1=sig/);
  assert.equal((lines[1]!.user as { email: string }).email, 'a@example.com');
  assert.equal(lines[1]!.count, 2);
  assert.equal(given.user.password, 'hunter3');
  assert.equal(given.req.headers.authorization, 'Bearer brg_deep');
  assert.equal(lines[2]!.requestId, undefined);
});

test('the OpenAPI 3.1 document describes the routes and /docs serves the reference', async () => {
  const doc = await t.app.inject({ method: 'GET', url: '/openapi.json' });
  assert.equal(doc.statusCode, 200);
  const spec = doc.json();
  assert.equal(spec.openapi, '3.1.0');
  assert.ok(spec.paths['/v1/signup']?.post);
  const ui = await t.app.inject({ method: 'GET', url: '/docs/' });
  assert.ok([200, 302].includes(ui.statusCode));
});

test('/healthz answers and /readyz checks PostgreSQL and Redis', async () => {
  assert.equal((await t.app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200);
  const ready = await t.app.inject({ method: 'GET', url: '/readyz' });
  assert.equal(ready.statusCode, 200);
  assert.deepEqual(ready.json().checks, { postgres: 'ok', redis: 'ok' });
});

/** A tenant rate limiter on a clock the test holds (counting windows are 10 s long), flushed only by hand. */
function heldLimiter(t: TestContext, at = 1_000_000_000_000) {
  const clock = { now: at };
  const limiter = tenantRateLimiter(t.platform.redis, t.platform.config.BRIGADE_QUEUE_PREFIX, t.platform.log, { now: () => clock.now, flushMs: 3_600_000 });
  return { clock, limiter };
}

test('a tenant that floods the API is slowed with 429 while its neighbour is served, until the window ends', async () => {
  const limited = await createTestContext({ BRIGADE_TENANT_RATE_LIMIT: '2' });
  const { clock, limiter } = heldLimiter(limited);
  const app = await buildApp(limited.platform, { tenantRateLimiter: limiter });
  try {
    const noisy = await aTenant(limited.app, 'Noisy');
    const quiet = await aTenant(limited.app, 'Quiet');
    const me = (s: Session) => app.inject({ method: 'GET', url: '/v1/me', headers: bearer(s) });
    // 2 per second over a 10-second window: 20 admitted, then 429 with the rest of the window to wait.
    for (let i = 0; i < 20; i++) assert.equal((await me(noisy)).statusCode, 200, `request ${i + 1}`);
    clock.now += 3_000;
    const throttled = await me(noisy);
    assert.equal(throttled.statusCode, 429);
    assert.equal(problem(throttled).code, 'rate_limited');
    assert.equal(throttled.headers['retry-after'], '7');
    assert.equal(problem(throttled).limit, 2);
    const neighbour = await me(quiet);
    assert.equal(neighbour.statusCode, 200);
    assert.equal(neighbour.json().tenant.id, quiet.tenant.id);
    // The next window admits the tenant again.
    clock.now += 7_000;
    assert.equal((await me(noisy)).statusCode, 200);
  } finally {
    await app.close();
    limiter.close();
    await limited.close();
  }
});

test('the per-tenant limit is shared by every API process through Redis', async () => {
  const limited = await createTestContext({ BRIGADE_TENANT_RATE_LIMIT: '2' });
  const first = heldLimiter(limited);
  const second = heldLimiter(limited);
  const apps = [await buildApp(limited.platform, { tenantRateLimiter: first.limiter }), await buildApp(limited.platform, { tenantRateLimiter: second.limiter })] as const;
  try {
    const noisy = await aTenant(limited.app, 'Spread');
    const me = (app: (typeof apps)[number]) => app.inject({ method: 'GET', url: '/v1/me', headers: bearer(noisy) });
    for (let i = 0; i < 15; i++) assert.equal((await me(apps[0])).statusCode, 200);
    assert.equal((await me(apps[1])).statusCode, 200);
    // Both processes add their counts to Redis and read the total back (what each does every 200 ms).
    await first.limiter.flush();
    await second.limiter.flush();
    const statuses: number[] = [];
    for (let i = 0; i < 10; i++) statuses.push((await me(apps[1])).statusCode);
    // 16 of 20 used: the second process admits 4 more, not its own 19.
    assert.deepEqual(statuses, [200, 200, 200, 200, 429, 429, 429, 429, 429, 429]);
  } finally {
    for (const app of apps) await app.close();
    first.limiter.close();
    second.limiter.close();
    await limited.close();
  }
});
