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
import { aMenuItem, anInventoryItem, anOrder, as, expectStatus } from './hospitality.fixtures.ts';
import { billingModule } from '../src/modules/billing/index.ts';
import { aReadyExport } from './isolation.fixtures.ts';

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

/** A custom role of the owner's business, made by the owner (nobody holds it). */
async function aCustomRole(f: Fixture): Promise<string> {
  const key = `r${crypto.randomBytes(4).toString('hex')}`;
  const res = await f.t.app.inject({ method: 'POST', url: '/v1/roles', headers: bearer(f.owner), payload: { key, name: 'R', permissions: ['menu.read'] } });
  assert.equal(res.statusCode, 201, res.body);
  return key;
}

/** An invited (not yet accepted) cashier of a branch; returns the member id. */
async function anInvited(f: Fixture, branchId: string): Promise<string> {
  const res = await f.t.app.inject({ method: 'POST', url: '/v1/members', headers: bearer(f.owner), payload: { name: 'Invitee', email: unique('i'), roles: [{ role: 'cashier', branchId }] } });
  assert.equal(res.statusCode, 201, res.body);
  return res.json().member.id;
}

let counter = 0;
const unique = (what: string) => `${what}+m${++counter}-${crypto.randomBytes(3).toString('hex')}@example.com`;

async function freshToken(f: Fixture, who: ActorKey, token: string | undefined): Promise<string | undefined> {
  if (who === 'anonymous' || who === 'operator') return token;
  const res = await f.t.app.inject({ method: 'POST', url: '/v1/auth/login', payload: { email: f.members[who].user.email, password: 'correct horse battery' } });
  return res.json().token;
}

