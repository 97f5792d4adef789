import { sql } from 'kysely';
import type { Platform } from '../../platform/deps.ts';

/**
 * A living business for the demo tenants: inventory, a menu with recipes, three weeks of trade
 * in every branch (paid orders, a few refunds and voids, some still open today) and the stock
 * ledger those sales wrote, with weekly deliveries. Everything goes in with a handful of bulk
 * statements, so a first start stays quick.
 *
 * The ledger is built the way the application keeps it: every sale is a movement, on-hand is the
 * running sum, and a level below its reorder point carries its flag and an alert (no mail job:
 * the demo should not greet a newcomer with a queue of stale low-stock e-mails).
 */

interface StockItem {
  name: string;
  unit: string;
  reorder: number;
}

interface Dish {
  name: string;
  category: string;
  price: number;
  recipe: [stock: string, quantity: number][];
  /** Relative popularity. */
  weight: number;
}

const stock: StockItem[] = [
  { name: 'Coffee beans', unit: 'kg', reorder: 2 },
  { name: 'Milk', unit: 'l', reorder: 12 },
  { name: 'Oat milk', unit: 'l', reorder: 4 },
  { name: 'Tea leaves', unit: 'kg', reorder: 0.5 },
  { name: 'Flour', unit: 'kg', reorder: 5 },
  { name: 'Butter', unit: 'kg', reorder: 2 },
  { name: 'Eggs', unit: 'piece', reorder: 36 },
  { name: 'Sugar', unit: 'kg', reorder: 2 },
  { name: 'Potatoes', unit: 'kg', reorder: 10 },
  { name: 'White fish', unit: 'kg', reorder: 4 },
  { name: 'Bread', unit: 'loaf', reorder: 6 },
  { name: 'Cheese', unit: 'kg', reorder: 2 },
  { name: 'Orange juice', unit: 'l', reorder: 5 },
];

const menu: Dish[] = [
  { name: 'Espresso', category: 'Coffee', price: 180, weight: 14, recipe: [['Coffee beans', 0.018]] },
  { name: 'Flat white', category: 'Coffee', price: 340, weight: 16, recipe: [['Coffee beans', 0.018], ['Milk', 0.15]] },
  { name: 'Oat latte', category: 'Coffee', price: 380, weight: 7, recipe: [['Coffee beans', 0.018], ['Oat milk', 0.22]] },
  { name: 'Breakfast tea', category: 'Tea', price: 250, weight: 8, recipe: [['Tea leaves', 0.004], ['Milk', 0.03]] },
  { name: 'Fresh orange juice', category: 'Cold drinks', price: 390, weight: 5, recipe: [['Orange juice', 0.25]] },
  { name: 'Butter croissant', category: 'Bakery', price: 260, weight: 10, recipe: [['Flour', 0.06], ['Butter', 0.03]] },
  { name: 'Scone with jam', category: 'Bakery', price: 320, weight: 5, recipe: [['Flour', 0.07], ['Butter', 0.02], ['Sugar', 0.015], ['Eggs', 0.25]] },
  { name: 'Eggs on toast', category: 'Breakfast', price: 750, weight: 6, recipe: [['Eggs', 2], ['Bread', 0.1], ['Butter', 0.01]] },
  { name: 'Cheese toastie', category: 'Lunch', price: 690, weight: 6, recipe: [['Bread', 0.12], ['Cheese', 0.06], ['Butter', 0.01]] },
  { name: 'Fish and chips', category: 'Lunch', price: 1450, weight: 7, recipe: [['White fish', 0.18], ['Potatoes', 0.3], ['Flour', 0.04]] },
  { name: 'Chips', category: 'Sides', price: 390, weight: 4, recipe: [['Potatoes', 0.25]] },
  { name: 'Lemon cake', category: 'Bakery', price: 420, weight: 4, recipe: [['Flour', 0.05], ['Butter', 0.03], ['Sugar', 0.04], ['Eggs', 0.5]] },
];

/** Deterministic, so every demo looks the same. */
function random(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 4294967296;
  };
}

const DAYS = 21;

