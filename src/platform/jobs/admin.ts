import { UUID } from '../http/validation.ts';
import { afterCursor, cursorAt, decodeCursor, decodeTimeCursor, encodeCursor } from '../http/pagination.ts';
import crypto from 'node:crypto';
import { sql } from 'kysely';
import type { Job } from 'bullmq';
import type { Platform } from '../deps.ts';
import { currentTraceparent } from '../telemetry.ts';
import type { Tx } from '../db/index.ts';
import { AppError } from '../errors/index.ts';
import type { JobRegistry } from './registry.ts';
import { jobOptions, openQueues, producerConnection, within, type JobEnvelope, type QueueSet } from './queues.ts';

export type JobState = 'waiting' | 'active' | 'delayed' | 'failed' | 'dead' | 'completed' | 'replayed' | 'discarded';
export const listableStates = ['dead', 'failed', 'completed', 'waiting', 'active', 'delayed'] as const;
export type ListableState = (typeof listableStates)[number];

export interface JobSummary {
  queue: string;
  id: string;
  type: string;
  tenantId: string | null;
  state: JobState;
  attempts: number;
  failedReason: string | null;
  createdAt: string | null;
  finishedAt: string | null;
  replayOf: string | null;
}

export interface JobAttempt {
  attempt: number;
  state: 'completed' | 'failed' | 'stalled';
  error: string | null;
  stacktrace: string | null;
  startedAt: string | null;
  finishedAt: string;
  worker: string | null;
}

export interface JobOperation {
  action: 'replay' | 'discard';
  at: string;
  actor: string;
  reason: string | null;
  jobId: string;
  newJobId: string | null;
}

/** A job linked to another by a replay: which, its state now, and who replayed it, when and why. */
export interface JobLink {
  queue: string;
  id: string;
  type: string;
  state: JobState;
  replayedAt: string;
  replayedBy: string;
  reason: string | null;
}

export interface JobDetail extends JobSummary {
  data: Record<string, unknown>;
  stacktrace: string[];
  runAt: string | null;
  replayedAs: string | null;
  history: JobAttempt[];
  operations: JobOperation[];
  /** The jobs this one replays, back to the first, oldest first (each with the replay that made the next). */
  ancestors: JobLink[];
  /** The jobs replaying this one, in order (a completed job may be replayed more than once). */
  replays: JobLink[];
}

export interface JobFilter {
  queue?: string;
  tenantId?: string;
  type?: string;
  /** Finished (or, for live states, created) at or after this instant. */
  from?: string;
  /** Finished (or created) before this instant. */
  to?: string;
}

/** What a bulk action did: the jobs it acted on, the ones that were no longer dead, the ones it could not. */
export interface BulkOutcome<T> {
  bulkId: string;
  /** Jobs acted on (replayed or discarded); kept for callers of the first version. */
  count: number;
  done: number;
  skipped: number;
  failed: number;
  jobs: T[];
  problems: { queue: string; id: string; outcome: 'skipped' | 'failed'; detail: string }[];
}

/** Who acts: an operator (from the ops API) or a shell user (from the CLI). */
export interface Actor {
  name: string;
  operatorId: string | null;
}

export interface QueueCounts {
  name: string;
  counts: { waiting: number; active: number; delayed: number; completed: number; failed: number; dead: number; backlog: number };
}

const iso = (d: Date | number | null | undefined) => (d === null || d === undefined ? null : new Date(d).toISOString());

/**
 * What operators do with jobs, for the ops API and the `brigade jobs` command: counts, lists,
 * one job with its attempts, replay and discard. Postgres is the record (attempts, dead jobs,
 * operations); BullMQ adds what only it knows (waiting, active, delayed).
 */
