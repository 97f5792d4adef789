import { sql, type Kysely } from 'kysely';

/*
 * Frozen in time: never import application code here.
 *
 * Tenant-aware observability (issue 10).
 *
 * Signals. Every API process and worker counts requests and job runs per tenant in memory and
 * adds them, every few seconds, to one row per (tenant, minute): tenant_signals with grain 'm'.
 * Minutes are rolled into hours ('h') and hours into days ('d') in the same table; each grain is
 * expired by its own setting. The latency distribution is 30 fixed log-scale buckets (upper
 * bounds 2^(i/2) ms, the last open-ended) kept as columns: buckets of any number of processes
 * and minutes add up with plain SUM, which is what makes percentiles mergeable. platform_signals
 * holds the same figures for the whole platform (anonymous requests included), so platform
 * series and shares never sum 100,000 tenants' rows.
 *
 * signal_flushes records each flushed batch by id, in the batch's own transaction: a flush
 * retried after an ambiguous commit finds its id and adds nothing twice. signal_dirty marks
 * the hours and days whose minutes (or hours) changed since they were last rolled up.
 *
 * tenant_health is the last hour's figures per tenant, refreshed every minute by the alert
 * evaluator: the ops API sorts and pages 100,000 tenants on it. tenant_baselines holds each
 * tenant's expected figures for the current hour (from its own history).
 *
 * Alerts. One model for every source (tenant signals, jobs, the outbox, billing). At most one
 * alert per rule and subject is not resolved (the subject is the tenant for tenant rules).
 * alert_events is the alert's history and the audit of what operators did with it;
 * alert_notifications is the outbox of its notifications (mail, webhook), delivered by jobs.
 * billing_alerts moves here.
 *
 * The outbox gets trace_context: the W3C traceparent of the request that wrote the row, so
 * the job's span belongs to that request's trace.
 */
const buckets = Array.from({ length: 30 }, (_, i) => `l${String(i).padStart(2, '0')} int NOT NULL DEFAULT 0`).join(',\n      ');

const figures = `
      requests bigint NOT NULL DEFAULT 0,
      r2xx bigint NOT NULL DEFAULT 0,
      r3xx bigint NOT NULL DEFAULT 0,
      r4xx bigint NOT NULL DEFAULT 0,
      r5xx bigint NOT NULL DEFAULT 0,
      r402 bigint NOT NULL DEFAULT 0,
      r429 bigint NOT NULL DEFAULT 0,
      api_us bigint NOT NULL DEFAULT 0,
      db_us bigint NOT NULL DEFAULT 0,
      job_runs bigint NOT NULL DEFAULT 0,
      job_failures bigint NOT NULL DEFAULT 0,
      job_dead bigint NOT NULL DEFAULT 0,
      job_us bigint NOT NULL DEFAULT 0,
      job_wait_us bigint NOT NULL DEFAULT 0,
      job_wait_max_ms int NOT NULL DEFAULT 0,
      ${buckets}`;

