/**
 * The load driver of bench/orders.bench.ts, run in its own process so it does not share the
 * event loop of the server it measures. A "sale" is what a till does: open an order of two
 * lines, then pay it by card. `concurrency` workers sell back to back for `seconds`.
 *
 * Modes:
 * - api / api-keyed: POST /v1/orders then POST /v1/orders/:id/pay over HTTP (keyed: each with
 *   an Idempotency-Key, as a till that retries safely sends them);
 * - service: the same use cases called in-process (no HTTP, no token check);
 * - sql: the statements those use cases send, written out with pg, in the same transactions,
 *   as the runtime role under row-level security: the floor any implementation pays.
 */
import http from 'node:http';
import crypto from 'node:crypto';
import pg from 'pg';
import { pipeline } from '../src/platform/db/pipeline.ts';

export interface TillConfig {
  mode: 'api' | 'api-keyed' | 'service' | 'sql';
  seconds: number;
  concurrency: number;
  baseUrl: string;
  ownerUrl: string;
  runtimeUrl: string;
  queuePrefix: string;
  tenantId: string;
  currency: string;
  tills: { token: string; userId: string; branchId: string }[];
  menu: { id: string; priceMinor: number }[];
}

export interface TillResult {
  sales: number;
  salesPerSecond: number;
  p50: number;
  p99: number;
  errors: number;
  firstError: string | null;
}

type Sell = (till: TillConfig['tills'][number], lines: { menuItemId: string; quantity: number }[]) => Promise<void>;

const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });

