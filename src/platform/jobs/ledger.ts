import os from 'node:os';
import { sql, type ColumnType, type Generated, type Insertable } from 'kysely';
import type { Tenancy, Tx } from '../db/index.ts';
import type { Logger } from '../log.ts';

declare module '../db/schema.ts' {
  interface Database {
    job_runs: JobRunsTable;
    dead_jobs: DeadJobsTable;
    job_operations: JobOperationsTable;
    caught_mails: CaughtMailsTable;
    schedule_cursors: ScheduleCursorsTable;
    mail_deliveries: MailDeliveriesTable;
    password_tokens: PasswordTokensTable;
    tenant_schedule_runs: TenantScheduleRunsTable;
  }
  interface OutboxTable {
    replay_of: ColumnType<string | null, string | null | undefined, string | null>;
  }
}

type Nullable<T> = ColumnType<T | null, T | null | undefined, T | null>;

export interface JobRunsTable {
  id: Generated<string>;
  queue: string;
  job_id: string;
  type: string;
  tenant_id: string | null;
  attempt: number;
  state: 'completed' | 'failed' | 'stalled';
  error: Nullable<string>;
  stack: Nullable<string>;
  started_at: Nullable<Date>;
  finished_at: ColumnType<Date, Date | undefined, Date>;
  worker: Nullable<string>;
  replay_of: Nullable<string>;
  job_created_at: Nullable<Date>;
}

export interface DeadJobsTable {
  queue: string;
  job_id: string;
  type: string;
  tenant_id: string | null;
  payload: ColumnType<Record<string, unknown>, string, string>;
  attempts: number;
  failed_reason: string;
  stacktrace: Nullable<string>;
  job_created_at: Nullable<Date>;
  died_at: ColumnType<Date, Date | undefined, Date>;
  replay_of: Nullable<string>;
  resolution: Nullable<'replayed' | 'discarded'>;
  resolved_at: Nullable<Date>;
  resolved_by: Nullable<string>;
  resolution_reason: Nullable<string>;
  replayed_as: Nullable<string>;
}

export interface JobOperationsTable {
  id: Generated<string>;
  at: Generated<Date>;
  action: 'replay' | 'discard';
  actor: string;
  operator_id: string | null;
  queue: string;
  job_id: string;
  new_job_id: string | null;
  reason: string | null;
  bulk_id: string | null;
}

export interface CaughtMailsTable {
  id: Generated<string>;
  message_id: string;
  tenant_id: string | null;
  job_id: string | null;
  sender: string;
  recipient: string;
  subject: string;
  text_body: string;
  html_body: string | null;
  created_at: Generated<Date>;
}

export interface ScheduleCursorsTable {
  schedule: string;
  checked_until: Date;
}

export interface MailDeliveriesTable {
  tenant_id: string;
  job_id: string;
  recipient: string;
  message_id: string;
  sent_at: Generated<Date>;
}

export interface PasswordTokensTable {
  tenant_id: string;
  id: Generated<string>;
  user_id: string;
  purpose: 'reset' | 'invitation';
  token_hash: string;
  job_id: string;
  created_at: Generated<Date>;
  expires_at: Date;
  used_at: Nullable<Date>;
}

export interface TenantScheduleRunsTable {
  tenant_id: string;
  schedule: string;
  fire_at: Date;
  ran_at: Generated<Date>;
}

export interface RunRecord {
  queue: string;
  jobId: string;
  type: string;
  tenantId: string | null;
  attempt: number;
  startedAt: Date | null;
  replayOf: string | null;
  jobCreatedAt: Date | null;
}

export interface DeadRecord extends RunRecord {
  payload: Record<string, unknown>;
  failedReason: string;
  stacktrace: string | null;
}

const worker = `${os.hostname()}:${process.pid}`;
/** Completed attempts kept in memory while the database cannot take them, and the retry delay. */
const MAX_PENDING = 50_000;
const RETRY_MS = 1000;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The outbox rows of these jobs (outbox id = job id) are done: Redis need not know them any more. */
export async function markFinished(trx: Tx, jobs: [tenantId: string, jobId: string][]): Promise<void> {
  if (jobs.length === 0) return;
  await sql`
    UPDATE outbox o SET finished_at = now()
    FROM unnest(${jobs.map((j) => j[0])}::uuid[], ${jobs.map((j) => j[1])}::uuid[]) AS f(tenant_id, id)
    WHERE o.tenant_id = f.tenant_id AND o.id = f.id AND o.finished_at IS NULL`.execute(trx);
}

/**
 * The Postgres record of job attempts and dead jobs. Completed attempts are the bulk of the
 * traffic and are written in batches (a crash loses at most one batch of history, never a job);
 * failures and deaths are written at once, before BullMQ learns of them, so a dead job is in
 * Postgres by the time it leaves the retry cycle.
 */
