import type { TestContext, Session } from './harness.ts';

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

export const fixtures: Record<string, Fixture> = {
  '/v1/members/:id': async (t, owner) => ({ params: { id: await aMemberOf(t, owner) } }),
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
};
