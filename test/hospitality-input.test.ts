import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createTestContext, aTenant, problem, type TestContext, type Session } from './harness.ts';
import { as, aCafe, anOrder, expectStatus, sqlAsOwner } from './hospitality.fixtures.ts';

/*
 * Bad input for every field of every hospitality body: wrong type, negative, too large, not a
 * UUID, unknown field. Each is a 400 problem naming the field, and nothing changes.
 */
let t: TestContext;
let owner: Session;
let ids: { branch: string; menuItem: string; inventoryItem: string; order: string; paidOrder: string };
before(async () => {
  t = await createTestContext();
  owner = await aTenant(t.app);
  const cafe = await aCafe(t, owner);
  const order = await anOrder(t, owner, cafe.branchId, [{ menuItemId: cafe.latte.id, quantity: 1 }]);
  const paid = await anOrder(t, owner, cafe.branchId, [{ menuItemId: cafe.latte.id, quantity: 1 }]);
  expectStatus(await as(t, owner).post(`/v1/orders/${paid.id}/pay`, { method: 'card', amountMinor: paid.totalMinor }), 200);
  ids = { branch: cafe.branchId, menuItem: cafe.latte.id, inventoryItem: cafe.milk.id, order: order.id, paidOrder: paid.id };
});
after(() => t.close());

const TABLES = [
  'branches', 'menu_items', 'menu_item_availability', 'recipe_lines', 'inventory_items', 'stock_levels', 'stock_movements',
  'low_stock_alerts', 'orders', 'order_lines', 'payments', 'audit_events', 'outbox', 'idempotency_keys',
];

/** Every row of every table the hospitality API writes, for this tenant, as text. */
async function snapshot(): Promise<string> {
  const parts: string[] = [];
  for (const table of TABLES) {
    const rows = await sqlAsOwner<{ r: string }>(t, `SELECT x::text AS r FROM ${table} x WHERE tenant_id = $1 ORDER BY 1`, [owner.tenant.id]);
    parts.push(`${table}: ${rows.map((r) => r.r).join('\n')}`);
  }
  return parts.join('\n');
}

type Body = Record<string, unknown>;
type Case = [field: string, value: unknown];

const uuid = '3f1c1d4e-9c8b-4f6a-8e2d-1a2b3c4d5e6f';
const long = (n: number) => 'x'.repeat(n);

/** The bad values each kind of field is tried with. */
const bad = {
  name: (max: number): unknown[] => [42, '', '   ', long(max + 1), null, ['a'], { a: 1 }],
  uuid: (): unknown[] => ['not-a-uuid', 42, '', null, `${uuid}x`],
  integer: (max: number, min = 0): unknown[] => ['12', 1.5, min - 1, max + 1, null, true],
  quantity: (max: number): unknown[] => ['1', max + 1, -(max + 1), null, 1.0005, Number.MAX_SAFE_INTEGER],
  bool: (): unknown[] => ['yes', 1, null],
};

function cases(fields: Record<string, unknown[]>): Case[] {
  return Object.entries(fields).flatMap(([field, values]) => values.map((v): Case => [field, v]));
}

function set(body: Body, path: string, value: unknown): Body {
  const copy = structuredClone(body) as Body;
  const keys = path.split('.');
  let node: Record<string, unknown> = copy;
  for (const k of keys.slice(0, -1)) node = node[k] as Record<string, unknown>;
  node[keys[keys.length - 1]!] = value;
  return copy;
}

