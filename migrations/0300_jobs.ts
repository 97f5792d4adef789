import { sql, type Kysely } from 'kysely';

/*
 * Frozen in time: never import application code here.
 *
 * Background jobs. The outbox (0001) stays the per-tenant backlog; this adds what the relay,
 * the workers, the dead letter, replay and mail need.
 *
 * job_runs, dead_jobs and caught_mails hold rows of every tenant for operators and workers,
 * written and read through withSystem. They carry a tenant_id, so they get row-level security
 * like every tenant table (the runtime role may read its own tenant's rows and write none);
 * job_operations and schedule_cursors are platform tables the runtime role cannot reach.
 * mail_deliveries, password_tokens and tenant_schedule_runs are written by job handlers inside
 * withTenant: ordinary tenant tables.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    -- A replay is written to the outbox like any job; this links it to the job it replays.
    ALTER TABLE outbox ADD COLUMN replay_of text;
    -- The relay's fair pick walks pending rows per tenant, oldest due first; rows due later are
    -- found by due time. These replace outbox_pending (every index costs each job a write).
    CREATE INDEX outbox_pending_by_tenant ON outbox (tenant_id, run_at, created_at) WHERE relayed_at IS NULL;
    CREATE INDEX outbox_pending_run_at ON outbox (run_at) WHERE relayed_at IS NULL;
    DROP INDEX outbox_pending;
    -- Operators and the relay address a job by its id alone (the outbox id is the job id).
    CREATE INDEX outbox_id ON outbox (id);

    -- One row per finished attempt (completed, failed, or lost with its worker).
    CREATE TABLE job_runs (
      id bigserial PRIMARY KEY,
      queue text NOT NULL,
      job_id text NOT NULL,
      type text NOT NULL,
      tenant_id uuid,
      attempt int NOT NULL,
      state text NOT NULL CHECK (state IN ('completed', 'failed', 'stalled')),
      error text,
      stack text,
      started_at timestamptz,
      finished_at timestamptz NOT NULL DEFAULT now(),
      worker text,
      replay_of text,
      job_created_at timestamptz
    );
    CREATE INDEX job_runs_job ON job_runs (queue, job_id, id);
    CREATE INDEX job_runs_completed ON job_runs (finished_at DESC, id DESC) WHERE state = 'completed';
    CREATE INDEX job_runs_failed ON job_runs (finished_at DESC, id DESC) WHERE state = 'failed';
    CREATE INDEX job_runs_tenant ON job_runs (tenant_id, finished_at DESC);
    SELECT brigade_protect('job_runs');

    -- A job that used its last attempt: kept with everything needed to understand and replay it.
    CREATE TABLE dead_jobs (
      queue text NOT NULL,
      job_id text NOT NULL,
      type text NOT NULL,
      tenant_id uuid,
      payload jsonb NOT NULL,
      attempts int NOT NULL,
      failed_reason text NOT NULL,
      stacktrace text,
      job_created_at timestamptz,
      died_at timestamptz NOT NULL DEFAULT now(),
      replay_of text,
      resolution text CHECK (resolution IN ('replayed', 'discarded')),
      resolved_at timestamptz,
      resolved_by text,
      resolution_reason text,
      replayed_as text,
      PRIMARY KEY (queue, job_id)
    );
    CREATE INDEX dead_jobs_open ON dead_jobs (died_at DESC, job_id DESC) WHERE resolved_at IS NULL;
    CREATE INDEX dead_jobs_tenant ON dead_jobs (tenant_id) WHERE resolved_at IS NULL;
    SELECT brigade_protect('dead_jobs');

    -- Who replayed or discarded what, when and why.
    CREATE TABLE job_operations (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      at timestamptz NOT NULL DEFAULT now(),
      action text NOT NULL CHECK (action IN ('replay', 'discard')),
      actor text NOT NULL,
      operator_id uuid,
      queue text NOT NULL,
      job_id text NOT NULL,
      new_job_id text,
      reason text,
      bulk_id uuid
    );
    CREATE INDEX job_operations_job ON job_operations (queue, job_id, at);
    CREATE INDEX job_operations_new_job ON job_operations (new_job_id) WHERE new_job_id IS NOT NULL;

    -- The built-in mail catcher (used when SMTP_URL is unset). Message-ID is unique, so a job
    -- that resends after a crash is caught once.
    CREATE TABLE caught_mails (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      message_id text NOT NULL UNIQUE,
      tenant_id uuid,
      job_id text,
      sender text NOT NULL,
      recipient text NOT NULL,
      subject text NOT NULL,
      text_body text NOT NULL,
      html_body text,
      created_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX caught_mails_recent ON caught_mails (created_at DESC, id DESC);
    SELECT brigade_protect('caught_mails');
    DO $$ BEGIN
      EXECUTE format('REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON job_runs, dead_jobs, caught_mails FROM %I', brigade_runtime_role());
    END $$;

    -- How far the per-tenant schedule runner has looked, per schedule.
    CREATE TABLE schedule_cursors (
      schedule text PRIMARY KEY,
      checked_until timestamptz NOT NULL
    );

    -- Mail sent per job and recipient: a retried job checks here first and does not send twice.
    CREATE TABLE mail_deliveries (
      tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
      job_id text NOT NULL,
      recipient text NOT NULL,
      message_id text NOT NULL,
      sent_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (tenant_id, job_id, recipient)
    );
    CREATE INDEX mail_deliveries_sent ON mail_deliveries (sent_at);
    SELECT brigade_protect('mail_deliveries');

    -- Single-use tokens that set a password (reset, or accepting an invitation). Only the hash
    -- is stored; one live token per job, so a retried job replaces rather than adds.
    CREATE TABLE password_tokens (
      tenant_id uuid NOT NULL,
      id uuid NOT NULL DEFAULT gen_random_uuid(),
      user_id uuid NOT NULL,
      purpose text NOT NULL CHECK (purpose IN ('reset', 'invitation')),
      token_hash text NOT NULL UNIQUE,
      job_id text NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      expires_at timestamptz NOT NULL,
      used_at timestamptz,
      PRIMARY KEY (tenant_id, id),
      UNIQUE (tenant_id, job_id),
      FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
    );
    CREATE INDEX password_tokens_expiry ON password_tokens (expires_at);
    SELECT brigade_protect('password_tokens');

    -- One row per (schedule, tenant, due time): the runner's fan-out runs each at most once.
    CREATE TABLE tenant_schedule_runs (
      tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
      schedule text NOT NULL,
      fire_at timestamptz NOT NULL,
      ran_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (tenant_id, schedule, fire_at)
    );
    CREATE INDEX tenant_schedule_runs_age ON tenant_schedule_runs (ran_at);
    SELECT brigade_protect('tenant_schedule_runs');
  `.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`
    DROP TABLE tenant_schedule_runs, password_tokens, mail_deliveries, schedule_cursors, caught_mails,
      job_operations, dead_jobs, job_runs;
    DROP INDEX outbox_pending_by_tenant;
    DROP INDEX outbox_pending_run_at;
    DROP INDEX outbox_id;
    CREATE INDEX outbox_pending ON outbox (created_at) WHERE relayed_at IS NULL;
    ALTER TABLE outbox DROP COLUMN replay_of;
  `.execute(db);
}