/** The outbox id (= job id) of the welcome mail signup wrote for the owner (no worker runs here). */
const welcomeJobOf = async (f: Fixture) =>
  (
    await f.t.platform.tenancy.withTenant({ tenantId: f.owner.tenant.id }, (trx) =>
      trx.selectFrom('outbox').select('id').where('tenant_id', '=', f.owner.tenant.id).where('type', '=', 'mail.welcome').executeTakeFirstOrThrow(),
    )
  ).id;

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
  'PATCH /v1/roles/:key': [
    { name: 'a custom role', expect: only(200, ['owner']), request: async (f) => ({ method: 'PATCH', url: `/v1/roles/${await aCustomRole(f)}`, payload: { name: 'Renamed' } }) },
  ],
  'DELETE /v1/roles/:key': [
    { name: 'a custom role nobody holds', expect: only(204, ['owner']), request: async (f) => ({ method: 'DELETE', url: `/v1/roles/${await aCustomRole(f)}` }) },
  ],
  'POST /v1/members/:id/invitation': [
    { name: 'an invited cashier of A', expect: only(202, ['owner', 'branch_manager']), request: async (f) => ({ method: 'POST', url: `/v1/members/${await anInvited(f, f.a)}/invitation` }) },
    { name: 'an invited cashier of B', expect: only(202, ['owner'], { branch_manager: 404 }), request: async (f) => ({ method: 'POST', url: `/v1/members/${await anInvited(f, f.b)}/invitation` }) },
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
  'POST /v1/api-keys': [
    { name: 'a read-only key', expect: only(201, ['owner']), request: async () => ({ method: 'POST', url: '/v1/api-keys', payload: { name: 'matrix', permissions: ['orders.read'] } }) },
  ],
  'GET /v1/api-keys': [{ name: 'the list', expect: only(200, ['owner']), request: async () => ({ method: 'GET', url: '/v1/api-keys' }) }],
  'DELETE /v1/api-keys/:id': [
    {
      name: 'a key',
      expect: only(204, ['owner']),
      request: async (f) => {
        const res = await f.t.app.inject({ method: 'POST', url: '/v1/api-keys', headers: bearer(f.owner), payload: { name: 'to revoke', permissions: ['orders.read'] } });
        return { method: 'DELETE', url: `/v1/api-keys/${res.json().apiKey.id}` };
      },
    },
  ],
  'POST /v1/report-schedules': [
    // Tenant-wide, to the owner: only who exports reports for the whole business (a trial allows two).
    { name: 'all branches', expect: only(201, ['owner', 'accountant']), request: async (f) => ({ method: 'POST', url: '/v1/report-schedules', payload: { name: 'matrix', frequency: 'daily', hour: 7, recipients: [f.owner.user.id] } }) },
  ],
  'GET /v1/report-schedules': [{ name: 'the list', expect: only(200, ['owner', 'accountant']), request: async () => ({ method: 'GET', url: '/v1/report-schedules' }) }],
  'DELETE /v1/report-schedules/:id': [
    {
      name: 'an all-branch schedule',
      expect: only(204, ['owner', 'accountant']),
      request: async (f) => {
        const res = await f.t.app.inject({ method: 'POST', url: '/v1/report-schedules', headers: bearer(f.owner), payload: { name: 'to delete', frequency: 'daily', hour: 7, recipients: [f.owner.user.id] } });
        return { method: 'DELETE', url: `/v1/report-schedules/${res.json().reportSchedule.id}` };
      },
    },
  ],
  'POST /v1/exports': [{ name: 'a full export', expect: only(202, ['owner']), request: async () => ({ method: 'POST', url: '/v1/exports' }) }],
  'GET /v1/exports/:id': [{ name: 'an export', expect: only(200, ['owner']), request: async (f) => ({ method: 'GET', url: `/v1/exports/${await aReadyExport(f.t, f.owner)}` }) }],
  'GET /v1/exports/:id/download': [
    { name: 'a ready export', expect: only(200, ['owner']), request: async (f) => ({ method: 'GET', url: `/v1/exports/${await aReadyExport(f.t, f.owner)}/download` }) },
  ],
  'POST /v1/members/:id/erasure': [
    {
      name: 'a member of the business',
      expect: only(200, ['owner']),
      request: async (f) => {
        const res = await f.t.app.inject({
          method: 'POST',
          url: '/v1/members',
          headers: bearer(f.owner),
          payload: { name: 'To Erase', email: unique('erase'), password: 'correct horse battery', roles: [{ role: 'support' }] },
        });
        return { method: 'POST', url: `/v1/members/${res.json().member.id}/erasure` };
      },
    },
  ],
  // No payment provider runs here: calls that need it answer 409 (not provisioned) or 503.
  'POST /v1/billing/webhooks/stripe': [
    { name: 'unsigned', expect: everyone(400), request: async () => ({ method: 'POST', url: '/v1/billing/webhooks/stripe', headers: { 'content-type': 'application/json' }, payload: '{}' }) },
  ],
  'GET /v1/billing/subscription': [{ name: 'the subscription', expect: only(200, ['owner', 'accountant']), request: async () => ({ method: 'GET', url: '/v1/billing/subscription' }) }],
  'GET /v1/billing/plans': [{ name: 'the catalogue', expect: anyMember(200), request: async () => ({ method: 'GET', url: '/v1/billing/plans' }) }],
  'POST /v1/billing/subscription/plan': [
    { name: 'to pro', expect: only(409, ['owner']), request: async () => ({ method: 'POST', url: '/v1/billing/subscription/plan', payload: { plan: 'pro' } }) },
  ],
  'POST /v1/billing/subscription/cancel': [
    { name: 'at period end', expect: only(409, ['owner']), request: async () => ({ method: 'POST', url: '/v1/billing/subscription/cancel', payload: { atPeriodEnd: true } }) },
  ],
  'POST /v1/billing/subscription/undo-cancel': [
    { name: 'nothing scheduled', expect: only(200, ['owner']), request: async () => ({ method: 'POST', url: '/v1/billing/subscription/undo-cancel' }) },
  ],
  'POST /v1/billing/checkout': [
    { name: 'for pro', expect: only(503, ['owner']), request: async () => ({ method: 'POST', url: '/v1/billing/checkout', payload: { plan: 'pro' } }) },
  ],
  'POST /v1/billing/payment-method': [
    { name: 'a new card', expect: only(503, ['owner']), request: async () => ({ method: 'POST', url: '/v1/billing/payment-method', payload: {} }) },
  ],
  'GET /v1/billing/invoices': [{ name: 'the list', expect: only(200, ['owner', 'accountant']), request: async () => ({ method: 'GET', url: '/v1/billing/invoices' }) }],
  'GET /v1/billing/history': [{ name: 'the history', expect: only(200, ['owner', 'accountant']), request: async () => ({ method: 'GET', url: '/v1/billing/history' }) }],
  'GET /ops/api/billing/divergences': [{ name: 'the list', expect: operatorOnly(200), request: async () => ({ method: 'GET', url: '/ops/api/billing/divergences' }) }],
  'GET /ops/api/tenants': [{ name: 'the list', expect: operatorOnly(200), request: async () => ({ method: 'GET', url: '/ops/api/tenants?sort=errorRate' }) }],
  'GET /ops/api/tenants/:tenantId': [
    { name: 'a business', expect: operatorOnly(200), request: async (f) => ({ method: 'GET', url: `/ops/api/tenants/${f.closedTenantId}` }) },
    { name: 'an unknown one', expect: operatorOnly(404), request: async () => ({ method: 'GET', url: `/ops/api/tenants/${crypto.randomUUID()}` }) },
  ],
  'GET /ops/api/tenants/:tenantId/health': [{ name: "a business's series", expect: operatorOnly(200), request: async (f) => ({ method: 'GET', url: `/ops/api/tenants/${f.closedTenantId}/health` }) }],
  'GET /ops/api/health': [{ name: "the platform's series", expect: operatorOnly(200), request: async () => ({ method: 'GET', url: '/ops/api/health' }) }],
  'GET /ops/api/top-tenants': [{ name: 'the busiest', expect: operatorOnly(200), request: async () => ({ method: 'GET', url: '/ops/api/top-tenants?by=errors' }) }],
  'GET /ops/api/alerts': [{ name: 'the list', expect: operatorOnly(200), request: async () => ({ method: 'GET', url: '/ops/api/alerts?state=open' }) }],
  'GET /ops/api/alerts/:id': [{ name: 'an unknown alert', expect: operatorOnly(404), request: async () => ({ method: 'GET', url: `/ops/api/alerts/${crypto.randomUUID()}` }) }],
  'POST /ops/api/alerts/:id/acknowledge': [
    { name: 'an unknown alert', expect: operatorOnly(404), request: async () => ({ method: 'POST', url: `/ops/api/alerts/${crypto.randomUUID()}/acknowledge`, payload: { note: 'on it' } }) },
  ],
  'POST /ops/api/alerts/:id/resolve': [
    { name: 'an unknown alert', expect: operatorOnly(404), request: async () => ({ method: 'POST', url: `/ops/api/alerts/${crypto.randomUUID()}/resolve`, payload: { note: 'fixed' } }) },
  ],
  'GET /ops/api/billing/invoices': [
    { name: "a business's invoices", expect: operatorOnly(200), request: async (f) => ({ method: 'GET', url: `/ops/api/billing/invoices?tenantId=${f.closedTenantId}` }) },
    { name: 'without a business', expect: { ...everyone(401), operator: 400 }, request: async () => ({ method: 'GET', url: '/ops/api/billing/invoices' }) },
  ],
  'GET /ops/api/billing/plans': [{ name: 'the catalogue', expect: operatorOnly(200), request: async () => ({ method: 'GET', url: '/ops/api/billing/plans' }) }],
  'GET /ops/api/billing/alerts': [{ name: 'the list', expect: operatorOnly(200), request: async () => ({ method: 'GET', url: '/ops/api/billing/alerts' }) }],
  'POST /ops/api/billing/alerts/:id/resolve': [
    { name: 'an unknown alert', expect: operatorOnly(404), request: async () => ({ method: 'POST', url: `/ops/api/billing/alerts/${crypto.randomUUID()}/resolve` }) },
  ],
  'GET /ops/api/billing/reconciliations': [{ name: 'the runs', expect: operatorOnly(200), request: async () => ({ method: 'GET', url: '/ops/api/billing/reconciliations' }) }],
  'POST /ops/api/billing/reconcile': [
    { name: 'one business', expect: operatorOnly(200), request: async (f) => ({ method: 'POST', url: '/ops/api/billing/reconcile', payload: { tenantId: f.closedTenantId } }) },
  ],
  'GET /ops/api/billing/events': [{ name: 'the inbox', expect: operatorOnly(200), request: async () => ({ method: 'GET', url: '/ops/api/billing/events' }) }],
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
  'POST /v1/auth/password-reset': [
    { name: 'any address (always accepted)', expect: everyone(202), request: async () => ({ method: 'POST', url: '/v1/auth/password-reset', payload: { email: unique('reset') } }) },
  ],
  'POST /v1/auth/password-reset/confirm': [
    { name: 'an unknown token', expect: everyone(400), request: async () => ({ method: 'POST', url: '/v1/auth/password-reset/confirm', payload: { token: `pwr_${crypto.randomBytes(16).toString('hex')}`, password: 'a fine password' } }) },
  ],
  'GET /ops/api/queues': [{ name: 'the counts', expect: operatorOnly(200), request: async () => ({ method: 'GET', url: '/ops/api/queues' }) }],
  'GET /ops/api/jobs': [{ name: 'dead jobs', expect: operatorOnly(200), request: async () => ({ method: 'GET', url: '/ops/api/jobs?state=dead' }) }],
  'GET /ops/api/jobs/:queue/:id': [
    { name: "the owner's welcome mail", expect: operatorOnly(200), request: async (f) => ({ method: 'GET', url: `/ops/api/jobs/mail/${await welcomeJobOf(f)}` }) },
    { name: 'an unknown job', expect: operatorOnly(404), request: async () => ({ method: 'GET', url: `/ops/api/jobs/mail/${crypto.randomUUID()}` }) },
  ],
  'POST /ops/api/jobs/:queue/:id/replay': [
    { name: 'a job not yet run', expect: operatorOnly(409), request: async (f) => ({ method: 'POST', url: `/ops/api/jobs/mail/${await welcomeJobOf(f)}/replay`, payload: { reason: 'matrix' } }) },
    { name: 'an unknown job', expect: operatorOnly(404), request: async () => ({ method: 'POST', url: `/ops/api/jobs/mail/${crypto.randomUUID()}/replay` }) },
  ],
  'POST /ops/api/jobs/:queue/:id/discard': [
    { name: 'an unknown job', expect: operatorOnly(404), request: async () => ({ method: 'POST', url: `/ops/api/jobs/mail/${crypto.randomUUID()}/discard`, payload: { reason: 'matrix' } }) },
  ],
  'POST /ops/api/jobs/replay': [
    { name: 'dead jobs of a tenant with none', expect: operatorOnly(202), request: async () => ({ method: 'POST', url: '/ops/api/jobs/replay', payload: { tenantId: crypto.randomUUID(), reason: 'matrix' } }) },
  ],
  'POST /ops/api/jobs/discard': [
    { name: 'dead jobs of a tenant with none', expect: operatorOnly(200), request: async () => ({ method: 'POST', url: '/ops/api/jobs/discard', payload: { tenantId: crypto.randomUUID(), reason: 'matrix' } }) },
  ],
  'GET /ops/api/mails': [{ name: 'caught mails', expect: operatorOnly(200), request: async () => ({ method: 'GET', url: '/ops/api/mails' }) }],
  'GET /ops/api/jobs/lookup': [{ name: 'a job by id', expect: operatorOnly(200), request: async (f) => ({ method: 'GET', url: `/ops/api/jobs/lookup?id=${await welcomeJobOf(f)}` }) }],
  'GET /ops/api/jobs/throughput': [{ name: 'the last hour', expect: operatorOnly(200), request: async () => ({ method: 'GET', url: '/ops/api/jobs/throughput?minutes=60' }) }],
  'GET /ops/api/activity': [{ name: 'what operators did', expect: operatorOnly(200), request: async () => ({ method: 'GET', url: '/ops/api/activity' }) }],
  'GET /ops/api/me': [{ name: 'the signed-in operator', expect: operatorOnly(200), request: async () => ({ method: 'GET', url: '/ops/api/me' }) }],
  'POST /ops/api/logout': [
    {
      name: 'signing out',
      expect: operatorOnly(204),
      // The operator signs out with a token of its own, so the shared one keeps working for the rows after.
      request: async (f, _token, who) => ({ method: 'POST', url: '/ops/api/logout', ...(who === 'operator' ? { headers: { authorization: `Bearer ${(await anOperator(f.t)).token}` } } : {}) }),
    },
  ],
};

