import { sql, type Kysely } from 'kysely';

/*
 * Frozen in time: never import application code here.
 *
 * Billing. Tenant tables (RLS through brigade_protect): the tenant's subscription as Brigade
 * holds it (one row per tenant), its status history, mirrored invoices and the notices sent
 * about it. Platform tables (no runtime grant, reached through withSystem): the webhook inbox,
 * reconciliation runs and divergences, and alerts for operators.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    CREATE TABLE subscriptions (
      tenant_id uuid PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
      plan text NOT NULL CHECK (plan ~ '^[a-z][a-z0-9_]{1,39}$'),
      status text NOT NULL CHECK (status IN ('trialing', 'active', 'past_due', 'grace', 'suspended', 'canceled', 'expired')),
      status_changed_at timestamptz NOT NULL DEFAULT now(),
      trial_started_at timestamptz,
      trial_ends_at timestamptz,
      current_period_start timestamptz,
      current_period_end timestamptz,
      cancel_at_period_end boolean NOT NULL DEFAULT false,
      canceled_at timestamptz,
      ended_at timestamptz,
      -- Grace and past_due keep full access until then; afterwards the business is read-only.
      grace_ends_at timestamptz,
      retain_until timestamptz,
      converted_at timestamptz,
      payment_method jsonb,
      provider text,
      provider_customer_id text,
      provider_subscription_id text,
      provider_status text,
      provider_synced_at timestamptz,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE UNIQUE INDEX subscriptions_provider_customer ON subscriptions (provider_customer_id) WHERE provider_customer_id IS NOT NULL;
    CREATE INDEX subscriptions_provider_subscription ON subscriptions (provider_subscription_id) WHERE provider_subscription_id IS NOT NULL;
    CREATE INDEX subscriptions_by_status ON subscriptions (status, tenant_id);
    SELECT brigade_protect('subscriptions');

    CREATE TABLE subscription_transitions (
      tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
      id uuid NOT NULL DEFAULT gen_random_uuid(),
      from_status text,
      to_status text NOT NULL,
      reason text NOT NULL,
      source text NOT NULL CHECK (source IN ('signup', 'api', 'webhook', 'reconcile', 'lifecycle', 'operator', 'migration')),
      provider_event_id text,
      actor_id uuid,
      at timestamptz NOT NULL DEFAULT clock_timestamp(),
      PRIMARY KEY (tenant_id, id)
    );
    CREATE INDEX subscription_transitions_by_time ON subscription_transitions (tenant_id, at DESC);
    SELECT brigade_protect('subscription_transitions');
    DO $$ BEGIN
      EXECUTE format('REVOKE UPDATE, DELETE, TRUNCATE ON subscription_transitions FROM %I', brigade_runtime_role());
    END $$;

    CREATE TABLE billing_invoices (
      tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
      id uuid NOT NULL DEFAULT gen_random_uuid(),
      provider_invoice_id text NOT NULL,
      provider_subscription_id text,
      number text,
      status text NOT NULL,
      billing_reason text,
      currency char(3) NOT NULL,
      amount_due_minor bigint NOT NULL,
      amount_paid_minor bigint NOT NULL,
      attempt_count int NOT NULL DEFAULT 0,
      period_start timestamptz,
      period_end timestamptz,
      hosted_invoice_url text,
      invoice_pdf_url text,
      issued_at timestamptz NOT NULL,
      paid_at timestamptz,
      next_payment_attempt timestamptz,
      updated_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (tenant_id, id),
      UNIQUE (tenant_id, provider_invoice_id)
    );
    CREATE INDEX billing_invoices_by_time ON billing_invoices (tenant_id, issued_at DESC, id DESC);
    SELECT brigade_protect('billing_invoices');

    -- What the business was told, once each: the unique key makes every notice idempotent.
    CREATE TABLE billing_notices (
      tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
      id uuid NOT NULL DEFAULT gen_random_uuid(),
      kind text NOT NULL,
      key text NOT NULL,
      subject text NOT NULL,
      body text NOT NULL,
      data jsonb NOT NULL DEFAULT '{}',
      created_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (tenant_id, id),
      UNIQUE (tenant_id, key)
    );
    CREATE INDEX billing_notices_by_time ON billing_notices (tenant_id, created_at DESC);
    SELECT brigade_protect('billing_notices');

    -- Platform tables: the runtime role has no grant on them.
    CREATE TABLE billing_events (
      provider_event_id text PRIMARY KEY,
      provider text NOT NULL,
      type text NOT NULL,
      tenant_id uuid REFERENCES tenants (id) ON DELETE SET NULL,
      object_id text,
      provider_created_at timestamptz NOT NULL,
      payload jsonb NOT NULL,
      received_at timestamptz NOT NULL DEFAULT now(),
      via text NOT NULL DEFAULT 'webhook' CHECK (via IN ('webhook', 'catch_up')),
      outcome text NOT NULL DEFAULT 'pending' CHECK (outcome IN ('pending', 'applied', 'ignored', 'unmatched', 'failed')),
      processed_at timestamptz,
      attempts int NOT NULL DEFAULT 0,
      last_error text
    );
    CREATE INDEX billing_events_pending ON billing_events (received_at) WHERE outcome IN ('pending', 'failed');
    CREATE INDEX billing_events_by_tenant ON billing_events (tenant_id, provider_created_at DESC);

    CREATE TABLE billing_reconcile_runs (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      trigger text NOT NULL,
      tenant_id uuid,
      started_at timestamptz NOT NULL DEFAULT clock_timestamp(),
      finished_at timestamptz,
      tenants_checked int NOT NULL DEFAULT 0,
      divergences int NOT NULL DEFAULT 0,
      repaired int NOT NULL DEFAULT 0,
      events_caught_up int NOT NULL DEFAULT 0,
      events_retried int NOT NULL DEFAULT 0,
      errors int NOT NULL DEFAULT 0,
      error text
    );
    CREATE INDEX billing_reconcile_runs_by_time ON billing_reconcile_runs (started_at DESC);

    CREATE TABLE billing_divergences (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      run_id uuid NOT NULL REFERENCES billing_reconcile_runs (id) ON DELETE CASCADE,
      tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
      field text NOT NULL,
      local_value jsonb,
      provider_value jsonb,
      repaired boolean NOT NULL,
      note text,
      detected_at timestamptz NOT NULL DEFAULT clock_timestamp()
    );
    CREATE INDEX billing_divergences_by_time ON billing_divergences (detected_at DESC, id);
    CREATE INDEX billing_divergences_by_tenant ON billing_divergences (tenant_id, field, detected_at DESC);

    CREATE TABLE billing_alerts (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      kind text NOT NULL,
      tenant_id uuid REFERENCES tenants (id) ON DELETE CASCADE,
      -- One open alert per key: a repeat counts instead of piling up.
      dedupe_key text NOT NULL,
      message text NOT NULL,
      details jsonb NOT NULL DEFAULT '{}',
      occurrences int NOT NULL DEFAULT 1,
      first_seen_at timestamptz NOT NULL DEFAULT clock_timestamp(),
      last_seen_at timestamptz NOT NULL DEFAULT clock_timestamp(),
      resolved_at timestamptz,
      resolved_by text
    );
    CREATE UNIQUE INDEX billing_alerts_open ON billing_alerts (dedupe_key) WHERE resolved_at IS NULL;
    CREATE INDEX billing_alerts_by_time ON billing_alerts (last_seen_at DESC, id);

    -- Businesses created before billing existed start a trial now; reconciliation provisions
    -- them at the payment provider.
    INSERT INTO subscriptions (tenant_id, plan, status, trial_started_at, trial_ends_at, current_period_start, current_period_end)
    SELECT id, 'trial', 'trialing', now(), now() + interval '14 days', now(), now() + interval '14 days' FROM tenants;
    INSERT INTO subscription_transitions (tenant_id, from_status, to_status, reason, source)
    SELECT id, NULL, 'trialing', 'trial started for an existing business', 'migration' FROM tenants;
  `.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`
    DROP TABLE billing_alerts, billing_divergences, billing_reconcile_runs, billing_events,
      billing_notices, billing_invoices, subscription_transitions, subscriptions;
  `.execute(db);
}