export async function up(db: Kysely<any>): Promise<void> {
  await sql
    .raw(
      `
    CREATE TABLE tenant_signals (
      tenant_id uuid NOT NULL,
      grain char(1) NOT NULL CHECK (grain IN ('m', 'h', 'd')),
      at timestamptz NOT NULL,
      ${figures},
      PRIMARY KEY (tenant_id, grain, at)
    );
    CREATE INDEX tenant_signals_by_time ON tenant_signals (grain, at);
    SELECT brigade_protect('tenant_signals');

    CREATE TABLE platform_signals (
      grain char(1) NOT NULL CHECK (grain IN ('m', 'h', 'd')),
      at timestamptz NOT NULL,
      ${figures},
      PRIMARY KEY (grain, at)
    );

    CREATE TABLE signal_flushes (
      batch_id text PRIMARY KEY,
      flushed_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX signal_flushes_age ON signal_flushes (flushed_at);

    CREATE SEQUENCE signal_dirty_version;
    CREATE TABLE signal_dirty (
      grain char(1) NOT NULL CHECK (grain IN ('h', 'd')),
      at timestamptz NOT NULL,
      version bigint NOT NULL,
      PRIMARY KEY (grain, at)
    );

    CREATE TABLE tenant_health (
      tenant_id uuid NOT NULL PRIMARY KEY,
      requests bigint NOT NULL DEFAULT 0,
      errors_4xx bigint NOT NULL DEFAULT 0,
      errors_5xx bigint NOT NULL DEFAULT 0,
      error_rate real NOT NULL DEFAULT 0,
      p50_ms real,
      p95_ms real,
      p99_ms real,
      api_ms double precision NOT NULL DEFAULT 0,
      api_share real NOT NULL DEFAULT 0,
      job_runs bigint NOT NULL DEFAULT 0,
      job_failures bigint NOT NULL DEFAULT 0,
      window_end timestamptz
    );
    CREATE INDEX tenant_health_requests ON tenant_health (requests DESC, tenant_id);
    CREATE INDEX tenant_health_errors ON tenant_health (errors_5xx DESC, tenant_id);
    CREATE INDEX tenant_health_error_rate ON tenant_health (error_rate DESC, tenant_id);
    CREATE INDEX tenant_health_p95 ON tenant_health (p95_ms DESC NULLS LAST, tenant_id);
    CREATE INDEX tenant_health_job_failures ON tenant_health (job_failures DESC, tenant_id);
    CREATE INDEX tenant_health_api ON tenant_health (api_ms DESC, tenant_id);
    SELECT brigade_protect('tenant_health');

    CREATE TABLE tenant_baselines (
      tenant_id uuid NOT NULL PRIMARY KEY,
      hour_at timestamptz NOT NULL,
      requests_per_min real,
      requests_per_min_prev real,
      requests_per_min_next real,
      error_rate real,
      p95_ms real,
      api_share real,
      job_share real,
      source text NOT NULL CHECK (source IN ('weekly', 'daily', 'recent', 'none')),
      history_hours int NOT NULL,
      computed_at timestamptz NOT NULL
    );
    SELECT brigade_protect('tenant_baselines');

    DO $$ BEGIN
      EXECUTE format('REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON tenant_signals, tenant_health, tenant_baselines FROM %I', brigade_runtime_role());
    END $$;

    CREATE TABLE alerts (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      rule text NOT NULL,
      severity text NOT NULL CHECK (severity IN ('critical', 'warning', 'info')),
      tenant_id uuid REFERENCES tenants (id) ON DELETE CASCADE,
      subject text NOT NULL,
      state text NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'acknowledged', 'resolved')),
      summary text NOT NULL,
      observed double precision,
      expected double precision,
      unit text,
      peak double precision,
      details jsonb NOT NULL DEFAULT '{}',
      occurrences int NOT NULL DEFAULT 1,
      started_at timestamptz NOT NULL,
      last_seen_at timestamptz NOT NULL,
      normal_since timestamptz,
      acknowledged_at timestamptz,
      acknowledged_by text,
      resolved_at timestamptz,
      resolved_by text,
      resolution text CHECK (resolution IN ('auto', 'operator'))
    );
    CREATE UNIQUE INDEX alerts_one_open ON alerts (rule, subject) WHERE state <> 'resolved';
    CREATE INDEX alerts_recent ON alerts (started_at DESC, id DESC);
    CREATE INDEX alerts_unresolved ON alerts (started_at DESC, id DESC) WHERE state <> 'resolved';
    CREATE INDEX alerts_tenant ON alerts (tenant_id, started_at DESC) WHERE tenant_id IS NOT NULL;

    CREATE TABLE alert_events (
      id bigserial PRIMARY KEY,
      alert_id uuid NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
      at timestamptz NOT NULL DEFAULT clock_timestamp(),
      action text NOT NULL CHECK (action IN ('opened', 'acknowledged', 'resolved', 'auto_resolved')),
      actor text NOT NULL,
      operator_id uuid,
      note text,
      request_id text,
      details jsonb NOT NULL DEFAULT '{}'
    );
    CREATE INDEX alert_events_alert ON alert_events (alert_id, id);

    CREATE TABLE alert_notifications (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      alert_id uuid NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
      event text NOT NULL CHECK (event IN ('opened', 'resolved')),
      channel text NOT NULL CHECK (channel IN ('mail', 'webhook')),
      target text NOT NULL,
      state text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'queued', 'sent', 'retrying', 'dead')),
      attempts int NOT NULL DEFAULT 0,
      last_error text,
      created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
      queued_at timestamptz,
      sent_at timestamptz
    );
    CREATE INDEX alert_notifications_alert ON alert_notifications (alert_id, created_at);
    CREATE INDEX alert_notifications_pending ON alert_notifications (created_at) WHERE state IN ('pending', 'queued');

    -- billing_alerts, onto the one model: one alert per rule and subject.
    INSERT INTO alerts (rule, severity, tenant_id, subject, state, summary, details, occurrences, started_at, last_seen_at, resolved_at, resolved_by, resolution)
    SELECT DISTINCT ON ('billing.' || kind, coalesce(tenant_id::text, 'platform'), resolved_at IS NULL)
           'billing.' || kind,
           CASE WHEN kind IN ('disallowed_transition', 'reconciliation_failed') THEN 'critical' WHEN kind = 'retention_elapsed' THEN 'info' ELSE 'warning' END,
           tenant_id, coalesce(tenant_id::text, 'platform'),
           CASE WHEN resolved_at IS NULL THEN 'open' ELSE 'resolved' END,
           message, details, occurrences, first_seen_at, last_seen_at, resolved_at, resolved_by,
           CASE WHEN resolved_at IS NULL THEN NULL ELSE 'operator' END
    FROM billing_alerts
    ORDER BY 'billing.' || kind, coalesce(tenant_id::text, 'platform'), resolved_at IS NULL, last_seen_at DESC;
    DROP TABLE billing_alerts;

    ALTER TABLE outbox ADD COLUMN trace_context text;
  `,
    )
    .execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`
    ALTER TABLE outbox DROP COLUMN trace_context;
    CREATE TABLE billing_alerts (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      kind text NOT NULL,
      tenant_id uuid REFERENCES tenants (id) ON DELETE CASCADE,
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
    DROP TABLE alert_notifications, alert_events, alerts, tenant_baselines, tenant_health, signal_dirty,
      signal_flushes, platform_signals, tenant_signals;
    DROP SEQUENCE signal_dirty_version;
  `.execute(db);
}