export async function seedHospitality(platform: Platform, tenantId: string, branchIds: string[]): Promise<void> {
  await platform.tenancy.withTenant({ tenantId }, async (trx) => {
    const tenant = await trx.selectFrom('tenants').select(['currency', 'timezone']).where('id', '=', tenantId).executeTakeFirstOrThrow();
    const cashier = await trx
      .selectFrom('role_assignments')
      .select('user_id')
      .where('tenant_id', '=', tenantId)
      .where('role_key', '=', 'cashier')
      .executeTakeFirst();

    const items = await trx
      .insertInto('inventory_items')
      .values(stock.map((s) => ({ tenant_id: tenantId, name: s.name, unit: s.unit, reorder_level: s.reorder.toFixed(3) })))
      .returning(['id', 'name'])
      .execute();
    const itemId = new Map(items.map((i) => [i.name, i.id]));
    const dishes = await trx
      .insertInto('menu_items')
      .values(menu.map((d) => ({ tenant_id: tenantId, name: d.name, category: d.category, price_minor: d.price })))
      .returning(['id', 'name'])
      .execute();
    const dishId = new Map(dishes.map((d) => [d.name, d.id]));
    await trx
      .insertInto('recipe_lines')
      .values(
        menu.flatMap((d) =>
          d.recipe.map(([name, quantity]) => ({ tenant_id: tenantId, menu_item_id: dishId.get(d.name)!, inventory_item_id: itemId.get(name)!, quantity: quantity.toFixed(3) })),
        ),
      )
      .execute();
    // The second branch does not serve fish and chips: a per-branch exception.
    if (branchIds[1]) {
      await trx
        .insertInto('menu_item_availability')
        .values({ tenant_id: tenantId, menu_item_id: dishId.get('Fish and chips')!, branch_id: branchIds[1], available: false })
        .execute();
    }

    // Orders, generated here and inserted as arrays: local opening hours, busier at lunch.
    const rnd = random(tenantId.split('').reduce((h, c) => (h * 31 + c.charCodeAt(0)) | 0, 7));
    const totalWeight = menu.reduce((s, d) => s + d.weight, 0);
    const pick = (branchIndex: number): Dish => {
      for (;;) {
        let r = rnd() * totalWeight;
        const dish = menu.find((d) => (r -= d.weight) < 0) ?? menu[0]!;
        if (branchIndex === 1 && dish.name === 'Fish and chips') continue;
        return dish;
      }
    };
    const o = { branch: [] as string[], local: [] as string[], status: [] as string[], total: [] as number[], refundAfter: [] as number[], reason: [] as (string | null)[] };
    const l = { order: [] as number[], lineNo: [] as number[], item: [] as string[], name: [] as string[], price: [] as number[], quantity: [] as number[] };
    branchIds.forEach((branchId, bi) => {
      for (let day = DAYS; day >= 0; day--) {
        const count = day === 0 ? 4 : Math.round((bi === 0 ? 55 : 38) * (0.8 + rnd() * 0.4) * ([0, 6].includes((new Date(Date.now() - day * 864e5).getUTCDay())) ? 1.3 : 1));
        for (let n = 0; n < count; n++) {
          const hour = rnd() < 0.45 ? 11 + Math.floor(rnd() * 3) : 8 + Math.floor(rnd() * 12);
          const local = `${day}|${String(hour).padStart(2, '0')}:${String(Math.floor(rnd() * 60)).padStart(2, '0')}:${String(Math.floor(rnd() * 60)).padStart(2, '0')}`;
          const r = rnd();
          const status = day === 0 ? 'open' : r < 0.03 ? 'refunded' : r < 0.05 ? 'voided' : 'paid';
          const index = o.branch.length;
          const lines = 1 + Math.floor(rnd() * rnd() * 4);
          let total = 0;
          for (let ln = 1; ln <= lines; ln++) {
            const dish = pick(bi);
            const quantity = rnd() < 0.85 ? 1 : 2;
            total += dish.price * quantity;
            l.order.push(index);
            l.lineNo.push(ln);
            l.item.push(dishId.get(dish.name)!);
            l.name.push(dish.name);
            l.price.push(dish.price);
            l.quantity.push(quantity);
          }
          o.branch.push(branchId);
          o.local.push(local);
          o.status.push(status);
          o.total.push(total);
          o.refundAfter.push(5 + Math.floor(rnd() * 90));
          o.reason.push(status === 'refunded' ? 'Customer complaint' : status === 'voided' ? 'Entered by mistake' : null);
        }
      }
    });

    // "day|HH:MM:SS" is a wall-clock time that many days ago in the business's time zone.
    const { rows: orderIds } = await sql<{ id: string }>`
      WITH input AS (
        SELECT * FROM unnest(${o.branch}::uuid[], ${o.local}::text[], ${o.status}::text[], ${o.total}::bigint[], ${o.refundAfter}::int[], ${o.reason}::text[])
          WITH ORDINALITY AS t(branch_id, local, status, total, refund_after, reason, n)
      ), timed AS (
        SELECT input.*,
               ((((now() AT TIME ZONE ${tenant.timezone})::date - split_part(local, '|', 1)::int) + split_part(local, '|', 2)::time)
                 AT TIME ZONE ${tenant.timezone}) + make_interval(secs => n / 1e6) AS at
          FROM input
      )
      INSERT INTO orders (tenant_id, branch_id, status, currency, total_minor, created_by, created_at, paid_at, refunded_at, refund_reason, refunded_by, voided_at, void_reason, voided_by)
      SELECT ${tenantId}::uuid, branch_id, status, ${tenant.currency}, total, ${cashier?.user_id ?? null}::uuid, least(at, now()) - interval '4 minutes',
             CASE WHEN status IN ('paid', 'refunded') THEN least(at, now()) END,
             CASE WHEN status = 'refunded' THEN least(at, now()) + make_interval(mins => refund_after) END,
             CASE WHEN status = 'refunded' THEN reason END, NULL,
             CASE WHEN status = 'voided' THEN least(at, now()) END,
             CASE WHEN status = 'voided' THEN reason END, NULL
        FROM timed ORDER BY n
      RETURNING id`.execute(trx);
    const ids = orderIds.map((r) => r.id);
    await sql`
      INSERT INTO order_lines (tenant_id, order_id, line_no, branch_id, menu_item_id, name, unit_price_minor, quantity, line_total_minor, paid_at, refunded_at)
      SELECT ${tenantId}::uuid, ord.id, line_no, ord.branch_id, item, name, price, quantity, price * quantity, ord.paid_at, ord.refunded_at
        FROM unnest(${l.order}::int[], ${l.lineNo}::int[], ${l.item}::uuid[], ${l.name}::text[], ${l.price}::int[], ${l.quantity}::int[])
          AS t(o, line_no, item, name, price, quantity)
        JOIN orders ord ON ord.tenant_id = ${tenantId} AND ord.id = (${ids}::uuid[])[o + 1]`.execute(trx);
    await sql`
      INSERT INTO payments (tenant_id, order_id, method, amount_minor, change_minor, created_by, created_at)
      SELECT tenant_id, id, CASE WHEN random() < 0.7 THEN 'card' ELSE 'cash' END, total_minor, 0, created_by, paid_at
        FROM orders WHERE tenant_id = ${tenantId} AND paid_at IS NOT NULL`.execute(trx);

    // The ledger: each paid order's recipes as sale movements, a delivery before each week
    // sized to that week's sales (a little short for some items, so the demo has low stock),
    // and on_hand_after as the running sum.
    await sql`
      WITH sales AS (
        SELECT o.branch_id, r.inventory_item_id, o.id AS order_id, o.paid_at AS at, -sum(r.quantity * l.quantity) AS delta
          FROM orders o
          JOIN order_lines l ON l.tenant_id = o.tenant_id AND l.order_id = o.id
          JOIN recipe_lines r ON r.tenant_id = l.tenant_id AND r.menu_item_id = l.menu_item_id
         WHERE o.tenant_id = ${tenantId} AND o.paid_at IS NOT NULL
         GROUP BY o.branch_id, r.inventory_item_id, o.id, o.paid_at
      ), weeks AS (
        SELECT branch_id, inventory_item_id, floor(extract(epoch FROM now() - at) / (7 * 86400))::int AS weeks_ago, -sum(delta) AS used
          FROM sales GROUP BY 1, 2, 3
      ), deliveries AS (
        SELECT branch_id, inventory_item_id, NULL::uuid AS order_id,
               date_trunc('day', now() - make_interval(days => 7 * weeks_ago + 7)) + interval '6 hours' AS at,
               ceil(used * CASE WHEN weeks_ago = 0 AND abs(hashtext(inventory_item_id::text || branch_id::text)) % 3 = 0 THEN 1.02 ELSE 1.35 END) AS delta
          FROM weeks
      ), ledger AS (
        SELECT 'sale' AS kind, * FROM sales
        UNION ALL
        SELECT 'delivery', branch_id, inventory_item_id, order_id, at, delta FROM deliveries
      ), levels AS (
        INSERT INTO stock_levels (tenant_id, inventory_item_id, branch_id, on_hand)
        SELECT ${tenantId}::uuid, inventory_item_id, branch_id, sum(delta) FROM ledger GROUP BY 1, 2, 3
      )
      INSERT INTO stock_movements (tenant_id, inventory_item_id, branch_id, kind, quantity_delta, on_hand_after, reason, order_id, created_by, created_at)
      SELECT ${tenantId}::uuid, inventory_item_id, branch_id, kind, delta,
             sum(delta) OVER (PARTITION BY inventory_item_id, branch_id ORDER BY at, kind ROWS UNBOUNDED PRECEDING),
             CASE WHEN kind = 'delivery' THEN 'Weekly delivery' END, order_id, NULL, at
        FROM ledger`.execute(trx);
    await sql`
      UPDATE stock_levels s SET below_reorder = true
        FROM inventory_items i
       WHERE s.tenant_id = ${tenantId} AND i.tenant_id = s.tenant_id AND i.id = s.inventory_item_id AND s.on_hand < i.reorder_level`.execute(trx);
    await sql`
      INSERT INTO low_stock_alerts (tenant_id, inventory_item_id, branch_id, movement_id, on_hand, reorder_level, created_at)
      SELECT DISTINCT ON (m.inventory_item_id, m.branch_id) ${tenantId}::uuid, m.inventory_item_id, m.branch_id, m.id, m.on_hand_after, i.reorder_level, m.created_at
        FROM stock_levels s
        JOIN inventory_items i ON i.tenant_id = s.tenant_id AND i.id = s.inventory_item_id
        JOIN stock_movements m ON m.tenant_id = s.tenant_id AND m.inventory_item_id = s.inventory_item_id AND m.branch_id = s.branch_id
       WHERE s.tenant_id = ${tenantId} AND s.below_reorder
       ORDER BY m.inventory_item_id, m.branch_id, m.created_at DESC`.execute(trx);
  });
}
