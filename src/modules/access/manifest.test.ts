import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import type { InjectOptions } from 'fastify';
import { createTestContext, aTenant, aBranch, aMember, bearer, problem, type TestContext, type Session } from '../../../test/harness.ts';
import { allActions, actions, type Action } from './index.ts';
import { billingModule } from '../billing/index.ts';

interface ManifestAction {
  action: Action;
  allowed: boolean;
  requiredPermission: string;
  branchIds: string[] | null;
  reason: string | null;
  planBlock: { code: string; limit: string | null; feature: string | null; current: unknown; allowed: unknown; upgradeTo: string | null; detail: string; operations: string[] } | null;
}

let t: TestContext;
let owner: Session;
let branchA: string;
const actors: Record<string, Session> = {};

before(async () => {
  t = await createTestContext();
  owner = await aTenant(t.app);
  branchA = await aBranch(t, owner.tenant.id, 'A');
  await aBranch(t, owner.tenant.id, 'B');
  const role = (key: string, permissions: string[]) =>
    t.app.inject({ method: 'POST', url: '/v1/roles', headers: bearer(owner), payload: { key, name: key, permissions } });
  assert.equal((await role('people_admin', ['members.read', 'members.manage', 'roles.manage'])).statusCode, 201);
  assert.equal((await role('bookkeeper', ['audit.read', 'billing.read', 'settings.manage'])).statusCode, 201);
  actors.owner = owner;
  actors.branch_manager = await aMember(t, owner, 'branch_manager', branchA);
  actors.accountant = await aMember(t, owner, 'accountant');
  actors.cashier = await aMember(t, owner, 'cashier', branchA);
  actors.support = await aMember(t, owner, 'support');
  actors.people_admin_in_a_branch = await aMember(t, owner, 'people_admin', branchA);
  actors.bookkeeper_in_a_branch = await aMember(t, owner, 'bookkeeper', branchA);
  actors.bookkeeper = await aMember(t, owner, 'bookkeeper');
});
after(() => t.close());

async function manifestOf(s: Session): Promise<Map<Action, ManifestAction>> {
  const res = await t.app.inject({ method: 'GET', url: '/v1/me/permissions', headers: bearer(s) });
  assert.equal(res.statusCode, 200);
  return new Map((res.json().actions as ManifestAction[]).map((a) => [a.action, a]));
}

/** The smallest request a route accepts as far as permissions go: ids are made up, bodies empty. */
function probe(method: string, url: string): InjectOptions {
  const path = url.replace(/:[A-Za-z]+/g, () => crypto.randomUUID());
  return ['POST', 'PUT', 'PATCH'].includes(method) ? { method: method as 'POST', url: path, payload: {} } : { method: method as 'GET', url: path };
}

test('the manifest lists every catalogue action, with the catalogue\'s permission', async () => {
  const m = await manifestOf(actors.cashier!);
  assert.deepEqual([...m.keys()], allActions);
  for (const a of allActions) assert.equal(m.get(a)!.requiredPermission, actions[a].permission);
});

test('the manifest explains a refusal with the sentence the route\'s 403 gives', async () => {
  const m = await manifestOf(actors.cashier!);
  assert.deepEqual(m.get('orders.refund'), {
    action: 'orders.refund',
    label: 'Refund an order',
    allowed: false,
    requiredPermission: 'orders.refund',
    branchIds: [],
    reason: 'Refunding an order requires the orders.refund permission, which cashiers do not have.',
    planBlock: null,
  });
  assert.deepEqual({ ...m.get('orders.create'), label: undefined }, { action: 'orders.create', label: undefined, allowed: true, requiredPermission: 'orders.create', branchIds: [branchA], reason: null, planBlock: null });
  const o = await manifestOf(owner);
  // The trial does not include the audit export: the plan, not a permission, withholds it.
  assert.ok([...o.values()].every((a) => a.action === 'audit.export' || (a.allowed && a.branchIds === null && a.reason === null)));
});