function request(base: URL, method: string, path: string, body: unknown, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const payload = JSON.stringify(body);
    const req = http.request(
      { host: base.hostname, port: base.port, method, path, agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload), ...headers } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

function apiSeller(cfg: TillConfig, keyed: boolean): Sell {
  const base = new URL(cfg.baseUrl);
  return async (till, lines) => {
    const auth = { authorization: `Bearer ${till.token}` };
    const key = (): Record<string, string> => (keyed ? { 'idempotency-key': crypto.randomUUID() } : {});
    const placed = await request(base, 'POST', '/v1/orders', { branchId: till.branchId, lines }, { ...auth, ...key() });
    if (placed.status !== 201) throw new Error(`place: ${placed.status} ${placed.body}`);
    const order = JSON.parse(placed.body).order as { id: string; totalMinor: number };
    const paid = await request(base, 'POST', `/v1/orders/${order.id}/pay`, { method: 'card', amountMinor: order.totalMinor }, { ...auth, ...key() });
    if (paid.status !== 200) throw new Error(`pay: ${paid.status} ${paid.body}`);
  };
}

async function serviceSeller(cfg: TillConfig): Promise<{ sell: Sell; close(): Promise<void> }> {
  const { loadConfig } = await import('../src/config.ts');
  const { createLogger } = await import('../src/platform/log.ts');
  const { startPlatform } = await import('../src/platform/bootstrap.ts');
  const { identityService } = await import('../src/modules/identity/index.ts');
  const { ordersService } = await import('../src/modules/orders/index.ts');
  const config = loadConfig({ ...process.env, DATABASE_URL: cfg.ownerUrl, BRIGADE_QUEUE_PREFIX: cfg.queuePrefix, LOG_LEVEL: 'silent' });
  const platform = await startPlatform(config, createLogger('silent'), { migrate: false });
  const identity = identityService(platform);
  const orders = ordersService(platform);
  const scopes = new Map<string, NonNullable<Awaited<ReturnType<typeof identity.authenticate>>>>();
  for (const till of cfg.tills) {
    const scope = await identity.authenticate(till.token, { requestId: null, ip: null, userAgent: null });
    if (!scope) throw new Error('till token did not authenticate');
    scopes.set(till.token, scope);
  }
  return {
    sell: async (till, lines) => {
      const scope = scopes.get(till.token)!;
      const order = await orders.placeOrder(scope, { branchId: till.branchId, lines });
      await orders.payOrder(scope, order.id, { method: 'card', amountMinor: order.totalMinor });
    },
    close: () => platform.close(),
  };
}

const SET_CONTEXT = `SELECT set_config('app.tenant_id', $1, true), set_config('app.user_id', $2, true)`;

/** The statements of placeOrder and payOrder, as the repositories write them. */
function sqlSeller(cfg: TillConfig): { sell: Sell; close(): Promise<void> } {
  const pool = new pg.Pool({ connectionString: cfg.runtimeUrl, max: 20 });
  const t = cfg.tenantId;

  async function transaction<T>(userId: string, first: { text: string; values: unknown[] }, rest: (c: pg.PoolClient, first: pg.QueryResult) => Promise<T>): Promise<T> {
    const c = await pool.connect();
    try {
      const results = await pipeline(c, [{ text: 'BEGIN' }, { text: SET_CONTEXT, values: [t, userId] }, first]);
      try {
        const out = await rest(c, results[2]!);
        await c.query('COMMIT');
        return out;
      } catch (err) {
        await c.query('ROLLBACK');
        throw err;
      }
    } finally {
      c.release();
    }
  }

  const sell: Sell = async (till, lines) => {
    const ids = [...new Set(lines.map((l) => l.menuItemId))];
    const order = await transaction(
      till.userId,
      { text: 'SELECT * FROM branches WHERE tenant_id = $1 AND id = $2', values: [t, till.branchId] },
      async (c, branch) => {
        if (branch.rows.length !== 1) throw new Error('no branch');
        const items = await c.query(
          `SELECT m.id, m.name, m.price_minor, m.archived_at, coalesce(a.available, true) AS available
             FROM menu_items m LEFT JOIN menu_item_availability a ON a.tenant_id = m.tenant_id AND a.menu_item_id = m.id AND a.branch_id = $1
            WHERE m.tenant_id = $2 AND m.id = ANY($3::uuid[])`,
          [till.branchId, t, ids],
        );
        const byId = new Map(items.rows.map((r) => [r.id as string, r]));
        const priced = lines.map((l) => ({ ...l, name: byId.get(l.menuItemId)!.name as string, price: byId.get(l.menuItemId)!.price_minor as number }));
        const total = priced.reduce((s, l) => s + l.price * l.quantity, 0);
        const o = await c.query(
          `INSERT INTO orders (tenant_id, branch_id, currency, total_minor, created_by) VALUES ($1, $2, $3, $4, $5) RETURNING *`,
          [t, till.branchId, cfg.currency, total, till.userId],
        );
        const id = o.rows[0].id as string;
        const values: unknown[] = [];
        const tuples = priced.map((l, i) => {
          values.push(t, id, i + 1, till.branchId, l.menuItemId, l.name, l.price, l.quantity, l.price * l.quantity);
          const b = i * 9;
          return `($${b + 1}, $${b + 2}, $${b + 3}, $${b + 4}, $${b + 5}, $${b + 6}, $${b + 7}, $${b + 8}, $${b + 9})`;
        });
        await c.query(
          `INSERT INTO order_lines (tenant_id, order_id, line_no, branch_id, menu_item_id, name, unit_price_minor, quantity, line_total_minor) VALUES ${tuples.join(', ')} RETURNING *`,
          values,
        );
        return { id, total };
      },
    );
    await transaction(
      till.userId,
      {
        text: `SELECT o.*, coalesce((t.settings ->> 'allowNegativeStock')::boolean, false) AS allow_negative_stock
                 FROM orders o JOIN tenants t ON t.id = o.tenant_id WHERE o.tenant_id = $1 AND o.id = $2 FOR UPDATE OF o`,
        values: [t, order.id],
      },
      async (c, locked) => {
        if (locked.rows[0]?.status !== 'open') throw new Error('not open');
        const orderLines = await c.query(`SELECT * FROM order_lines WHERE tenant_id = $1 AND order_id IN ($2) ORDER BY order_id, line_no`, [t, order.id]);
        const menuIds = [...new Set(orderLines.rows.map((l) => l.menu_item_id as string))];
        const recipes = await c.query(
          `SELECT menu_item_id, inventory_item_id, quantity FROM recipe_lines WHERE tenant_id = $1 AND menu_item_id IN (${menuIds.map((_, i) => `$${i + 2}`).join(', ')})
            ORDER BY menu_item_id, inventory_item_id`,
          [t, ...menuIds],
        );
        const need = new Map<string, number>();
        for (const l of orderLines.rows) {
          for (const r of recipes.rows.filter((x) => x.menu_item_id === l.menu_item_id)) {
            need.set(r.inventory_item_id, (need.get(r.inventory_item_id) ?? 0) + Math.round(Number(r.quantity) * 1000) * l.quantity);
          }
        }
        const paid = await c.query(
          `WITH paid AS (
             UPDATE orders SET status = 'paid', paid_at = now() WHERE tenant_id = $1 AND id = $2 AND status = 'open' RETURNING *
           ), payment AS (
             INSERT INTO payments (tenant_id, order_id, method, amount_minor, change_minor, created_by)
             SELECT tenant_id, id, 'card', $3, 0, $4 FROM paid RETURNING *
           )
           SELECT paid.*, payment.id AS payment_id FROM paid, payment`,
          [t, order.id, order.total, till.userId],
        );
        if (paid.rows.length !== 1) throw new Error('not paid');
        const items = [...need.keys()].sort();
        await c.query(
          `INSERT INTO stock_levels (tenant_id, inventory_item_id, branch_id) SELECT $1::uuid, item, $2::uuid FROM unnest($3::uuid[]) AS item ON CONFLICT DO NOTHING`,
          [t, till.branchId, items],
        );
        const levels = await c.query(
          `SELECT s.inventory_item_id, s.on_hand, s.below_reorder, i.reorder_level, i.name, i.unit
             FROM stock_levels s JOIN inventory_items i ON i.tenant_id = s.tenant_id AND i.id = s.inventory_item_id
            WHERE s.tenant_id = $1 AND s.branch_id = $2 AND s.inventory_item_id = ANY($3::uuid[])
            ORDER BY s.inventory_item_id FOR UPDATE OF s`,
          [t, till.branchId, items],
        );
        const deltas = levels.rows.map((l) => -(need.get(l.inventory_item_id)! / 1000));
        const afters = levels.rows.map((l, i) => Number(l.on_hand) + deltas[i]!);
        const below = levels.rows.map((l, i) => afters[i]! < Number(l.reorder_level));
        await c.query(
          `WITH input AS (
             SELECT * FROM unnest($3::uuid[], $4::numeric[], $5::numeric[], $6::boolean[]) AS t(item, delta, after, below)
           ), levels AS (
             UPDATE stock_levels s SET on_hand = input.after, below_reorder = input.below, updated_at = now()
               FROM input WHERE s.tenant_id = $1 AND s.branch_id = $2 AND s.inventory_item_id = input.item
           )
           INSERT INTO stock_movements (tenant_id, inventory_item_id, branch_id, kind, quantity_delta, on_hand_after, reason, order_id, created_by)
           SELECT $1, item, $2, 'sale', delta, after, NULL, $7, $8 FROM input RETURNING *`,
          [t, till.branchId, levels.rows.map((l) => l.inventory_item_id), deltas.map((d) => d.toFixed(3)), afters.map((a) => a.toFixed(3)), below, order.id, till.userId],
        );
      },
    );
  };
  return { sell, close: () => pool.end() };
}

async function drive(cfg: TillConfig, sell: Sell): Promise<TillResult> {
  const latencies: number[] = [];
  let errors = 0;
  let firstError: string | null = null;
  const deadline = performance.now() + cfg.seconds * 1000;
  let started = 0;
  const worker = async (w: number) => {
    const till = cfg.tills[w % cfg.tills.length]!;
    while (performance.now() < deadline) {
      const n = started++;
      const a = cfg.menu[n % cfg.menu.length]!;
      const b = cfg.menu[(n + 1) % cfg.menu.length]!;
      const t0 = performance.now();
      try {
        await sell(till, [
          { menuItemId: a.id, quantity: 1 },
          { menuItemId: b.id, quantity: 2 },
        ]);
        latencies.push(performance.now() - t0);
      } catch (err) {
        errors++;
        firstError ??= (err as Error).message;
      }
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: cfg.concurrency }, (_, w) => worker(w)));
  const elapsed = (performance.now() - t0) / 1000;
  latencies.sort((x, y) => x - y);
  const at = (q: number) => Math.round((latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0) * 10) / 10;
  return { sales: latencies.length, salesPerSecond: latencies.length / elapsed, p50: at(0.5), p99: at(0.99), errors, firstError };
}

const cfg = JSON.parse(process.env.TILL_CONFIG!) as TillConfig;
let close = async () => {};
let sell: Sell;
if (cfg.mode === 'api' || cfg.mode === 'api-keyed') sell = apiSeller(cfg, cfg.mode === 'api-keyed');
else if (cfg.mode === 'service') ({ sell, close } = await serviceSeller(cfg));
else ({ sell, close } = sqlSeller(cfg));
const result = await drive(cfg, sell);
await close();
agent.destroy();
process.stdout.write(JSON.stringify(result));