// Hospitality: a dish without a recipe (so paying needs no stock) and an inventory item, once.
let catalogue: Promise<{ dish: string; stock: string }> | undefined;
const hospitality = (f: Fixture) =>
  (catalogue ??= (async () => ({
    dish: (await aMenuItem(f.t, f.owner, { name: 'Matrix soup', priceMinor: 500 })).id,
    stock: (await anInventoryItem(f.t, f.owner, { name: 'Matrix stock' })).id,
  }))());
async function anOrderOf(f: Fixture, branch: 'a' | 'b', state: 'open' | 'paid' = 'open'): Promise<string> {
  const order = await anOrder(f.t, f.owner, f[branch], [{ menuItemId: (await hospitality(f)).dish, quantity: 1 }]);
  if (state === 'paid') expectStatus(await as(f.t, f.owner).post(`/v1/orders/${order.id}/pay`, { method: 'card', amountMinor: 500 }), 200);
  return order.id;
}
const named = (what: string) => `${what} ${crypto.randomBytes(4).toString('hex')}`;
const readsStock: Role[] = ['owner', 'branch_manager', 'support'];
const hospitalityMatrix: Record<string, Case[]> = {
  'GET /v1/branches': [{ name: 'the list', expect: anyMember(200), request: async () => ({ method: 'GET', url: '/v1/branches' }) }],
  'POST /v1/branches': [
    { name: 'a new branch', expect: only(201, ['owner']), request: async () => ({ method: 'POST', url: '/v1/branches', payload: { name: named('Branch') } }) },
  ],
  'GET /v1/branches/:id': [
    { name: 'branch A', expect: anyMember(200), request: async (f) => ({ method: 'GET', url: `/v1/branches/${f.a}` }) },
    { name: 'branch B', expect: only(200, ['owner', 'accountant', 'support']), request: async (f) => ({ method: 'GET', url: `/v1/branches/${f.b}` }) },
  ],
  'PATCH /v1/branches/:id': [
    { name: 'rename branch A', expect: only(200, ['owner']), request: async (f) => ({ method: 'PATCH', url: `/v1/branches/${f.a}`, payload: { name: named('A') } }) },
  ],
  'DELETE /v1/branches/:id': [
    { name: 'a branch without history', expect: only(204, ['owner']), request: async (f) => ({ method: 'DELETE', url: `/v1/branches/${await aBranch(f.t, f.owner.tenant.id, named('Pop-up'))}` }) },
  ],
  'GET /v1/menu-items': [{ name: 'the menu', expect: anyMember(200), request: async () => ({ method: 'GET', url: '/v1/menu-items' }) }],
  'POST /v1/menu-items': [
    { name: 'a dish', expect: only(201, ['owner']), request: async () => ({ method: 'POST', url: '/v1/menu-items', payload: { name: named('Dish'), priceMinor: 100 } }) },
  ],
  'GET /v1/menu-items/:id': [
    { name: 'a dish', expect: anyMember(200), request: async (f) => ({ method: 'GET', url: `/v1/menu-items/${(await hospitality(f)).dish}` }) },
  ],
  'PATCH /v1/menu-items/:id': [
    { name: 'its price', expect: only(200, ['owner']), request: async (f) => ({ method: 'PATCH', url: `/v1/menu-items/${(await hospitality(f)).dish}`, payload: { priceMinor: 500 } }) },
    {
      name: 'its availability in branch A',
      expect: only(200, ['owner', 'branch_manager']),
      request: async (f) => ({ method: 'PATCH', url: `/v1/menu-items/${(await hospitality(f)).dish}`, payload: { availability: [{ branchId: f.a, available: true }] } }),
    },
    {
      name: 'its availability in branch B',
      expect: only(200, ['owner']),
      request: async (f) => ({ method: 'PATCH', url: `/v1/menu-items/${(await hospitality(f)).dish}`, payload: { availability: [{ branchId: f.b, available: true }] } }),
    },
  ],
  'DELETE /v1/menu-items/:id': [
    { name: 'a dish', expect: only(200, ['owner']), request: async (f) => ({ method: 'DELETE', url: `/v1/menu-items/${(await aMenuItem(f.t, f.owner, { name: named('Gone') })).id}` }) },
  ],
  'GET /v1/inventory-items': [{ name: 'the stock list', expect: only(200, readsStock), request: async () => ({ method: 'GET', url: '/v1/inventory-items' }) }],
  'POST /v1/inventory-items': [
    { name: 'an item', expect: only(201, ['owner']), request: async () => ({ method: 'POST', url: '/v1/inventory-items', payload: { name: named('Stock'), unit: 'kg', reorderLevel: 1 } }) },
  ],
  'GET /v1/inventory-items/:id': [
    { name: 'an item', expect: only(200, readsStock), request: async (f) => ({ method: 'GET', url: `/v1/inventory-items/${(await hospitality(f)).stock}` }) },
  ],
  'PATCH /v1/inventory-items/:id': [
    { name: 'its reorder level', expect: only(200, ['owner']), request: async (f) => ({ method: 'PATCH', url: `/v1/inventory-items/${(await hospitality(f)).stock}`, payload: { reorderLevel: 2 } }) },
  ],
  'GET /v1/inventory-items/:id/stock': [
    { name: 'on hand', expect: only(200, readsStock), request: async (f) => ({ method: 'GET', url: `/v1/inventory-items/${(await hospitality(f)).stock}/stock` }) },
  ],
  'GET /v1/inventory-items/:id/movements': [
    { name: 'the ledger', expect: only(200, readsStock), request: async (f) => ({ method: 'GET', url: `/v1/inventory-items/${(await hospitality(f)).stock}/movements` }) },
  ],
  'POST /v1/inventory-items/:id/adjustments': [
    {
      name: 'a delivery to branch A',
      expect: only(201, ['owner', 'branch_manager']),
      request: async (f) => ({ method: 'POST', url: `/v1/inventory-items/${(await hospitality(f)).stock}/adjustments`, payload: { branchId: f.a, quantityDelta: 1, reason: 'delivery', kind: 'delivery' } }),
    },
    {
      name: 'a delivery to branch B',
      expect: only(201, ['owner']),
      request: async (f) => ({ method: 'POST', url: `/v1/inventory-items/${(await hospitality(f)).stock}/adjustments`, payload: { branchId: f.b, quantityDelta: 1, reason: 'delivery', kind: 'delivery' } }),
    },
  ],
  'GET /v1/low-stock-alerts': [{ name: 'the alerts', expect: only(200, readsStock), request: async () => ({ method: 'GET', url: '/v1/low-stock-alerts' }) }],
  'GET /v1/orders': [{ name: 'the list', expect: anyMember(200), request: async () => ({ method: 'GET', url: '/v1/orders' }) }],
  'POST /v1/orders': [
    {
      name: 'in branch A',
      expect: only(201, ['owner', 'branch_manager', 'cashier']),
      request: async (f) => ({ method: 'POST', url: '/v1/orders', payload: { branchId: f.a, lines: [{ menuItemId: (await hospitality(f)).dish, quantity: 1 }] } }),
    },
    {
      name: 'in branch B',
      expect: only(201, ['owner']),
      request: async (f) => ({ method: 'POST', url: '/v1/orders', payload: { branchId: f.b, lines: [{ menuItemId: (await hospitality(f)).dish, quantity: 1 }] } }),
    },
  ],
  'GET /v1/orders/:id': [
    { name: 'an order of branch A', expect: anyMember(200), request: async (f) => ({ method: 'GET', url: `/v1/orders/${await anOrderOf(f, 'a')}` }) },
    { name: 'an order of branch B', expect: only(200, ['owner', 'accountant', 'support']), request: async (f) => ({ method: 'GET', url: `/v1/orders/${await anOrderOf(f, 'b')}` }) },
    // Cashiers read their branch's open orders, not its history.
    { name: 'a paid order of branch A', expect: only(200, ['owner', 'branch_manager', 'accountant', 'support']), request: async (f) => ({ method: 'GET', url: `/v1/orders/${await anOrderOf(f, 'a', 'paid')}` }) },
  ],
  'POST /v1/orders/:id/pay': [
    {
      name: 'an order of branch A',
      expect: only(200, ['owner', 'branch_manager', 'cashier']),
      request: async (f) => ({ method: 'POST', url: `/v1/orders/${await anOrderOf(f, 'a')}/pay`, payload: { method: 'cash', amountMinor: 1000 } }),
    },
    { name: 'an order of branch B', expect: only(200, ['owner']), request: async (f) => ({ method: 'POST', url: `/v1/orders/${await anOrderOf(f, 'b')}/pay`, payload: { method: 'card', amountMinor: 500 } }) },
  ],
  'POST /v1/orders/:id/refund': [
    { name: 'a paid order of branch A', expect: only(200, ['owner', 'branch_manager']), request: async (f) => ({ method: 'POST', url: `/v1/orders/${await anOrderOf(f, 'a', 'paid')}/refund`, payload: { reason: 'matrix' } }) },
    { name: 'a paid order of branch B', expect: only(200, ['owner']), request: async (f) => ({ method: 'POST', url: `/v1/orders/${await anOrderOf(f, 'b', 'paid')}/refund`, payload: { reason: 'matrix' } }) },
  ],
  'POST /v1/orders/:id/void': [
    { name: 'an open order of branch A', expect: only(200, ['owner', 'branch_manager']), request: async (f) => ({ method: 'POST', url: `/v1/orders/${await anOrderOf(f, 'a')}/void`, payload: { reason: 'matrix' } }) },
    { name: 'an open order of branch B', expect: only(200, ['owner']), request: async (f) => ({ method: 'POST', url: `/v1/orders/${await anOrderOf(f, 'b')}/void`, payload: { reason: 'matrix' } }) },
  ],
  'GET /v1/reports/sales': [
    { name: 'as JSON', expect: only(200, ['owner', 'branch_manager', 'accountant']), request: async () => ({ method: 'GET', url: '/v1/reports/sales' }) },
    { name: 'of branch B', expect: only(200, ['owner', 'accountant']), request: async (f) => ({ method: 'GET', url: `/v1/reports/sales?branchId=${f.b}` }) },
    { name: 'as CSV', expect: only(200, ['owner', 'accountant']), request: async () => ({ method: 'GET', url: '/v1/reports/sales', headers: { accept: 'text/csv' } }) },
  ],
};
Object.assign(matrix, hospitalityMatrix);

function auth(token: string | undefined): Record<string, string> {
  return token ? bearer(token) : {};
}

let t: TestContext;
let f: Fixture;
before(async () => {
  t = await createTestContext();
  const owner = await aTenant(t.app, 'Matrix Bistro');
  // The matrix is about roles, not plans: the business may have as many members as it adds.
  await t.platform.tenancy.withSystem('test: plan without limits', (trx) => trx.updateTable('subscriptions').set({ plan: 'enterprise' }).where('tenant_id', '=', owner.tenant.id).execute());
  billingModule(t.platform).service.invalidate(owner.tenant.id);
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