test('for every role and every route that performs an action, the manifest agrees with enforcement', async () => {
  const routes = t.app.accessTable.filter((r) => 'action' in r.access);
  const covered = new Set(routes.map((r) => ('action' in r.access ? r.access.action : null)));
  for (const a of ['members.read', 'members.manage', 'roles.manage', 'audit.read', 'audit.export', 'support_access.manage'] as Action[]) {
    assert.ok(covered.has(a), `no route performs ${a}`);
  }
  const disagreements: string[] = [];
  for (const [who, session] of Object.entries(actors)) {
    const manifest = await manifestOf(session);
    for (const route of routes) {
      if (!('action' in route.access)) continue;
      const said = manifest.get(route.access.action)!;
      const res = await t.app.inject({ ...probe(route.method, route.url), headers: bearer(session) });
      const refused = res.statusCode === 403 || (res.statusCode === 402 && ['plan_limit_reached', 'feature_not_in_plan'].includes(String(problem(res).code)));
      if (said.allowed === refused) {
        disagreements.push(`${who}: manifest says ${route.access.action} ${said.allowed ? 'allowed' : 'refused'}, ${route.method} ${route.url} answered ${res.statusCode}`);
      } else if (refused) {
        const p = problem(res);
        if (res.statusCode === 402) {
          if (p.detail !== said.reason || p.detail !== said.planBlock?.detail || said.planBlock?.operations.includes(`${route.method} ${route.url}`) !== true) {
            disagreements.push(`${who}: ${route.method} ${route.url} answered 402 "${p.detail}", the manifest "${said.reason}"`);
          }
        } else if (p.detail !== said.reason || p.requiredPermission !== said.requiredPermission) {
          disagreements.push(`${who}: ${route.method} ${route.url} explains "${p.detail}" (${p.requiredPermission}), the manifest "${said.reason}" (${said.requiredPermission})`);
        }
      }
    }
  }
  assert.deepEqual(disagreements, []);
});

test('a role change shows in the manifest on the very next request', async () => {
  const cashier = await aMember(t, owner, 'cashier', branchA);
  assert.equal((await manifestOf(cashier)).get('members.manage')!.allowed, false);
  const res = await t.app.inject({
    method: 'PUT',
    url: `/v1/members/${cashier.user.id}/roles`,
    headers: bearer(owner),
    payload: { roles: [{ role: 'branch_manager', branchId: branchA }] },
  });
  assert.equal(res.statusCode, 200);
  const now = (await manifestOf(cashier)).get('members.manage')!;
  assert.equal(now.allowed, true);
  assert.deepEqual(now.branchIds, [branchA]);
});

test('the manifest says which action the plan blocks, with the limit and the sentence of the route\'s 402', async () => {
  const small = await aTenant(t.app, 'Small Bistro');
  await t.platform.tenancy.withSystem('test: starter plan', (trx) => trx.updateTable('subscriptions').set({ plan: 'starter', status: 'active' }).where('tenant_id', '=', small.tenant.id).execute());
  billingModule(t.platform).service.invalidate(small.tenant.id);
  await aBranch(t, small.tenant.id, 'Only');
  const m = await manifestOf(small);
  const branches = m.get('branches.manage')!;
  assert.equal(branches.allowed, true, 'renaming and closing branches stay allowed');
  assert.equal(branches.planBlock?.code, 'plan_limit_reached');
  assert.equal(branches.planBlock?.limit, 'branches');
  assert.equal(branches.planBlock?.current, 1);
  assert.equal(branches.planBlock?.allowed, 1);
  assert.equal(branches.planBlock?.upgradeTo, 'pro');
  assert.deepEqual(branches.planBlock?.operations, ['POST /v1/branches']);
  const res = await t.app.inject({ method: 'POST', url: '/v1/branches', headers: bearer(small), payload: { name: 'Second' } });
  assert.equal(res.statusCode, 402);
  assert.equal(problem(res).detail, branches.planBlock?.detail);
  // Starter has no audit export: every route of that action is blocked, so it is not allowed.
  const exp = m.get('audit.export')!;
  assert.equal(exp.allowed, false);
  assert.equal(exp.planBlock?.code, 'feature_not_in_plan');
  assert.equal(exp.reason, exp.planBlock?.detail);
  assert.equal(m.get('orders.create')!.planBlock, null);
});
