import crypto from 'node:crypto';
import pg from 'pg';
import type { LightMyRequestResponse } from 'fastify';
import { bearer, aBranch, type Session, type TestContext } from './harness.ts';

/** Requests as one caller: `as(owner).post('/v1/orders', body)`. */
export function as(t: TestContext, session: Session) {
  const call = (method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, payload?: unknown, headers: Record<string, string> = {}) =>
    t.app.inject({ method, url, headers: { ...bearer(session), ...headers }, ...(payload === undefined ? {} : { payload: payload as object }) });
  return {
    get: (url: string, headers?: Record<string, string>) => call('GET', url, undefined, headers),
    post: (url: string, payload: unknown = {}, headers?: Record<string, string>) => call('POST', url, payload, headers),
    patch: (url: string, payload: unknown, headers?: Record<string, string>) => call('PATCH', url, payload, headers),
    delete: (url: string) => call('DELETE', url),
  };
}

export function expectStatus(res: LightMyRequestResponse, status: number): LightMyRequestResponse {
  if (res.statusCode !== status) throw new Error(`expected ${status}, got ${res.statusCode}: ${res.body}`);
  return res;
}

export async function anInventoryItem(t: TestContext, owner: Session, values: { name?: string; unit?: string; reorderLevel?: number } = {}) {
  const res = await as(t, owner).post('/v1/inventory-items', {
    name: values.name ?? `Stock ${crypto.randomBytes(3).toString('hex')}`,
    unit: values.unit ?? 'kg',
    reorderLevel: values.reorderLevel ?? 0,
  });
  return expectStatus(res, 201).json().inventoryItem as { id: string; name: string; unit: string; reorderLevel: number };
}

export async function aMenuItem(
  t: TestContext,
  owner: Session,
  values: { name?: string; priceMinor?: number; category?: string; recipe?: { inventoryItemId: string; quantity: number }[] } = {},
) {
  const res = await as(t, owner).post('/v1/menu-items', {
    name: values.name ?? `Dish ${crypto.randomBytes(3).toString('hex')}`,
    priceMinor: values.priceMinor ?? 1000,
    ...(values.category ? { category: values.category } : {}),
    ...(values.recipe ? { recipe: values.recipe } : {}),
  });
  return expectStatus(res, 201).json().menuItem as { id: string; name: string; priceMinor: number };
}

export async function deliver(t: TestContext, owner: Session, itemId: string, branchId: string, quantity: number) {
  const res = await as(t, owner).post(`/v1/inventory-items/${itemId}/adjustments`, { branchId, quantityDelta: quantity, reason: 'delivery', kind: 'delivery' });
  return expectStatus(res, 201).json() as { movement: { id: string }; onHand: number };
}

export async function anOrder(t: TestContext, session: Session, branchId: string, lines: { menuItemId: string; quantity: number }[]) {
  const res = await as(t, session).post('/v1/orders', { branchId, lines });
  return expectStatus(res, 201).json().order as { id: string; totalMinor: number; status: string };
}

/** A branch with a coffee that takes 0.02 kg of beans and 0.2 l of milk, and stock of both. */
export async function aCafe(t: TestContext, owner: Session, stock: { beans?: number; milk?: number } = {}) {
  const branchId = await aBranch(t, owner.tenant.id, `Café ${crypto.randomBytes(3).toString('hex')}`);
  const beans = await anInventoryItem(t, owner, { name: `Beans ${branchId.slice(0, 8)}`, unit: 'kg', reorderLevel: 1 });
  const milk = await anInventoryItem(t, owner, { name: `Milk ${branchId.slice(0, 8)}`, unit: 'l', reorderLevel: 2 });
  if (stock.beans ?? 5) await deliver(t, owner, beans.id, branchId, stock.beans ?? 5);
  if (stock.milk ?? 10) await deliver(t, owner, milk.id, branchId, stock.milk ?? 10);
  const latte = await aMenuItem(t, owner, {
    name: `Latte ${branchId.slice(0, 8)}`,
    priceMinor: 350,
    category: 'Drinks',
    recipe: [
      { inventoryItemId: beans.id, quantity: 0.02 },
      { inventoryItemId: milk.id, quantity: 0.2 },
    ],
  });
  return { branchId, beans, milk, latte };
}

/** Reads the database as its owner, bypassing the application (to check effects). */
export async function sqlAsOwner<R extends pg.QueryResultRow = Record<string, unknown>>(t: TestContext, text: string, values: unknown[] = []): Promise<R[]> {
  const client = new pg.Client({ connectionString: t.ownerUrl });
  await client.connect();
  try {
    return (await client.query<R>(text, values)).rows;
  } finally {
    await client.end();
  }
}