export function jobLedger(tenancy: Tenancy, log: Logger, opts: { flushMs?: number; batch?: number } = {}) {
  const flushMs = opts.flushMs ?? 200;
  const batchSize = opts.batch ?? 200;
  let pending: Insertable<JobRunsTable>[] = [];
  let timer: NodeJS.Timeout | null = null;
  let flushing: Promise<void> = Promise.resolve();

  const row = (r: RunRecord, state: JobRunsTable['state'], err?: { message: string; stack?: string | null }): Insertable<JobRunsTable> => ({
    queue: r.queue,
    job_id: r.jobId,
    type: r.type,
    tenant_id: r.tenantId,
    attempt: r.attempt,
    state,
    error: err?.message ?? null,
    stack: err?.stack ?? null,
    started_at: r.startedAt,
    finished_at: new Date(),
    worker,
    replay_of: r.replayOf,
    job_created_at: r.jobCreatedAt,
  });

  /** One attempt's record, unless its business is being deleted (its last jobs may still run). */
  const insertAttempt = async (trx: Tx, values: Insertable<JobRunsTable>): Promise<void> => {
    if (values.tenant_id) {
      const deleted = await trx.selectFrom('tenant_deletions').select('tenant_id').where('tenant_id', '=', values.tenant_id).executeTakeFirst();
      if (deleted) return;
    }
    await trx.insertInto('job_runs').values(values).execute();
  };

  const flush = (): Promise<void> => {
    if (timer) {
      clearTimeout(timer);
      timer = null;
    }
    const rows = pending;
    pending = [];
    if (rows.length === 0) return flushing;
    flushing = flushing.then(() =>
      tenancy
        .withSystem('jobs: record finished attempts', async (trx) => {
          // History of completed attempts: a crash may lose the last fraction of a second of it
          // (never a job), and the batch does not wait on a disk flush.
          await sql`SET LOCAL synchronous_commit = off`.execute(trx);
          // Thirteen array parameters instead of thirteen per row: far less to encode and parse.
          const col = <K extends keyof typeof rows[number]>(k: K) => rows.map((r) => r[k] ?? null);
          await sql`
            INSERT INTO job_runs (queue, job_id, type, tenant_id, attempt, state, error, stack, started_at, finished_at, worker, replay_of, job_created_at)
            SELECT * FROM unnest(
              ${col('queue')}::text[], ${col('job_id')}::text[], ${col('type')}::text[], ${col('tenant_id')}::uuid[], ${col('attempt')}::int[],
              ${col('state')}::text[], ${col('error')}::text[], ${col('stack')}::text[], ${col('started_at')}::timestamptz[],
              ${col('finished_at')}::timestamptz[], ${col('worker')}::text[], ${col('replay_of')}::text[], ${col('job_created_at')}::timestamptz[]
            ) AS u (queue, job_id, type, tenant_id, attempt, state, error, stack, started_at, finished_at, worker, replay_of, job_created_at)
            -- A business being deleted gets no new rows (its last jobs may finish meanwhile).
            WHERE u.tenant_id IS NULL OR NOT EXISTS (SELECT 1 FROM tenant_deletions d WHERE d.tenant_id = u.tenant_id)`.execute(trx);
          await markFinished(trx, rows.filter((r) => r.tenant_id && UUID.test(r.job_id)).map((r) => [r.tenant_id!, r.job_id]));
        })
        .then(() => undefined)
        .catch((err) => {
          // Kept and written again later (the database may be restarting), up to a bound.
          const room = MAX_PENDING - pending.length;
          pending.unshift(...rows.slice(0, Math.max(0, room)));
          if (rows.length > room) log.error({ err, lost: rows.length - room }, 'could not record finished job attempts');
          else log.warn({ err: (err as Error).message, kept: rows.length }, 'could not record finished job attempts yet; retrying');
          if (!timer) {
            timer = setTimeout(() => void flush(), RETRY_MS);
            timer.unref();
          }
        }),
    );
    return flushing;
  };

  return {
    completed(r: RunRecord): void {
      pending.push(row(r, 'completed'));
      if (pending.length >= batchSize) void flush();
      else timer ??= setTimeout(() => void flush(), flushMs);
    },
    async failed(r: RunRecord, err: { message: string; stack?: string | null }): Promise<void> {
      await tenancy.withSystem('jobs: record failed attempt', (trx) => insertAttempt(trx, row(r, 'failed', err)));
    },
    async stalled(r: RunRecord): Promise<void> {
      await tenancy.withSystem('jobs: record stalled attempt', (trx) =>
        insertAttempt(trx, row(r, 'stalled', { message: 'The worker running this attempt stopped (crash or lost lock); the job went back to the queue.' })),
      );
    },
    async dead(d: DeadRecord): Promise<void> {
      await tenancy.withSystem('jobs: record dead job', (trx) =>
        trx
          .insertInto('dead_jobs')
          .values({
            queue: d.queue,
            job_id: d.jobId,
            type: d.type,
            tenant_id: d.tenantId,
            payload: JSON.stringify(d.payload),
            attempts: d.attempt,
            failed_reason: d.failedReason.slice(0, 4000),
            stacktrace: d.stacktrace,
            job_created_at: d.jobCreatedAt,
            replay_of: d.replayOf,
          })
          .onConflict((oc) => oc.columns(['queue', 'job_id']).doNothing())
          .execute()
          .then(() => (d.tenantId && UUID.test(d.jobId) ? markFinished(trx, [[d.tenantId, d.jobId]]) : undefined)),
      );
    },
    /** A job recorded dead that then completed (it died, the process crashed before BullMQ knew). */
    async revived(queue: string, jobId: string): Promise<void> {
      await tenancy.withSystem('jobs: clear revived dead job', (trx) =>
        trx.deleteFrom('dead_jobs').where('queue', '=', queue).where('job_id', '=', jobId).where('resolved_at', 'is', null).execute(),
      );
    },
    flush,
  };
}

export type JobLedger = ReturnType<typeof jobLedger>;
