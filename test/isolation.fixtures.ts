import type { TestContext, Session } from './harness.ts';
import { aCafe, anOrder, as, expectStatus } from './hospitality.fixtures.ts';

/**
 * How to make, in tenant A, the resource a route with an id names, and a valid body for the
 * methods that need one (so the answer is about the id, not about validation).
 * The isolation suite fails for any tenant route with a path parameter that has no entry here:
 * a new route is covered the day it is added.
 */
export interface Prepared {
  params: Record<string, string>;
  bodies?: Partial<Record<'POST' | 'PUT' | 'PATCH' | 'DELETE', unknown>>;
}

export type Fixture = (t: TestContext, owner: Session) => Promise<Prepared>;

async function aMemberOf(t: TestContext, owner: Session): Promise<string> {
  const res = await t.app.inject({
    method: 'POST',
    url: '/v1/members',
    headers: { authorization: `Bearer ${owner.token}` },
    payload: { name: 'Isolated Member', email: `iso+${Math.random().toString(36).slice(2)}@example.com`, password: 'correct horse battery', roles: [{ role: 'support' }] },
  });
  return res.json().member.id;
}

/** An export marked ready (no job runs here): its download is the empty file. */
export async function aReadyExport(t: TestContext, owner: Session): Promise<string> {
  const row = await t.platform.tenancy.withTenant({ tenantId: owner.tenant.id }, (trx) =>
    trx
      .insertInto('tenant_exports')
      .values({ tenant_id: owner.tenant.id, requested_by: owner.user.id, requested_by_operator: null, status: 'ready', ready_at: new Date(), expires_at: new Date(Date.now() + 3600_000), bytes: '0' })
      .returning('id')
      .executeTakeFirstOrThrow(),
  );
  return row.id;
}

export const fixtures: Record<string, Fixture> = {
  '/v1/members/:id': async (t, owner) => ({ params: { id: await aMemberOf(t, owner) } }),
  '/v1/members/:id/erasure': async (t, owner) => ({ params: { id: await aMemberOf(t, owner) } }),
  '/v1/members/:id/invitation': async (t, owner) => ({ params: { id: await aMemberOf(t, owner) } }),
  '/v1/roles/:key': async (t, owner) => {
    const key = `iso_${Math.random().toString(36).slice(2, 10)}`;
    const res = await t.app.inject({ method: 'POST', url: '/v1/roles', headers: { authorization: `Bearer ${owner.token}` }, payload: { key, name: 'Isolated role', permissions: ['orders.read'] } });
    expectStatus(res, 201);
    return { params: { key }, bodies: { PATCH: { name: 'Renamed by another business' } } };
  },
  '/v1/members/:id/roles': async (t, owner) => ({ params: { id: await aMemberOf(t, owner) }, bodies: { PUT: { roles: [{ role: 'accountant' }] } } }),
  '/v1/support-grants/:id': async (t, owner) => {
    const res = await t.app.inject({
      method: 'POST',
      url: '/v1/support-grants',
      headers: { authorization: `Bearer ${owner.token}` },
      payload: { reason: 'isolation suite', durationMinutes: 30 },
    });
    return { params: { id: res.json().supportGrant.id } };
  },
  '/v1/api-keys/:id': async (t, owner) => {
    const res = await t.app.inject({
      method: 'POST',
      url: '/v1/api-keys',
      headers: { authorization: `Bearer ${owner.token}` },
      payload: { name: 'isolation suite', permissions: ['orders.read'] },
    });
    return { params: { id: res.json().apiKey.id } };
  },
  '/v1/exports/:id': async (t, owner) => ({ params: { id: await aReadyExport(t, owner) } }),
  '/v1/exports/:id/download': async (t, owner) => ({ params: { id: await aReadyExport(t, owner) } }),
  '/v1/report-schedules/:id': async (t, owner) => {
    const res = await t.app.inject({
      method: 'POST',
      url: '/v1/report-schedules',
      headers: { authorization: `Bearer ${owner.token}` },
      payload: { name: 'isolation suite', frequency: 'daily', hour: 7, recipients: [owner.user.id] },
    });
    return { params: { id: res.json().reportSchedule.id } };
  },
};
// Hospitality: a café with stock, a menu item with a recipe and an open or paid order.
const branch: Fixture = async (t, owner) => {
  const c = await aCafe(t, owner);
  return { params: { id: c.branchId }, bodies: { PATCH: { name: 'Taken over' } } };
};
const menuItem: Fixture = async (t, owner) => {
  const c = await aCafe(t, owner);
  return { params: { id: c.latte.id }, bodies: { PATCH: { priceMinor: 1 } } };
};
const inventoryItem: Fixture = async (t, owner) => {
  const c = await aCafe(t, owner);
  return {
    params: { id: c.milk.id },
    bodies: { PATCH: { reorderLevel: 99 }, POST: { branchId: c.branchId, quantityDelta: -1, reason: 'stolen' } },
  };
};
const openOrder: Fixture = async (t, owner) => {
  const c = await aCafe(t, owner);
  const order = await anOrder(t, owner, c.branchId, [{ menuItemId: c.latte.id, quantity: 1 }]);
  return { params: { id: order.id }, bodies: { POST: { method: 'card', amountMinor: order.totalMinor } } };
};
const paidOrder: Fixture = async (t, owner) => {
  const c = await aCafe(t, owner);
  const order = await anOrder(t, owner, c.branchId, [{ menuItemId: c.latte.id, quantity: 1 }]);
  expectStatus(await as(t, owner).post(`/v1/orders/${order.id}/pay`, { method: 'card', amountMinor: order.totalMinor }), 200);
  return { params: { id: order.id }, bodies: { POST: { reason: 'taken' } } };
};
const voidableOrder: Fixture = async (t, owner) => ({ ...(await openOrder(t, owner)), bodies: { POST: { reason: 'taken' } } });
Object.assign(fixtures, {
  '/v1/branches/:id': branch,
  '/v1/menu-items/:id': menuItem,
  '/v1/inventory-items/:id': inventoryItem,
  '/v1/inventory-items/:id/stock': inventoryItem,
  '/v1/inventory-items/:id/movements': inventoryItem,
  '/v1/inventory-items/:id/adjustments': inventoryItem,
  '/v1/orders/:id': openOrder,
  '/v1/orders/:id/pay': openOrder,
  '/v1/orders/:id/refund': paidOrder,
  '/v1/orders/:id/void': voidableOrder,
} satisfies Record<string, Fixture>);
