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

/**
 * The statements of placeOrder and payOrder, as the repositories write them and in the same
 * round trips (pipelined, named statements), without Brigade's code around them.
 */
function sqlSeller(cfg: TillConfig): { sell: Sell; close(): Promise<void> } {
  const pool = new pg.Pool({ connectionString: cfg.runtimeUrl, max: 20 });
  const t = cfg.tenantId;
  const send = (c: pg.PoolClient, statements: { text: string; values?: unknown[] }[]) => pipeline(c, statements, true);

  async function transaction<T>(userId: string, first: { text: string; values: unknown[] }[], rest: (c: pg.PoolClient, first: pg.QueryResult[]) => Promise<T>): Promise<T> {
    const c = await pool.connect();
    try {
      const results = await send(c, [{ text: 'BEGIN' }, { text: SET_CONTEXT, values: [t, userId] }, ...first]);
      try {
        return await rest(c, results.slice(2));
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
      [
        { text: 'SELECT * FROM branches WHERE tenant_id = $1 AND id = $2', values: [t, till.branchId] },
        { text: 'SELECT plan, current_period_start, current_period_end FROM subscriptions WHERE tenant_id = $1', values: [t] },
        {
          text: `SELECT m.id, m.name, m.price_minor, m.archived_at, coalesce(a.available, true) AS available
                   FROM menu_items m LEFT JOIN menu_item_availability a ON a.tenant_id = m.tenant_id AND a.menu_item_id = m.id AND a.branch_id = $1
                  WHERE m.tenant_id = $2 AND m.id = ANY($3::uuid[])`,
          values: [till.branchId, t, ids],
        },
      ],
      async (c, [branch, , items]) => {
        if (branch!.rows.length !== 1) throw new Error('no branch');
        const byId = new Map(items!.rows.map((r) => [r.id as string, r]));
        const priced = lines.map((l) => ({ ...l, name: byId.get(l.menuItemId)!.name as string, price: byId.get(l.menuItemId)!.price_minor as number }));
        const total = priced.reduce((s, l) => s + l.price * l.quantity, 0);
        const [o] = await send(c, [
          {
            text: `WITH o AS (
                     INSERT INTO orders (tenant_id, branch_id, currency, total_minor, created_by) VALUES ($1, $2, $3, $4, $5) RETURNING *
                   ), l AS (
                     INSERT INTO order_lines (tenant_id, order_id, line_no, branch_id, menu_item_id, name, unit_price_minor, quantity, line_total_minor)
                     SELECT o.tenant_id, o.id, x.line_no, o.branch_id, x.menu_item_id, x.name, x.unit_price_minor, x.quantity, x.unit_price_minor::bigint * x.quantity
                       FROM o, unnest($6::int[], $7::uuid[], $8::text[], $9::int[], $10::int[]) AS x(line_no, menu_item_id, name, unit_price_minor, quantity)
                     RETURNING line_no, menu_item_id, name, unit_price_minor, quantity, line_total_minor
                   )
                   SELECT o.*, l.line_no, l.menu_item_id, l.name AS line_name, l.unit_price_minor, l.quantity, l.line_total_minor FROM o, l ORDER BY l.line_no`,
            values: [t, till.branchId, cfg.currency, total, till.userId, priced.map((_, i) => i + 1), priced.map((l) => l.menuItemId), priced.map((l) => l.name), priced.map((l) => l.price), priced.map((l) => l.quantity)],
          },
          { text: 'COMMIT' },
        ]);
        return { id: o!.rows[0].id as string, total };
      },
    );
    await transaction(
      till.userId,
      [
        {
          text: `SELECT o.*, coalesce((t.settings ->> 'allowNegativeStock')::boolean, false) AS allow_negative_stock
                   FROM orders o JOIN tenants t ON t.id = o.tenant_id WHERE o.tenant_id = $1 AND o.id = $2 FOR UPDATE OF o`,
          values: [t, order.id],
        },
        { text: `SELECT * FROM order_lines WHERE tenant_id = $1 AND order_id IN ($2) ORDER BY order_id, line_no`, values: [t, order.id] },
        {
          text: `SELECT menu_item_id, inventory_item_id, quantity FROM recipe_lines WHERE tenant_id = $1
                    AND menu_item_id IN (SELECT menu_item_id FROM order_lines WHERE tenant_id = $2 AND order_id = $3) ORDER BY menu_item_id, inventory_item_id`,
          values: [t, t, order.id],
        },
      ],
      async (c, [locked, orderLines, recipes]) => {
        if (locked!.rows[0]?.status !== 'open') throw new Error('not open');
        const need = new Map<string, number>();
        for (const l of orderLines!.rows) {
          for (const r of recipes!.rows.filter((x) => x.menu_item_id === l.menu_item_id)) {
            need.set(r.inventory_item_id, (need.get(r.inventory_item_id) ?? 0) + Math.round(Number(r.quantity) * 1000) * l.quantity);
          }
        }
        const items = [...need.keys()].sort();
        const [paid, , levels] = await send(c, [
          {
            text: `WITH paid AS (
                     UPDATE orders SET status = 'paid', paid_at = now() WHERE tenant_id = $1 AND id = $2 AND status = 'open' RETURNING *
                   ), lines AS (
                     UPDATE order_lines l SET paid_at = paid.paid_at FROM paid WHERE l.tenant_id = paid.tenant_id AND l.order_id = paid.id
                   ), payment AS (
                     INSERT INTO payments (tenant_id, order_id, method, amount_minor, change_minor, created_by)
                     SELECT tenant_id, id, 'card', $3, 0, $4 FROM paid RETURNING *
                   )
                   SELECT paid.*, payment.id AS payment_id FROM paid, payment`,
            values: [t, order.id, order.total, till.userId],
          },
          {
            text: `INSERT INTO stock_levels (tenant_id, inventory_item_id, branch_id) SELECT $1::uuid, item, $2::uuid FROM unnest($3::uuid[]) AS item ON CONFLICT DO NOTHING`,
            values: [t, till.branchId, items],
          },
          {
            text: `SELECT s.inventory_item_id, s.on_hand, s.below_reorder, i.reorder_level, i.name, i.unit
                     FROM stock_levels s JOIN inventory_items i ON i.tenant_id = s.tenant_id AND i.id = s.inventory_item_id
                    WHERE s.tenant_id = $1 AND s.branch_id = $2 AND s.inventory_item_id = ANY($3::uuid[])
                    ORDER BY s.inventory_item_id FOR UPDATE OF s`,
            values: [t, till.branchId, items],
          },
        ]);
        if (paid!.rows.length !== 1) throw new Error('not paid');
        const deltas = levels!.rows.map((l) => -(need.get(l.inventory_item_id)! / 1000));
        const afters = levels!.rows.map((l, i) => Number(l.on_hand) + deltas[i]!);
        const below = levels!.rows.map((l, i) => afters[i]! < Number(l.reorder_level));
        await send(c, [
          {
            text: `WITH input AS (
                     SELECT * FROM unnest($3::uuid[], $4::numeric[], $5::numeric[], $6::boolean[]) AS t(item, delta, after, below)
                   ), levels AS (
                     UPDATE stock_levels s SET on_hand = input.after, below_reorder = input.below, updated_at = now()
                       FROM input WHERE s.tenant_id = $1 AND s.branch_id = $2 AND s.inventory_item_id = input.item
                   )
                   INSERT INTO stock_movements (tenant_id, inventory_item_id, branch_id, kind, quantity_delta, on_hand_after, reason, order_id, created_by)
                   SELECT $1, item, $2, 'sale', delta, after, NULL, $7, $8 FROM input RETURNING *`,
            values: [t, till.branchId, levels!.rows.map((l) => l.inventory_item_id), deltas.map((d) => d.toFixed(3)), afters.map((a) => a.toFixed(3)), below, order.id, till.userId],
          },
          { text: 'COMMIT' },
        ]);
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
