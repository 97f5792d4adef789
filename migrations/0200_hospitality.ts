import { sql, type Kysely } from 'kysely';

/*
 * Frozen in time: never import application code here.
 *
 * The hospitality domain: menu, inventory and stock ledger, orders and payments.
 *
 * Quantities of stock are numeric(14,3): exact decimals with three places (0.125 kg, 0.3 l,
 * 1 piece), summed by PostgreSQL without floating-point drift. Money is integer minor units:
 * prices fit an integer, order totals a bigint.
 *
 * Every table is keyed by (tenant_id, ...) and every foreign key includes tenant_id, so no row
 * can point into another tenant; brigade_protect() forces row-level security on each.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    CREATE UNIQUE INDEX branches_active_name ON branches (tenant_id, lower(name)) WHERE archived_at IS NULL;
    CREATE INDEX branches_by_time ON branches (tenant_id, created_at, id);

    CREATE TABLE inventory_items (
      tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
      id uuid NOT NULL DEFAULT gen_random_uuid(),
      name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
      unit text NOT NULL CHECK (length(unit) BETWEEN 1 AND 20),
      reorder_level numeric(14,3) NOT NULL DEFAULT 0 CHECK (reorder_level >= 0),
      archived_at timestamptz,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (tenant_id, id)
    );
    CREATE UNIQUE INDEX inventory_items_active_name ON inventory_items (tenant_id, lower(name)) WHERE archived_at IS NULL;
    CREATE INDEX inventory_items_by_time ON inventory_items (tenant_id, created_at, id);
    SELECT brigade_protect('inventory_items');

    CREATE TABLE menu_items (
      tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
      id uuid NOT NULL DEFAULT gen_random_uuid(),
      name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
      category text CHECK (length(category) BETWEEN 1 AND 100),
      price_minor integer NOT NULL CHECK (price_minor BETWEEN 0 AND 10000000),
      archived_at timestamptz,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (tenant_id, id)
    );
    CREATE UNIQUE INDEX menu_items_active_name ON menu_items (tenant_id, lower(name)) WHERE archived_at IS NULL;
    CREATE INDEX menu_items_by_time ON menu_items (tenant_id, created_at, id);
    SELECT brigade_protect('menu_items');

    -- Exceptions only: a menu item is available in every branch unless a row says otherwise.
    CREATE TABLE menu_item_availability (
      tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
      menu_item_id uuid NOT NULL,
      branch_id uuid NOT NULL,
      available boolean NOT NULL,
      PRIMARY KEY (tenant_id, menu_item_id, branch_id),
      FOREIGN KEY (tenant_id, menu_item_id) REFERENCES menu_items (tenant_id, id) ON DELETE CASCADE,
      FOREIGN KEY (tenant_id, branch_id) REFERENCES branches (tenant_id, id) ON DELETE CASCADE
    );
    SELECT brigade_protect('menu_item_availability');

    CREATE TABLE recipe_lines (
      tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
      menu_item_id uuid NOT NULL,
      inventory_item_id uuid NOT NULL,
      quantity numeric(14,3) NOT NULL CHECK (quantity > 0),
      PRIMARY KEY (tenant_id, menu_item_id, inventory_item_id),
      FOREIGN KEY (tenant_id, menu_item_id) REFERENCES menu_items (tenant_id, id) ON DELETE CASCADE,
      FOREIGN KEY (tenant_id, inventory_item_id) REFERENCES inventory_items (tenant_id, id)
    );
    CREATE INDEX recipe_lines_by_inventory_item ON recipe_lines (tenant_id, inventory_item_id);
    SELECT brigade_protect('recipe_lines');

    -- On hand per branch. Kept equal to the sum of the item's movements in that branch: both are
    -- written in one transaction under this row's lock. below_reorder remembers that the level
    -- is already under the reorder level, so a crossing raises one alert, not one per sale.
    CREATE TABLE stock_levels (
      tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
      inventory_item_id uuid NOT NULL,
      branch_id uuid NOT NULL,
      on_hand numeric(14,3) NOT NULL DEFAULT 0,
      below_reorder boolean NOT NULL DEFAULT false,
      updated_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (tenant_id, inventory_item_id, branch_id),
      FOREIGN KEY (tenant_id, inventory_item_id) REFERENCES inventory_items (tenant_id, id),
      -- A branch without history may be deleted: its untouched levels go with it. The ledger's
      -- key on this table keeps a branch with movements from being deleted.
      FOREIGN KEY (tenant_id, branch_id) REFERENCES branches (tenant_id, id) ON DELETE CASCADE
    );
    CREATE INDEX stock_levels_by_branch ON stock_levels (tenant_id, branch_id);
    SELECT brigade_protect('stock_levels');

    CREATE TABLE orders (
      tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
      id uuid NOT NULL DEFAULT gen_random_uuid(),
      branch_id uuid NOT NULL,
      status text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'paid', 'refunded', 'voided')),
      currency char(3) NOT NULL,
      total_minor bigint NOT NULL CHECK (total_minor >= 0),
      created_by uuid,
      created_at timestamptz NOT NULL DEFAULT now(),
      paid_at timestamptz,
      refunded_at timestamptz,
      refunded_by uuid,
      refund_reason text,
      voided_at timestamptz,
      voided_by uuid,
      void_reason text,
      PRIMARY KEY (tenant_id, id),
      FOREIGN KEY (tenant_id, branch_id) REFERENCES branches (tenant_id, id),
      FOREIGN KEY (tenant_id, created_by) REFERENCES users (tenant_id, id),
      CHECK ((status IN ('paid', 'refunded')) = (paid_at IS NOT NULL)),
      CHECK ((status = 'refunded') = (refunded_at IS NOT NULL)),
      CHECK ((status = 'voided') = (voided_at IS NOT NULL))
    );
    CREATE INDEX orders_by_time ON orders (tenant_id, created_at DESC, id DESC);
    CREATE INDEX orders_by_branch_time ON orders (tenant_id, branch_id, created_at DESC, id DESC);
    -- The sales report reads these two alone (index-only scans): sales by payment time, refunds by
    -- refund time, each with what the grouping needs.
    CREATE INDEX orders_paid_by_time ON orders (tenant_id, paid_at) INCLUDE (branch_id, total_minor) WHERE paid_at IS NOT NULL;
    CREATE INDEX orders_refunded_by_time ON orders (tenant_id, refunded_at) INCLUDE (branch_id, total_minor) WHERE refunded_at IS NOT NULL;
    SELECT brigade_protect('orders');

    -- Lines keep the name and price the item had when ordered: a later price change leaves them
    -- alone. They also carry their order's branch and its paid/refunded times (written in the
    -- same statement as the order's), so the sales report by item reads one index range of the
    -- lines instead of joining thousands of orders to lines scattered across the table.
    CREATE TABLE order_lines (
      tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
      order_id uuid NOT NULL,
      line_no smallint NOT NULL CHECK (line_no >= 1),
      branch_id uuid NOT NULL,
      menu_item_id uuid NOT NULL,
      name text NOT NULL,
      unit_price_minor integer NOT NULL CHECK (unit_price_minor >= 0),
      quantity integer NOT NULL CHECK (quantity BETWEEN 1 AND 999),
      line_total_minor bigint NOT NULL CHECK (line_total_minor >= 0),
      paid_at timestamptz,
      refunded_at timestamptz,
      PRIMARY KEY (tenant_id, order_id, line_no),
      FOREIGN KEY (tenant_id, order_id) REFERENCES orders (tenant_id, id) ON DELETE CASCADE,
      FOREIGN KEY (tenant_id, branch_id) REFERENCES branches (tenant_id, id),
      FOREIGN KEY (tenant_id, menu_item_id) REFERENCES menu_items (tenant_id, id)
    );
    CREATE INDEX order_lines_paid_by_time ON order_lines (tenant_id, paid_at)
      INCLUDE (branch_id, menu_item_id, order_id, quantity, line_total_minor) WHERE paid_at IS NOT NULL;
    CREATE INDEX order_lines_refunded_by_time ON order_lines (tenant_id, refunded_at)
      INCLUDE (branch_id, menu_item_id, quantity, line_total_minor) WHERE refunded_at IS NOT NULL;
    SELECT brigade_protect('order_lines');

    -- One payment per order: the unique key is the last guard against paying twice.
    CREATE TABLE payments (
      tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
      id uuid NOT NULL DEFAULT gen_random_uuid(),
      order_id uuid NOT NULL,
      method text NOT NULL CHECK (method IN ('cash', 'card')),
      amount_minor bigint NOT NULL CHECK (amount_minor >= 0),
      change_minor bigint NOT NULL DEFAULT 0 CHECK (change_minor >= 0),
      created_by uuid,
      created_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (tenant_id, id),
      UNIQUE (tenant_id, order_id),
      FOREIGN KEY (tenant_id, order_id) REFERENCES orders (tenant_id, id) ON DELETE CASCADE,
      FOREIGN KEY (tenant_id, created_by) REFERENCES users (tenant_id, id),
      CHECK (method = 'cash' OR change_minor = 0)
    );
    SELECT brigade_protect('payments');

    -- The stock ledger: append-only, one row per change of one item in one branch.
    CREATE TABLE stock_movements (
      tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
      id uuid NOT NULL DEFAULT gen_random_uuid(),
      inventory_item_id uuid NOT NULL,
      branch_id uuid NOT NULL,
      kind text NOT NULL CHECK (kind IN ('delivery', 'waste', 'count', 'adjustment', 'sale', 'refund')),
      quantity_delta numeric(14,3) NOT NULL,
      on_hand_after numeric(14,3) NOT NULL,
      reason text,
      order_id uuid,
      created_by uuid,
      created_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (tenant_id, id),
      FOREIGN KEY (tenant_id, inventory_item_id, branch_id) REFERENCES stock_levels (tenant_id, inventory_item_id, branch_id),
      FOREIGN KEY (tenant_id, order_id) REFERENCES orders (tenant_id, id),
      FOREIGN KEY (tenant_id, created_by) REFERENCES users (tenant_id, id)
    );
    CREATE INDEX stock_movements_by_item ON stock_movements (tenant_id, inventory_item_id, created_at DESC, id DESC);
    CREATE INDEX stock_movements_by_order ON stock_movements (tenant_id, order_id) WHERE order_id IS NOT NULL;
    SELECT brigade_protect('stock_movements');
    DO $$ BEGIN
      EXECUTE format('REVOKE UPDATE, DELETE, TRUNCATE ON stock_movements FROM %I', brigade_runtime_role());
    END $$;

    -- One row per crossing below the reorder level; the mail.low_stock job is written beside it.
    CREATE TABLE low_stock_alerts (
      tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
      id uuid NOT NULL DEFAULT gen_random_uuid(),
      inventory_item_id uuid NOT NULL,
      branch_id uuid NOT NULL,
      movement_id uuid NOT NULL,
      on_hand numeric(14,3) NOT NULL,
      reorder_level numeric(14,3) NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (tenant_id, id),
      FOREIGN KEY (tenant_id, inventory_item_id, branch_id) REFERENCES stock_levels (tenant_id, inventory_item_id, branch_id),
      FOREIGN KEY (tenant_id, movement_id) REFERENCES stock_movements (tenant_id, id)
    );
    CREATE INDEX low_stock_alerts_by_time ON low_stock_alerts (tenant_id, created_at DESC, id DESC);
    SELECT brigade_protect('low_stock_alerts');
  `.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`
    DROP TABLE low_stock_alerts, stock_movements, payments, order_lines, orders, stock_levels,
      recipe_lines, menu_item_availability, menu_items, inventory_items;
    DROP INDEX branches_active_name, branches_by_time;
  `.execute(db);
}
