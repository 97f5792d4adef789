/**
 * The permission matrix: every guarded route of the app (walked from its route table), every
 * system role plus an anonymous caller and a platform operator, branch-scoped variants included,
 * against the statuses declared here. A route added without rows here fails the first test, so
 * nobody ships a route whose access was never stated.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import type { InjectOptions } from 'fastify';
import { createTestContext, aTenant, aBranch, aMember, anOperator, bearer, type TestContext, type Session } from './harness.ts';

const actorKeys = ['anonymous', 'operator', 'owner', 'branch_manager', 'accountant', 'cashier', 'support'] as const;
type ActorKey = (typeof actorKeys)[number];
type Role = Exclude<ActorKey, 'anonymous' | 'operator'>;

interface Fixture {
  t: TestContext;
  owner: Session;
  /** Branch A is where the branch manager and the cashier work; B is another branch. */
  a: string;
  b: string;
  members: Record<Role, Session>;
  operator: { token: string; email: string };
  /** A second business that has granted no support access. */
  closedTenantId: string;
}

interface Case {
  name: string;
  /** Builds the request for one caller; `token` is theirs (absent for anonymous). */
  request(f: Fixture, token: string | undefined, who: ActorKey): Promise<Omit<InjectOptions, 'headers'> & { headers?: Record<string, string> }>;
  expect: Record<ActorKey, number>;
}

/** The statuses of a route for roles granted `ok`; other roles 403; no tenant token 401. */
function only(ok: number, roles: Role[], overrides: Partial<Record<ActorKey, number>> = {}): Record<ActorKey, number> {
  const out = { anonymous: 401, operator: 401 } as Record<ActorKey, number>;
  for (const r of ['owner', 'branch_manager', 'accountant', 'cashier', 'support'] as Role[]) out[r] = roles.includes(r) ? ok : 403;
  return { ...out, ...overrides };
}
const anyMember = (ok: number) => only(ok, ['owner', 'branch_manager', 'accountant', 'cashier', 'support']);
const everyone = (status: number) => Object.fromEntries(actorKeys.map((k) => [k, status])) as Record<ActorKey, number>;
const operatorOnly = (ok: number) => ({ ...everyone(401), operator: ok });

let counter = 0;
const unique = (what: string) => `${what}+m${++counter}-${crypto.randomBytes(3).toString('hex')}@example.com`;

async function freshToken(f: Fixture, who: ActorKey, token: string | undefined): Promise<string | undefined> {
  if (who === 'anonymous' || who === 'operator') return token;
  const res = await f.t.app.inject({ method: 'POST', url: '/v1/auth/login', payload: { email: f.members[who].user.email, password: 'correct horse battery' } });
  return res.json().token;
}