export function jobsAdmin(platform: Platform, registry: JobRegistry) {
  const { tenancy, config, log } = platform;
  let queues: QueueSet | null = null;
  const q = () => {
    queues ??= openQueues(config, registry, producerConnection(config.REDIS_URL, log, 'brigade-ops', config.BRIGADE_REDIS_TIMEOUT_MS, config.BRIGADE_REDIS_CLUSTER));
    return queues;
  };
  const requireQueue = (name: string) => {
    if (!registry.queues.includes(name)) throw new AppError('not_found', `There is no queue "${name}".`);
  };

  async function bullJob(queue: string, id: string): Promise<Job | undefined> {
    try {
      return await within(q().get(queue).getJob(id), 3000, 'reading a job from Redis');
    } catch (err) {
      log.warn({ err: (err as Error).message }, 'ops could not read a job from Redis');
      return undefined;
    }
  }

  async function queueCounts(): Promise<QueueCounts[]> {
    const [failed, dead, backlog] = await tenancy.withSystem('ops: job counts', async (trx) => [
      await sql<{ queue: string; n: string }>`
        SELECT r.queue, count(*) AS n FROM job_runs r
        WHERE r.state = 'failed' AND r.finished_at > now() - interval '7 days'
          AND NOT EXISTS (SELECT 1 FROM job_runs l WHERE l.queue = r.queue AND l.job_id = r.job_id AND l.id > r.id)
          AND NOT EXISTS (SELECT 1 FROM dead_jobs d WHERE d.queue = r.queue AND d.job_id = r.job_id)
        GROUP BY r.queue`.execute(trx),
      await sql<{ queue: string; n: string }>`SELECT queue, count(*) AS n FROM dead_jobs WHERE resolved_at IS NULL GROUP BY queue`.execute(trx),
      await sql<{ type: string; n: string }>`SELECT type, count(*) AS n FROM outbox WHERE relayed_at IS NULL GROUP BY type`.execute(trx),
    ]);
    const byQueue = (rows: { queue: string; n: string }[]) => new Map(rows.map((r) => [r.queue, Number(r.n)]));
    const failedBy = byQueue(failed.rows);
    const deadBy = byQueue(dead.rows);
    const backlogBy = new Map<string, number>();
    for (const r of backlog.rows) backlogBy.set(registry.queueOf(r.type), (backlogBy.get(registry.queueOf(r.type)) ?? 0) + Number(r.n));
    return Promise.all(
      registry.queues.map(async (name) => {
        const c = await within(q().get(name).getJobCounts('wait', 'prioritized', 'active', 'delayed', 'completed'), 3000, 'reading queue counts from Redis');
        return {
          name,
          counts: {
            waiting: (c.wait ?? 0) + (c.prioritized ?? 0),
            active: c.active ?? 0,
            delayed: c.delayed ?? 0,
            completed: c.completed ?? 0,
            failed: failedBy.get(name) ?? 0,
            dead: deadBy.get(name) ?? 0,
            backlog: backlogBy.get(name) ?? 0,
          },
        };
      }),
    );
  }

  /**
   * The outbox as a queue: rows not yet handed to BullMQ, those already due, and how long the
   * oldest due one has waited (the relay's lag; it grows when a tenant is over its cap or the
   * relay cannot reach Redis).
   */
  async function outboxLag(): Promise<{ pending: number; due: number; oldestDueAt: string | null; lagSeconds: number }> {
    const row = await tenancy.withSystem('ops: outbox lag', async (trx) =>
      (await sql<{ pending: string; due: string; oldest: Date | null; now: Date }>`
        SELECT count(*) AS pending, count(*) FILTER (WHERE run_at <= now()) AS due,
               min(run_at) FILTER (WHERE run_at <= now()) AS oldest, now() AS now
        FROM outbox WHERE relayed_at IS NULL`.execute(trx)).rows[0]!,
    );
    return {
      pending: Number(row.pending),
      due: Number(row.due),
      oldestDueAt: iso(row.oldest),
      lagSeconds: row.oldest ? Math.max(0, Math.round((row.now.getTime() - row.oldest.getTime()) / 1000)) : 0,
    };
  }

  /** Attempts finished per minute over the last `minutes`, completed and failed: the overview's chart. */
  async function throughput(minutes: number): Promise<{ at: string; completed: number; failed: number }[]> {
    const rows = await tenancy.withSystem('ops: job throughput', async (trx) =>
      (await sql<{ at: Date; completed: string; failed: string }>`
        SELECT m.at, count(r.id) FILTER (WHERE r.state = 'completed') AS completed, count(r.id) FILTER (WHERE r.state <> 'completed') AS failed
        FROM generate_series(date_trunc('minute', now()) - make_interval(mins => ${minutes - 1}), date_trunc('minute', now()), interval '1 minute') AS m(at)
        LEFT JOIN job_runs r ON r.finished_at >= m.at AND r.finished_at < m.at + interval '1 minute'
        GROUP BY m.at ORDER BY m.at`.execute(trx)).rows,
    );
    return rows.map((r) => ({ at: iso(r.at)!, completed: Number(r.completed), failed: Number(r.failed) }));
  }

  async function listJobs(state: ListableState, filter: JobFilter, limit: number, cursor?: string): Promise<{ data: JobSummary[]; nextCursor: string | null }> {
    if (filter.queue) requireQueue(filter.queue);
    if (filter.tenantId && !UUID.test(filter.tenantId)) return { data: [], nextCursor: null };
    if (state === 'dead') {
      const after = decodeTimeCursor(cursor, 'text');
      const rows = await tenancy.withSystem('ops: list dead jobs', (trx) => {
        let query = trx.selectFrom('dead_jobs').selectAll().select(cursorAt('died_at').as('cursor_at')).where('resolved_at', 'is', null);
        if (filter.queue) query = query.where('queue', '=', filter.queue);
        if (filter.tenantId) query = query.where('tenant_id', '=', filter.tenantId);
        if (filter.type) query = query.where('type', '=', filter.type);
        if (filter.from) query = query.where('died_at', '>=', new Date(filter.from));
        if (filter.to) query = query.where('died_at', '<', new Date(filter.to));
        if (after) query = query.where(afterCursor('died_at', 'job_id', after, 'desc', 'text'));
        return query.orderBy('died_at', 'desc').orderBy('job_id', 'desc').limit(limit + 1).execute();
      });
      const page = rows.slice(0, limit);
      return {
        data: page.map((r) => ({
          queue: r.queue,
          id: r.job_id,
          type: r.type,
          tenantId: r.tenant_id,
          state: 'dead',
          attempts: r.attempts,
          failedReason: r.failed_reason,
          createdAt: iso(r.job_created_at),
          finishedAt: iso(r.died_at),
          replayOf: r.replay_of,
        })),
        nextCursor: rows.length > limit ? encodeCursor([page.at(-1)!.cursor_at, page.at(-1)!.job_id]) : null,
      };
    }
    if (state === 'failed' || state === 'completed') {
      const after = decodeTimeCursor(cursor, 'bigint');
      const rows = await tenancy.withSystem(`ops: list ${state} jobs`, (trx) => {
        let query = trx.selectFrom('job_runs as r').selectAll('r').select(cursorAt('r.finished_at').as('cursor_at')).where('r.state', '=', state);
        if (state === 'failed') {
          query = query
            .where(sql<boolean>`NOT EXISTS (SELECT 1 FROM job_runs l WHERE l.queue = r.queue AND l.job_id = r.job_id AND l.id > r.id)`)
            .where(sql<boolean>`NOT EXISTS (SELECT 1 FROM dead_jobs d WHERE d.queue = r.queue AND d.job_id = r.job_id)`);
        }
        if (filter.queue) query = query.where('r.queue', '=', filter.queue);
        if (filter.tenantId) query = query.where('r.tenant_id', '=', filter.tenantId);
        if (filter.type) query = query.where('r.type', '=', filter.type);
        if (filter.from) query = query.where('r.finished_at', '>=', new Date(filter.from));
        if (filter.to) query = query.where('r.finished_at', '<', new Date(filter.to));
        if (after) query = query.where(afterCursor('r.finished_at', 'r.id', after, 'desc', 'bigint'));
        return query.orderBy('r.finished_at', 'desc').orderBy('r.id', 'desc').limit(limit + 1).execute();
      });
      const page = rows.slice(0, limit);
      return {
        data: page.map((r) => ({
          queue: r.queue,
          id: r.job_id,
          type: r.type,
          tenantId: r.tenant_id,
          state,
          attempts: r.attempt,
          failedReason: r.error,
          createdAt: iso(r.job_created_at),
          finishedAt: state === 'completed' ? iso(r.finished_at) : null,
          replayOf: r.replay_of,
        })),
        nextCursor: rows.length > limit ? encodeCursor([page.at(-1)!.cursor_at, String(page.at(-1)!.id)]) : null,
      };
    }
    // Live states are known to BullMQ alone; filtered here, paged by offset.
    const offset = Number(decodeCursor(cursor, ['n'])?.[0] ?? 0);
    const bullStates = state === 'waiting' ? (['wait', 'prioritized'] as const) : ([state] as const);
    const out: JobSummary[] = [];
    for (const name of filter.queue ? [filter.queue] : registry.queues) {
      const jobs = await within(q().get(name).getJobs([...bullStates], 0, 999), 5000, 'listing jobs from Redis');
      for (const job of jobs) {
        if (!job) continue;
        const s = summaryOfBull(job, state);
        if (filter.tenantId && s.tenantId !== filter.tenantId) continue;
        if (filter.type && s.type !== filter.type) continue;
        if (filter.from && job.timestamp < Date.parse(filter.from)) continue;
        if (filter.to && job.timestamp >= Date.parse(filter.to)) continue;
        out.push(s);
      }
    }
    return { data: out.slice(offset, offset + limit), nextCursor: out.length > offset + limit ? encodeCursor([offset + limit]) : null };
  }

  function summaryOfBull(job: Job, state: JobState): JobSummary {
    const env = (job.data ?? {}) as Partial<JobEnvelope>;
    const tenantId = typeof env.payload?.tenantId === 'string' ? env.payload.tenantId : null;
    return {
      queue: job.queueName,
      id: job.id!,
      type: job.name,
      tenantId,
      state: (state === 'waiting' || state === 'delayed') && job.attemptsMade > 0 ? 'failed' : state,
      attempts: job.attemptsMade,
      failedReason: job.failedReason || null,
      createdAt: iso(job.timestamp),
      finishedAt: iso(job.finishedOn),
      replayOf: env.replayOf ?? null,
    };
  }

  /** One job with the chain of replays it belongs to. */
  async function getJob(queue: string, id: string): Promise<JobDetail | null> {
    const job = await readJob(queue, id);
    if (!job) return null;
    const { up, down } = await tenancy.withSystem('ops: replay chain of a job', async (trx) => ({
      // Back through the replays that led here (bounded: a chain longer than this is a loop of mistakes).
      up: await sql<{ queue: string; job_id: string; new_job_id: string; actor: string; reason: string | null; at: Date; depth: number }>`
        WITH RECURSIVE up AS (
          SELECT queue, job_id, new_job_id, actor, reason, at, 1 AS depth FROM job_operations WHERE action = 'replay' AND new_job_id = ${id}
          UNION ALL
          SELECT o.queue, o.job_id, o.new_job_id, o.actor, o.reason, o.at, up.depth + 1
          FROM job_operations o JOIN up ON o.action = 'replay' AND o.new_job_id = up.job_id
          WHERE up.depth < 20
        )
        SELECT * FROM up ORDER BY depth DESC`.execute(trx),
      down: await trx
        .selectFrom('job_operations')
        .select(['queue', 'job_id', 'new_job_id', 'actor', 'reason', 'at'])
        .where('action', '=', 'replay')
        .where('queue', '=', queue)
        .where('job_id', '=', id)
        .orderBy('at')
        .limit(20)
        .execute(),
    }));
    const stateOf = async (q: string, jobId: string) => (await readJob(q, jobId))?.state ?? 'waiting';
    const ancestors: JobLink[] = [];
    for (const o of up.rows) {
      ancestors.push({ queue: o.queue, id: o.job_id, type: job.type, state: await stateOf(o.queue, o.job_id), replayedAt: iso(o.at)!, replayedBy: o.actor, reason: o.reason });
    }
    const replays: JobLink[] = [];
    for (const o of down) {
      if (!o.new_job_id) continue;
      const target = registry.queueOf(job.type);
      replays.push({ queue: target, id: o.new_job_id, type: job.type, state: await stateOf(target, o.new_job_id), replayedAt: iso(o.at)!, replayedBy: o.actor, reason: o.reason });
    }
    return { ...job, ancestors, replays };
  }

  /** Every queue holding a job with this id (ids are UUIDs for tenant jobs, so usually one). */
  async function findJobs(id: string): Promise<JobSummary[]> {
    if (id.length > 200) return [];
    const stored = await tenancy.withSystem('ops: find a job by id', async (trx) => {
      const rows = await sql<{ queue: string }>`
        SELECT queue FROM dead_jobs WHERE job_id = ${id}
        UNION SELECT queue FROM job_runs WHERE job_id = ${id}`.execute(trx);
      const outbox = UUID.test(id) ? await trx.selectFrom('outbox').select('type').where('id', '=', id).executeTakeFirst() : undefined;
      return [...rows.rows.map((r) => r.queue), ...(outbox ? [registry.queueOf(outbox.type)] : [])];
    });
    const candidates = new Set(stored.filter((name) => registry.queues.includes(name)));
    for (const name of registry.queues) {
      if (!candidates.has(name) && (await bullJob(name, id))) candidates.add(name);
    }
    const found: JobSummary[] = [];
    for (const name of candidates) {
      const job = await readJob(name, id);
      if (job) {
        const { queue, type, tenantId, state, attempts, failedReason, createdAt, finishedAt, replayOf } = job;
        found.push({ queue, id, type, tenantId, state, attempts, failedReason, createdAt, finishedAt, replayOf });
      }
    }
    return found;
  }

  async function readJob(queue: string, id: string): Promise<Omit<JobDetail, 'ancestors' | 'replays'> | null> {
    requireQueue(queue);
    if (id.length > 200) return null;
    // Redis first, then Postgres: a worker records an attempt in Postgres before BullMQ moves
    // the job on, so the record read second is never older than the state read first.
    const bull = await bullJob(queue, id);
    const bullState = bull ? await bull.getState().catch(() => 'unknown' as const) : null;
    const [stored] = await Promise.all([
      tenancy.withSystem('ops: read one job', async (trx) => ({
        dead: await trx.selectFrom('dead_jobs').selectAll().where('queue', '=', queue).where('job_id', '=', id).executeTakeFirst(),
        runs: await trx.selectFrom('job_runs').selectAll().where('queue', '=', queue).where('job_id', '=', id).orderBy('id').execute(),
        operations: await trx
          .selectFrom('job_operations')
          .selectAll()
          .where('queue', '=', queue)
          .where((eb) => eb.or([eb('job_id', '=', id), eb('new_job_id', '=', id)]))
          .orderBy('at')
          .execute(),
        outbox: UUID.test(id) ? await trx.selectFrom('outbox').selectAll().where('id', '=', id).executeTakeFirst() : undefined,
      })),
    ]);
    const { dead, runs, operations } = stored;
    const outbox = stored.outbox && registry.queueOf(stored.outbox.type) === queue ? stored.outbox : undefined;
    if (!bull && !dead && runs.length === 0 && !outbox) return null;

    const env = (bull?.data ?? {}) as Partial<JobEnvelope>;
    const lastRun = runs.at(-1);
    const lastFailure = [...runs].reverse().find((r) => r.state !== 'completed');
    let state: JobState;
    if (dead) state = dead.resolution ?? 'dead';
    else if (bull) {
      const s = bullState;
      if (s === 'completed') state = 'completed';
      else if (s === 'failed') state = 'dead';
      else if (s === 'active') state = 'active';
      else if (s === 'delayed') state = bull.attemptsMade > 0 ? 'failed' : 'delayed';
      else if (s === 'unknown') state = lastRun?.state === 'completed' ? 'completed' : 'waiting';
      else state = bull.attemptsMade > 0 ? 'failed' : 'waiting';
    } else if (lastRun?.state === 'completed') state = 'completed';
    else if (outbox && !outbox.relayed_at) state = outbox.run_at > new Date() ? 'delayed' : 'waiting';
    else state = lastRun?.state === 'failed' ? 'failed' : 'waiting';

    const payload = (env.payload ?? dead?.payload ?? outbox?.payload ?? {}) as Record<string, unknown>;
    const completedRun = runs.find((r) => r.state === 'completed');
    const finishedAt = state === 'completed' ? iso(bull?.finishedOn ?? completedRun?.finished_at) : state === 'dead' || state === 'replayed' || state === 'discarded' ? iso(dead?.died_at ?? bull?.finishedOn) : null;
    const replayOf = env.replayOf ?? dead?.replay_of ?? outbox?.replay_of ?? runs[0]?.replay_of ?? operations.find((o) => o.new_job_id === id)?.job_id ?? null;
    return {
      queue,
      id,
      type: bull?.name ?? dead?.type ?? outbox?.type ?? runs[0]!.type,
      tenantId: (typeof payload.tenantId === 'string' ? payload.tenantId : null) ?? dead?.tenant_id ?? runs[0]?.tenant_id ?? null,
      state,
      attempts: Math.max(bull?.attemptsMade ?? 0, dead?.attempts ?? 0, runs.filter((r) => r.state !== 'stalled').length),
      failedReason: (bull?.failedReason || null) ?? dead?.failed_reason ?? lastFailure?.error ?? null,
      createdAt: iso(bull?.timestamp ?? dead?.job_created_at ?? outbox?.created_at ?? runs[0]?.job_created_at),
      finishedAt,
      replayOf,
      data: payload,
      stacktrace: bull?.stacktrace?.length ? bull.stacktrace : dead?.stacktrace ? [dead.stacktrace] : runs.filter((r) => r.stack).map((r) => r.stack!),
      runAt: iso(outbox?.run_at ?? (bull?.delay ? bull.timestamp + bull.delay : null)),
      replayedAs: dead?.replayed_as ?? null,
      history: runs.map((r) => ({
        attempt: r.attempt,
        state: r.state,
        error: r.error,
        stacktrace: r.stack,
        startedAt: iso(r.started_at),
        finishedAt: iso(r.finished_at)!,
        worker: r.worker,
      })),
      operations: operations.map((o) => ({ action: o.action, at: iso(o.at)!, actor: o.actor, reason: o.reason, jobId: o.job_id, newJobId: o.new_job_id })),
    };
  }

  async function recordOperation(trx: Tx, op: { action: 'replay' | 'discard'; actor: Actor; queue: string; jobId: string; newJobId?: string | null; reason: string | null; bulkId?: string | null }) {
    await trx
      .insertInto('job_operations')
      .values({
        action: op.action,
        actor: op.actor.name,
        operator_id: op.actor.operatorId,
        queue: op.queue,
        job_id: op.jobId,
        new_job_id: op.newJobId ?? null,
        reason: op.reason,
        bulk_id: op.bulkId ?? null,
      })
      .execute();
  }

  /**
   * Runs a dead (or completed) job again as a new job, linked to the original by `replayOf`.
   * A tenant job goes through the outbox like any other, so it keeps its tenant's fair share
   * and survives Redis being away; a system job goes straight to its queue.
   */
  async function replay(queue: string, id: string, actor: Actor, reason: string | null, bulkId: string | null = null): Promise<{ queue: string; id: string; replayOf: string; tenantId: string | null }> {
    const job = await readJob(queue, id);
    if (!job) throw new AppError('not_found', `There is no job ${id} in queue ${queue}.`);
    if (!['dead', 'replayed', 'discarded', 'completed'].includes(job.state)) {
      throw new AppError('invalid_state', `Job ${id} is ${job.state}; only dead or completed jobs can be replayed.`, { state: job.state });
    }
    const newId = crypto.randomUUID();
    const targetQueue = registry.queueOf(job.type);
    if (job.tenantId) {
      const tenantId = job.tenantId;
      await tenancy.withSystem('ops: replay a job', async (trx) => {
        await trx
          .insertInto('outbox')
          .values({ tenant_id: tenantId, id: newId, type: job.type, payload: JSON.stringify({ ...job.data, tenantId }), replay_of: id, trace_context: currentTraceparent() })
          .execute();
        await markResolved(trx, queue, id, 'replayed', actor, reason, newId);
        await recordOperation(trx, { action: 'replay', actor, queue, jobId: id, newJobId: newId, reason, bulkId });
      });
    } else {
      await tenancy.withSystem('ops: replay a system job', async (trx) => {
        await markResolved(trx, queue, id, 'replayed', actor, reason, newId);
        await recordOperation(trx, { action: 'replay', actor, queue, jobId: id, newJobId: newId, reason, bulkId });
        await within(
          q().get(targetQueue).add(job.type, { payload: job.data, replayOf: id, trace: currentTraceparent(), dueAt: Date.now() } satisfies JobEnvelope, jobOptions(config, registry, job.type, { jobId: newId })),
          5000,
          'adding the replay to BullMQ',
        );
      });
    }
    log.info({ queue, jobId: id, newJobId: newId, actor: actor.name, reason }, 'job replayed');
    return { queue: targetQueue, id: newId, replayOf: id, tenantId: job.tenantId };
  }

  async function markResolved(trx: Tx, queue: string, id: string, resolution: 'replayed' | 'discarded', actor: Actor, reason: string | null, replayedAs: string | null) {
    await trx
      .updateTable('dead_jobs')
      .set({ resolution, resolved_at: new Date(), resolved_by: actor.name, resolution_reason: reason, replayed_as: replayedAs })
      .where('queue', '=', queue)
      .where('job_id', '=', id)
      .where('resolved_at', 'is', null)
      .execute();
  }

  /** Gives up on a dead job for good; it leaves the dead list and its record says who and why. */
  async function discard(queue: string, id: string, actor: Actor, reason: string | null, bulkId: string | null = null): Promise<{ queue: string; id: string; state: 'discarded' }> {
    requireQueue(queue);
    const done = await tenancy.withSystem('ops: discard a dead job', async (trx) => {
      const row = await trx.selectFrom('dead_jobs').select(['resolved_at']).where('queue', '=', queue).where('job_id', '=', id).forUpdate().executeTakeFirst();
      if (!row) return 'missing' as const;
      if (row.resolved_at) return 'resolved' as const;
      await markResolved(trx, queue, id, 'discarded', actor, reason, null);
      await recordOperation(trx, { action: 'discard', actor, queue, jobId: id, reason, bulkId });
      return 'ok' as const;
    });
    if (done === 'missing') {
      const job = await readJob(queue, id);
      if (!job) throw new AppError('not_found', `There is no job ${id} in queue ${queue}.`);
      throw new AppError('invalid_state', `Job ${id} is ${job.state}; only dead jobs can be discarded.`, { state: job.state });
    }
    if (done === 'resolved') throw new AppError('invalid_state', `Job ${id} was already replayed or discarded.`);
    const bull = await bullJob(queue, id);
    await bull?.remove().catch(() => undefined);
    log.info({ queue, jobId: id, actor: actor.name, reason }, 'dead job discarded');
    return { queue, id, state: 'discarded' };
  }

  async function deadMatching(filter: JobFilter, limit: number) {
    if (filter.queue) requireQueue(filter.queue);
    if (filter.tenantId && !UUID.test(filter.tenantId)) return [];
    return tenancy.withSystem('ops: find dead jobs to act on', (trx) => {
      let query = trx.selectFrom('dead_jobs').select(['queue', 'job_id']).where('resolved_at', 'is', null);
      if (filter.queue) query = query.where('queue', '=', filter.queue);
      if (filter.tenantId) query = query.where('tenant_id', '=', filter.tenantId);
      if (filter.type) query = query.where('type', '=', filter.type);
      if (filter.from) query = query.where('died_at', '>=', new Date(filter.from));
      if (filter.to) query = query.where('died_at', '<', new Date(filter.to));
      return query.orderBy('died_at').limit(limit).execute();
    });
  }

  /**
   * Acts on each dead job of a filter in turn. One job's failure does not stop the rest: a job
   * another operator resolved meanwhile is skipped, any other error is counted as failed, and
   * the outcome says which.
   */
  async function eachMatching<T>(filter: JobFilter, limit: number, act: (queue: string, id: string, bulkId: string) => Promise<T>): Promise<BulkOutcome<T>> {
    const bulkId = crypto.randomUUID();
    const outcome: BulkOutcome<T> = { bulkId, count: 0, done: 0, skipped: 0, failed: 0, jobs: [], problems: [] };
    for (const d of await deadMatching(filter, limit)) {
      try {
        outcome.jobs.push(await act(d.queue, d.job_id, bulkId));
        outcome.done++;
      } catch (err) {
        const skipped = err instanceof AppError && (err.code === 'invalid_state' || err.code === 'not_found');
        if (!skipped) log.warn({ err, queue: d.queue, jobId: d.job_id }, 'bulk job action failed');
        outcome[skipped ? 'skipped' : 'failed']++;
        outcome.problems.push({ queue: d.queue, id: d.job_id, outcome: skipped ? 'skipped' : 'failed', detail: err instanceof AppError ? err.detail : 'The action failed; the log has the error.' });
      }
    }
    outcome.count = outcome.done;
    return outcome;
  }

  const replayMatching = (filter: JobFilter, actor: Actor, reason: string | null, limit: number) =>
    eachMatching(filter, limit, (queue, id, bulkId) => replay(queue, id, actor, reason, bulkId));

  const discardMatching = (filter: JobFilter, actor: Actor, reason: string | null, limit: number) =>
    eachMatching(filter, limit, (queue, id, bulkId) => discard(queue, id, actor, reason, bulkId));

  async function listMails(filter: { to?: string; tenantId?: string }, limit: number, cursor?: string) {
    const after = decodeTimeCursor(cursor);
    if (filter.tenantId && !UUID.test(filter.tenantId)) return { data: [], nextCursor: null };
    const rows = await tenancy.withSystem('ops: list caught mails', (trx) => {
      let query = trx.selectFrom('caught_mails').selectAll().select(cursorAt('created_at').as('cursor_at'));
      if (filter.to) query = query.where('recipient', '=', filter.to.toLowerCase());
      if (filter.tenantId) query = query.where('tenant_id', '=', filter.tenantId);
      if (after) query = query.where(afterCursor('created_at', 'id', after, 'desc'));
      return query.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(limit + 1).execute();
    });
    const page = rows.slice(0, limit);
    return {
      data: page.map((m) => ({
        id: m.id,
        messageId: m.message_id,
        tenantId: m.tenant_id,
        jobId: m.job_id,
        from: m.sender,
        to: m.recipient,
        subject: m.subject,
        text: m.text_body,
        html: m.html_body,
        createdAt: iso(m.created_at)!,
      })),
      nextCursor: rows.length > limit ? encodeCursor([page.at(-1)!.cursor_at, page.at(-1)!.id]) : null,
    };
  }

  return {
    queueCounts,
    outboxLag,
    throughput,
    listJobs,
    getJob,
    findJobs,
    replay,
    replayMatching,
    discard,
    discardMatching,
    listMails,
    async close() {
      if (queues) {
        const { redis } = queues;
        await queues.close();
        redis.disconnect();
        queues = null;
      }
    },
  };
}

export type JobsAdmin = ReturnType<typeof jobsAdmin>;
