import { sql, type Kysely } from 'kysely';

/*
 * Frozen in time: never import application code here.
 *
 * Scheduled sales reports. A schedule is mailed to its recipients (members of the business) at
 * a local hour of its time zone. report_schedule_runs holds one row per schedule and local day
 * the report was sent on: written with the job's outbox row in one transaction, its primary key
 * is what makes "exactly once per local day" hold across daylight-saving changes, runner
 * restarts and several runners.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    CREATE TABLE report_schedules (
      tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
      id uuid NOT NULL DEFAULT gen_random_uuid(),
      name text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
      frequency text NOT NULL CHECK (frequency IN ('daily', 'weekly', 'monthly')),
      hour smallint NOT NULL CHECK (hour BETWEEN 0 AND 23),
      timezone text NOT NULL,
      branch_id uuid,
      group_by text NOT NULL CHECK (group_by IN ('day', 'branch', 'item')),
      created_by uuid NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (tenant_id, id),
      FOREIGN KEY (tenant_id, branch_id) REFERENCES branches (tenant_id, id),
      FOREIGN KEY (tenant_id, created_by) REFERENCES users (tenant_id, id)
    );
    CREATE INDEX report_schedules_by_creation ON report_schedules (tenant_id, created_at DESC, id DESC);
    SELECT brigade_protect('report_schedules');

    CREATE TABLE report_schedule_recipients (
      tenant_id uuid NOT NULL,
      schedule_id uuid NOT NULL,
      user_id uuid NOT NULL,
      PRIMARY KEY (tenant_id, schedule_id, user_id),
      FOREIGN KEY (tenant_id, schedule_id) REFERENCES report_schedules (tenant_id, id) ON DELETE CASCADE,
      FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
    );
    SELECT brigade_protect('report_schedule_recipients');

    CREATE TABLE report_schedule_runs (
      tenant_id uuid NOT NULL,
      schedule_id uuid NOT NULL,
      local_date date NOT NULL,
      due_at timestamptz NOT NULL,
      job_id uuid NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (tenant_id, schedule_id, local_date),
      FOREIGN KEY (tenant_id, schedule_id) REFERENCES report_schedules (tenant_id, id) ON DELETE CASCADE
    );
    SELECT brigade_protect('report_schedule_runs');
  `.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`
    DROP TABLE report_schedule_runs;
    DROP TABLE report_schedule_recipients;
    DROP TABLE report_schedules;
  `.execute(db);
}