const endpoints = () => [
  {
    name: 'open a branch',
    method: 'POST' as const,
    url: '/v1/branches',
    valid: { name: 'New branch', address: 'Somewhere', timezone: 'Europe/Paris' },
    cases: cases({ name: bad.name(200), address: [42, '', long(501), ['x']], timezone: [42, '', 'Mars/Olympus', long(65)] }),
  },
  {
    name: 'change a branch',
    method: 'PATCH' as const,
    url: `/v1/branches/${ids.branch}`,
    valid: { name: 'Renamed' },
    cases: cases({ name: bad.name(200), timezone: [7, 'Nowhere/City'] }),
  },
  {
    name: 'add a menu item',
    method: 'POST' as const,
    url: '/v1/menu-items',
    valid: {
      name: 'Scone',
      priceMinor: 250,
      category: 'Bakery',
      recipe: [{ inventoryItemId: ids.inventoryItem, quantity: 0.05 }],
      availability: [{ branchId: ids.branch, available: true }],
    },
    cases: [
      ...cases({
        name: bad.name(200),
        priceMinor: bad.integer(10_000_000),
        category: [42, '', long(101)],
        recipe: ['milk', {}, Array.from({ length: 51 }, () => ({ inventoryItemId: ids.inventoryItem, quantity: 1 }))],
        'recipe.0.inventoryItemId': bad.uuid(),
        'recipe.0.quantity': [...bad.quantity(1_000_000), 0, -1],
        availability: ['everywhere', {}],
        'availability.0.branchId': bad.uuid(),
        'availability.0.available': bad.bool(),
      }),
      ['recipe.0.unit', 'kg'] as Case,
    ],
  },
  {
    name: 'change a menu item',
    method: 'PATCH' as const,
    url: `/v1/menu-items/${ids.menuItem}`,
    valid: { priceMinor: 375 },
    cases: cases({ priceMinor: bad.integer(10_000_000), name: bad.name(200), 'availability': [[{ branchId: 'x', available: true }]] }),
  },
  {
    name: 'add an inventory item',
    method: 'POST' as const,
    url: '/v1/inventory-items',
    valid: { name: 'Butter', unit: 'kg', reorderLevel: 2 },
    cases: cases({ name: bad.name(200), unit: [42, '', long(21), ' kg'], reorderLevel: [...bad.quantity(1_000_000_000), -0.5] }),
  },
  {
    name: 'change an inventory item',
    method: 'PATCH' as const,
    url: `/v1/inventory-items/${ids.inventoryItem}`,
    valid: { reorderLevel: 3 },
    cases: cases({ reorderLevel: ['3', -1, 1e12, 0.0001], unit: [42, ''] }),
  },
  {
    name: 'adjust stock',
    method: 'POST' as const,
    url: `/v1/inventory-items/${ids.inventoryItem}/adjustments`,
    valid: { branchId: ids.branch, quantityDelta: 1.5, reason: 'delivery', kind: 'delivery' },
    cases: cases({
      branchId: bad.uuid(),
      quantityDelta: bad.quantity(1_000_000_000),
      reason: [42, '', '  ', long(501), null],
      kind: ['sale', 'refund', 'theft', 3],
      countedOnHand: ['5', -1, 1e12],
    }),
  },
  {
    name: 'place an order',
    method: 'POST' as const,
    url: '/v1/orders',
    valid: { branchId: ids.branch, lines: [{ menuItemId: ids.menuItem, quantity: 2 }] },
    cases: [
      ...cases({
        branchId: bad.uuid(),
        lines: ['latte', [], {}, null, Array.from({ length: 101 }, () => ({ menuItemId: ids.menuItem, quantity: 1 }))],
        'lines.0.menuItemId': bad.uuid(),
        'lines.0.quantity': [...bad.integer(999, 1), 0],
      }),
      ['lines.0.priceMinor', 1] as Case,
    ],
  },
  {
    name: 'pay an order',
    method: 'POST' as const,
    url: `/v1/orders/${ids.order}/pay`,
    valid: { method: 'cash', amountMinor: 500 },
    cases: cases({ method: ['bitcoin', 'CASH', 1, null], amountMinor: bad.integer(1_000_000_000_000) }),
  },
  {
    name: 'refund an order',
    method: 'POST' as const,
    url: `/v1/orders/${ids.paidOrder}/refund`,
    valid: { reason: 'burnt' },
    cases: cases({ reason: [42, '', ' ', long(501), null], restock: bad.bool() }),
  },
  {
    name: 'void an order',
    method: 'POST' as const,
    url: `/v1/orders/${ids.order}/void`,
    valid: { reason: 'mistake' },
    cases: cases({ reason: [42, '', long(501), null] }),
  },
];

test('every bad field of every hospitality body is a 400 naming it, and nothing changes', async () => {
  const before = await snapshot();
  let tried = 0;
  for (const ep of endpoints()) {
    const all: Case[] = [...ep.cases, ['tenantId', uuid], ['unexpected', 1]];
    for (const [field, value] of all) {
      const body = set(ep.valid, field, value);
      const res = await t.app.inject({ method: ep.method, url: ep.url, headers: { authorization: `Bearer ${owner.token}` }, payload: body });
      const label = `${ep.name}: ${field} = ${JSON.stringify(value)?.slice(0, 60)}`;
      assert.equal(res.statusCode, 400, `${label} → ${res.statusCode} ${res.body}`);
      const p = problem(res);
      assert.equal(p.code, 'validation_failed', label);
      const errors = p.errors as { path: string; message: string }[];
      assert.ok(errors.length > 0, label);
      const top = field.split('.')[0]!;
      assert.ok(errors.some((e) => e.path.startsWith(top)), `${label}: ${JSON.stringify(errors)}`);
      tried++;
    }
    // Missing required fields, and a body that is not an object at all.
    for (const payload of [[], 'text', 42]) {
      const res = await t.app.inject({ method: ep.method, url: ep.url, headers: { authorization: `Bearer ${owner.token}`, 'content-type': 'application/json' }, payload: JSON.stringify(payload) });
      assert.equal(res.statusCode, 400, `${ep.name}: ${JSON.stringify(payload)}`);
    }
  }
  assert.ok(tried > 150, `only ${tried} cases`);
  assert.equal(await snapshot(), before);
});

test('ids in paths must be UUIDs', async () => {
  const before = await snapshot();
  for (const [method, url] of [
    ['GET', '/v1/branches/abc'],
    ['PATCH', '/v1/branches/abc'],
    ['DELETE', '/v1/branches/1'],
    ['GET', '/v1/menu-items/latte'],
    ['PATCH', '/v1/menu-items/latte'],
    ['GET', '/v1/inventory-items/42'],
    ['GET', '/v1/inventory-items/42/stock'],
    ['POST', '/v1/inventory-items/42/adjustments'],
    ['GET', '/v1/orders/42'],
    ['POST', '/v1/orders/42/pay'],
    ['POST', '/v1/orders/42/refund'],
    ['POST', '/v1/orders/42/void'],
  ] as const) {
    const res = await t.app.inject({ method, url, headers: { authorization: `Bearer ${owner.token}` }, ...(method === 'GET' || method === 'DELETE' ? {} : { payload: {} }) });
    assert.equal(res.statusCode, 400, `${method} ${url}`);
    assert.equal(problem(res).code, 'validation_failed');
    assert.ok((problem(res).errors as { path: string }[]).some((e) => e.path.startsWith('params.id')), `${method} ${url}: ${res.body}`);
  }
  assert.equal(await snapshot(), before);
});