const matrix: Record<string, Case[]> = {
  'POST /v1/signup': [
    { name: 'a new business', expect: everyone(201), request: async () => ({ method: 'POST', url: '/v1/signup', payload: { businessName: 'Matrix Café', name: 'New Owner', email: unique('signup'), password: 'correct horse battery' } }) },
  ],
  'POST /v1/auth/login': [
    { name: 'with right credentials', expect: everyone(200), request: async (f) => ({ method: 'POST', url: '/v1/auth/login', payload: { email: f.members.support.user.email, password: 'correct horse battery' } }) },
  ],
  'POST /v1/auth/logout': [
    { name: 'own session', expect: anyMember(204), request: async (f, token, who) => ({ method: 'POST', url: '/v1/auth/logout', headers: auth(await freshToken(f, who, token)) }) },
  ],
  'GET /v1/me': [{ name: 'self', expect: anyMember(200), request: async () => ({ method: 'GET', url: '/v1/me' }) }],
  'GET /v1/me/permissions': [{ name: 'self', expect: anyMember(200), request: async () => ({ method: 'GET', url: '/v1/me/permissions' }) }],
  'GET /v1/members': [
    { name: 'the list', expect: only(200, ['owner', 'branch_manager', 'support']), request: async () => ({ method: 'GET', url: '/v1/members' }) },
  ],
  'GET /v1/members/:id': [
    { name: 'a cashier of branch A', expect: only(200, ['owner', 'branch_manager', 'support']), request: async (f) => ({ method: 'GET', url: `/v1/members/${(await aMember(f.t, f.owner, 'cashier', f.a)).user.id}` }) },
    { name: 'a cashier of branch B', expect: only(200, ['owner', 'support'], { branch_manager: 404 }), request: async (f) => ({ method: 'GET', url: `/v1/members/${(await aMember(f.t, f.owner, 'cashier', f.b)).user.id}` }) },
  ],
  'POST /v1/members': [
    { name: 'a cashier for branch A', expect: only(201, ['owner', 'branch_manager']), request: async (f) => ({ method: 'POST', url: '/v1/members', payload: { name: 'C', email: unique('c'), password: 'correct horse battery', roles: [{ role: 'cashier', branchId: f.a }] } }) },
    { name: 'a cashier for branch B', expect: only(201, ['owner']), request: async (f) => ({ method: 'POST', url: '/v1/members', payload: { name: 'C', email: unique('c'), password: 'correct horse battery', roles: [{ role: 'cashier', branchId: f.b }] } }) },
    { name: 'an invited accountant', expect: only(201, ['owner']), request: async () => ({ method: 'POST', url: '/v1/members', payload: { name: 'A', email: unique('a'), roles: [{ role: 'accountant' }] } }) },
    { name: 'a second owner', expect: only(201, ['owner']), request: async () => ({ method: 'POST', url: '/v1/members', payload: { name: 'O', email: unique('o'), password: 'correct horse battery', roles: [{ role: 'owner' }] } }) },
  ],
  'PUT /v1/members/:id/roles': [
    { name: 'a cashier of A moved off the till', expect: only(200, ['owner', 'branch_manager']), request: async (f) => ({ method: 'PUT', url: `/v1/members/${(await aMember(f.t, f.owner, 'cashier', f.a)).user.id}/roles`, payload: { roles: [] } }) },
    { name: 'a cashier of A made branch manager', expect: only(200, ['owner']), request: async (f) => ({ method: 'PUT', url: `/v1/members/${(await aMember(f.t, f.owner, 'cashier', f.a)).user.id}/roles`, payload: { roles: [{ role: 'branch_manager', branchId: f.a }] } }) },
    { name: 'a cashier of B', expect: only(200, ['owner'], { branch_manager: 404 }), request: async (f) => ({ method: 'PUT', url: `/v1/members/${(await aMember(f.t, f.owner, 'cashier', f.b)).user.id}/roles`, payload: { roles: [] } }) },
  ],
  'DELETE /v1/members/:id': [
    { name: 'a cashier of A', expect: only(204, ['owner', 'branch_manager']), request: async (f) => ({ method: 'DELETE', url: `/v1/members/${(await aMember(f.t, f.owner, 'cashier', f.a)).user.id}` }) },
    { name: 'a cashier of B', expect: only(204, ['owner'], { branch_manager: 404 }), request: async (f) => ({ method: 'DELETE', url: `/v1/members/${(await aMember(f.t, f.owner, 'cashier', f.b)).user.id}` }) },
    { name: 'an accountant', expect: only(204, ['owner'], { branch_manager: 404 }), request: async (f) => ({ method: 'DELETE', url: `/v1/members/${(await aMember(f.t, f.owner, 'accountant')).user.id}` }) },
  ],
  'POST /v1/invitations/accept': [
    { name: 'an unknown token', expect: everyone(404), request: async () => ({ method: 'POST', url: '/v1/invitations/accept', payload: { token: `inv_${crypto.randomBytes(16).toString('hex')}`, password: 'a fine password' } }) },
  ],
  'GET /v1/roles': [{ name: 'the list', expect: anyMember(200), request: async () => ({ method: 'GET', url: '/v1/roles' }) }],
  'POST /v1/roles': [
    { name: 'a custom role', expect: only(201, ['owner']), request: async () => ({ method: 'POST', url: '/v1/roles', payload: { key: `r${crypto.randomBytes(4).toString('hex')}`, name: 'R', permissions: ['orders.read'] } }) },
  ],
  'GET /v1/audit-events': [{ name: 'the log', expect: only(200, ['owner', 'accountant']), request: async () => ({ method: 'GET', url: '/v1/audit-events' }) }],
  'GET /v1/audit-events/export': [
    { name: 'as CSV', expect: only(200, ['owner', 'accountant']), request: async () => ({ method: 'GET', url: '/v1/audit-events/export?format=csv' }) },
  ],
  'GET /v1/audit-events/verification': [
    { name: 'the chain', expect: only(200, ['owner', 'accountant']), request: async () => ({ method: 'GET', url: '/v1/audit-events/verification' }) },
  ],
  'POST /v1/support-grants': [
    { name: 'an hour', expect: only(201, ['owner']), request: async () => ({ method: 'POST', url: '/v1/support-grants', payload: { reason: 'matrix', durationMinutes: 60 } }) },
  ],
  'GET /v1/support-grants': [{ name: 'the list', expect: only(200, ['owner']), request: async () => ({ method: 'GET', url: '/v1/support-grants' }) }],
  'DELETE /v1/support-grants/:id': [
    {
      name: 'a grant',
      expect: only(204, ['owner']),
      request: async (f) => {
        const res = await f.t.app.inject({ method: 'POST', url: '/v1/support-grants', headers: bearer(f.owner), payload: { reason: 'to revoke', durationMinutes: 5 } });
        return { method: 'DELETE', url: `/v1/support-grants/${res.json().supportGrant.id}` };
      },
    },
  ],
  'POST /ops/api/login': [
    { name: 'with right credentials', expect: everyone(200), request: async (f) => ({ method: 'POST', url: '/ops/api/login', payload: { email: f.operator.email, password: 'operator password 1' } }) },
  ],
  'GET /ops/api/support-grants': [{ name: 'open grants', expect: operatorOnly(200), request: async () => ({ method: 'GET', url: '/ops/api/support-grants' }) }],
  'GET /ops/api/tenants/:tenantId/members': [
    { name: 'under a grant', expect: operatorOnly(200), request: async (f) => ({ method: 'GET', url: `/ops/api/tenants/${f.owner.tenant.id}/members` }) },
    { name: 'without a grant', expect: operatorOnly(403), request: async (f) => ({ method: 'GET', url: `/ops/api/tenants/${f.closedTenantId}/members` }) },
  ],
  'GET /ops/api/tenants/:tenantId/audit-events': [
    { name: 'under a grant', expect: operatorOnly(200), request: async (f) => ({ method: 'GET', url: `/ops/api/tenants/${f.owner.tenant.id}/audit-events` }) },
    { name: 'without a grant', expect: operatorOnly(403), request: async (f) => ({ method: 'GET', url: `/ops/api/tenants/${f.closedTenantId}/audit-events` }) },
  ],
};

