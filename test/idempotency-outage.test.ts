import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import pg from 'pg';
import { sql } from 'kysely';
import { createTestContext, aTenant, bearer, problem, eventually, adminUrl, type TestContext } from './harness.ts';
import { startTcpProxy, throughProxy, type TcpProxy } from './fixtures/tcp-proxy.ts';

/**
 * A route whose effect is one row, and which waits at a gate the test opens: the database can
 * be cut while the effect is written and the response not yet stored.
 */
let gate: { reached: () => void; open: Promise<void> } | null = null;
let t: TestContext;
let proxy: TcpProxy;
before(async () => {
  const target = new URL(adminUrl);
  proxy = await startTcpProxy(target.hostname, Number(target.port || 5432));
  t = await createTestContext(
    { BRIGADE_DB_CONNECT_TIMEOUT_MS: '1000' },
    {
      databaseUrl: (url) => throughProxy(url, proxy),
      routes: async (app, platform) => {
        await platform.tenancy.withSystem('test: effect table', (trx) =>
          sql`CREATE TABLE test_idem_effects (tenant_id uuid NOT NULL, id uuid PRIMARY KEY DEFAULT gen_random_uuid(), note text NOT NULL);
              SELECT brigade_protect('test_idem_effects');`.execute(trx),
        );
        app.post('/v1/test/effects', { config: { access: { authenticated: true }, idempotent: true }, schema: { body: { type: 'object', properties: { note: { type: 'string', maxLength: 200 } }, required: ['note'], additionalProperties: false } } }, async (req, reply) => {
          const scope = req.scope!;
          const row = await platform.tenancy.withTenant(scope, (trx) =>
            trx.insertInto('test_idem_effects' as never).values({ tenant_id: scope.tenantId, note: (req.body as { note: string }).note } as never).returning('id' as never).executeTakeFirstOrThrow(),
          );
          if (gate) {
            gate.reached();
            await gate.open;
          }
          return reply.code(201).send(row);
        });
      },
    },
  );
});
after(async () => {
  proxy.restore();
  await t.close();
  await proxy.close();
});

const effects = async (tenantId: string) => {
  const c = new pg.Client({ connectionString: t.ownerUrl });
  await c.connect();
  try {
    return Number((await c.query(`SELECT count(*) AS n FROM test_idem_effects WHERE tenant_id = $1`, [tenantId])).rows[0].n);
  } finally {
    await c.end();
  }
};

test('the database lost between the effect and the stored response: nothing remains, and the retry runs exactly once', async () => {
  const owner = await aTenant(t.app);
  const key = crypto.randomUUID();
  const send = () => t.app.inject({ method: 'POST', url: '/v1/test/effects', payload: { note: 'once' }, headers: { ...bearer(owner), 'idempotency-key': key } });

  let reached!: () => void;
  const atGate = new Promise<void>((r) => (reached = r));
  let openGate!: () => void;
  gate = { reached, open: new Promise<void>((r) => (openGate = r)) };
  const first = send();
  await atGate;
  // The effect is written but not committed: nobody else can see it yet.
  assert.equal(await effects(owner.tenant.id), 0);
  proxy.refuse();
  openGate();
  const answer = await first;
  gate = null;
  assert.equal(answer.statusCode, 503, answer.body);
  assert.equal(problem(answer).code, 'service_unavailable');
  assert.ok(answer.headers['retry-after']);
  proxy.restore();
  assert.equal(await effects(owner.tenant.id), 0, 'the effect did not commit without its response');

  const retry = await eventually(async () => {
    const r = await send();
    return r.statusCode === 201 ? r : null;
  }, 'the retry to succeed once the database is back');
  const again = await send();
  assert.equal(again.statusCode, 201);
  assert.equal(again.body, retry.body);
  assert.equal(again.headers['idempotent-replayed'], 'true');
  assert.equal(await effects(owner.tenant.id), 1);
});

test('a request that answers 5xx leaves no effect and no key behind', async () => {
  const owner = await aTenant(t.app);
  const key = crypto.randomUUID();
  let reached!: () => void;
  const atGate = new Promise<void>((r) => (reached = r));
  let openGate!: () => void;
  gate = { reached, open: new Promise<void>((r) => (openGate = r)) };
  const first = t.app.inject({ method: 'POST', url: '/v1/test/effects', payload: { note: 'five' }, headers: { ...bearer(owner), 'idempotency-key': key } });
  await atGate;
  // The connection of the request's transaction dies: the handler's answer cannot be kept.
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND state = 'idle in transaction'`, [t.dbName]);
  await admin.end();
  openGate();
  const answer = await first;
  gate = null;
  assert.equal(answer.statusCode, 503, answer.body);
  assert.equal(await effects(owner.tenant.id), 0);
  const keys = await new pg.Client({ connectionString: t.ownerUrl });
  await keys.connect();
  const n = Number((await keys.query(`SELECT count(*) AS n FROM idempotency_keys WHERE tenant_id = $1`, [owner.tenant.id])).rows[0].n);
  await keys.end();
  assert.equal(n, 0);
});

test('signup honours Idempotency-Key: seven identical signups make one business', async () => {
  const key = crypto.randomUUID();
  const email = `idem+${crypto.randomBytes(4).toString('hex')}@example.com`;
  const body = { businessName: 'Once Only', name: 'Oona', email, password: 'correct horse battery' };
  const answers: Awaited<ReturnType<typeof t.app.inject>>[] = [];
  for (let i = 0; i < 7; i++) answers.push(await t.app.inject({ method: 'POST', url: '/v1/signup', payload: body, headers: { 'idempotency-key': key } }));
  assert.ok(answers.every((a) => a.statusCode === 201));
  assert.ok(answers.every((a) => a.body === answers[0]!.body));
  assert.equal(answers[1]!.headers['idempotent-replayed'], 'true');
  const c = new pg.Client({ connectionString: t.ownerUrl });
  await c.connect();
  try {
    const n = Number((await c.query(`SELECT count(*) AS n FROM users WHERE email = $1`, [email])).rows[0].n);
    assert.equal(n, 1);
    // The same key with another body is refused and creates nothing.
    const other = await t.app.inject({ method: 'POST', url: '/v1/signup', payload: { ...body, businessName: 'Another' }, headers: { 'idempotency-key': key } });
    assert.equal(other.statusCode, 409);
    assert.equal(problem(other).code, 'idempotency_key_reused');
    assert.equal(Number((await c.query(`SELECT count(*) AS n FROM tenants WHERE name = 'Another'`)).rows[0].n), 0);
    // Concurrent duplicates: one business, every answer the first one or "in use".
    const k2 = crypto.randomUUID();
    const body2 = { ...body, email: `idem2+${crypto.randomBytes(4).toString('hex')}@example.com` };
    const burst = await Promise.all(Array.from({ length: 5 }, () => t.app.inject({ method: 'POST', url: '/v1/signup', payload: body2, headers: { 'idempotency-key': k2 } })));
    assert.ok(burst.every((r) => r.statusCode === 201 || problem(r).code === 'idempotency_key_in_use'), burst.map((r) => r.statusCode).join(','));
    assert.equal(Number((await c.query(`SELECT count(*) AS n FROM users WHERE email = $1`, [body2.email])).rows[0].n), 1);
  } finally {
    await c.end();
  }
});