function auth(token: string | undefined): Record<string, string> {
  return token ? bearer(token) : {};
}

let t: TestContext;
let f: Fixture;
before(async () => {
  t = await createTestContext();
  const owner = await aTenant(t.app, 'Matrix Bistro');
  const a = await aBranch(t, owner.tenant.id, 'A');
  const b = await aBranch(t, owner.tenant.id, 'B');
  const members = {
    owner,
    branch_manager: await aMember(t, owner, 'branch_manager', a),
    accountant: await aMember(t, owner, 'accountant'),
    cashier: await aMember(t, owner, 'cashier', a),
    support: await aMember(t, owner, 'support'),
  };
  // Many support grants may be open at once: the matrix opens and revokes a few.
  const opened = await t.app.inject({ method: 'POST', url: '/v1/support-grants', headers: bearer(owner), payload: { reason: 'matrix: operator reads', durationMinutes: 120 } });
  assert.equal(opened.statusCode, 201);
  const closed = await aTenant(t.app, 'Closed Bistro');
  f = { t, owner, a, b, members, operator: await anOperator(t), closedTenantId: closed.tenant.id };
});
after(() => t.close());

const guarded = (url: string) => url.startsWith('/v1') || url.startsWith('/ops/api');

test('every guarded route of the app has rows in the permission matrix, and every row a route', () => {
  const routes = t.app.accessTable.filter((r) => guarded(r.url)).map((r) => `${r.method} ${r.url}`);
  const missing = routes.filter((r) => !matrix[r]?.length);
  assert.deepEqual(missing, [], `routes without expectations in test/permission-matrix.test.ts: ${missing.join(', ')}`);
  const stale = Object.keys(matrix).filter((k) => !routes.includes(k));
  assert.deepEqual(stale, [], `matrix rows for routes that do not exist: ${stale.join(', ')}`);
});

for (const [route, cases] of Object.entries(matrix)) {
  test(`permission matrix: ${route}`, async () => {
    const failures: string[] = [];
    for (const c of cases) {
      for (const who of actorKeys) {
        const token = who === 'anonymous' ? undefined : who === 'operator' ? f.operator.token : f.members[who].token;
        const req = await c.request(f, token, who);
        const res = await t.app.inject({ ...req, headers: { ...auth(token), ...req.headers } } as InjectOptions);
        if (res.statusCode !== c.expect[who]) failures.push(`${c.name} as ${who}: expected ${c.expect[who]}, got ${res.statusCode} ${res.body.slice(0, 200)}`);
        if (res.statusCode === 403 && !String(res.headers['content-type']).startsWith('application/problem+json')) failures.push(`${c.name} as ${who}: 403 without problem details`);
      }
    }
    assert.deepEqual(failures, []);
  });
}
