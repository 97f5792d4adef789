import { Worker, UnrecoverableError, DelayedError, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Platform } from '../deps.ts';
import type { Logger } from '../log.ts';
import type { Mailer } from '../mail.ts';
import { runWithContext, enrichContext } from '../context/index.ts';
import { withJobSpan } from '../telemetry.ts';
import { observeJobRun } from './observe.ts';
import type { JobRegistry } from './registry.ts';
import type { JobLedger, RunRecord } from './ledger.ts';
import type { TenantSlots } from './fairness.ts';
import type { SystemJobRun } from './define.ts';
import { isDatabaseUnavailable, type Tx } from '../db/index.ts';
import { backoffDelay, workerConnection, type JobEnvelope, type QueueSet } from './queues.ts';

export interface WorkersOptions {
  concurrency: number;
  /** Which queues this process serves (default: all of the registry's). */
  queues?: string[];
  stalledIntervalMs?: number;
  lockDurationMs?: number;
}

export interface WorkerDeps {
  platform: Platform;
  registry: JobRegistry;
  ledger: JobLedger;
  slots: TenantSlots;
  mailer: Mailer;
  log: Logger;
  /** Producer-side queues, to look jobs up. */
  queues: QueueSet;
  /** Called when a tenant's job leaves the shared queue, so the relay can hand that tenant more. */
  onSlotFreed(): void;
}

export interface RunningWorkers {
  workers: Worker[];
  /** Stops taking jobs; running jobs get `drainMs` to finish, then go back to the queue. */
  close(drainMs: number): Promise<void>;
}

/** How long a job held for a database outage waits before it is tried again (with jitter). */
const HOLD_MS = 2000;

function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

export async function startWorkers(deps: WorkerDeps, opts: WorkersOptions): Promise<RunningWorkers> {
  const { platform, registry, ledger, slots, mailer, log } = deps;
  const { config } = platform;
  const giveBacks = new Map<string, () => void>();
  // One signal for every running job: aborted when the drain time is up and jobs go back.
  const shutdown = new AbortController();
  const connections: Redis[] = [];

  const releaseSlot = (tenantId: string | null, queue: string, jobId: string) => {
    if (!tenantId) return;
    slots.releaseSoon(tenantId, queue, jobId).then(deps.onSlotFreed, (err) => log.warn({ err: err.message, jobId }, 'could not release the tenant slot; reconcile will'));
  };

  async function runHandler(job: Job, payload: Record<string, unknown>, tenantId: string | null, record: RunRecord, signal: AbortSignal): Promise<void> {
    const def = registry.lookup(job.name);
    if (!def) throw new UnrecoverableError(`No handler is defined for job type "${job.name}" on this worker.`);
    if (def.kind === 'tenant') {
      const problems = def.check(payload);
      if (problems) throw new UnrecoverableError(`The payload does not match ${job.name}: ${problems.join('; ')}`);
    }
    let jobLog: Logger | undefined;
    const tid = tenantId!;
    const ctx = {
      jobId: record.jobId,
      queue: record.queue,
      type: job.name,
      attempt: record.attempt,
      replayOf: record.replayOf,
      signal,
      // Made on first use: most handlers never log, and a child logger per job is not free.
      get log() {
        return (jobLog ??= log.child({ job: job.name, attempt: record.attempt }));
      },
      platform,
      mailer,
      payload: payload as never,
      tenantId: tid,
      withTenant: <T>(fn: (trx: Tx) => Promise<T>) => platform.tenancy.withTenant({ tenantId: tid }, fn),
    };
    if (def.kind === 'system') return def.handle({ ...ctx, payload } satisfies SystemJobRun);
    await def.handle(ctx);
  }

  async function processor(job: Job, token?: string): Promise<void> {
    const envelope = (job.data ?? {}) as Partial<JobEnvelope>;
    const payload = envelope.payload && typeof envelope.payload === 'object' ? envelope.payload : {};
    const tenantId = typeof payload.tenantId === 'string' ? payload.tenantId : null;
    const queue = job.queueName;
    const jobId = job.id!;
    const record: RunRecord = {
      queue,
      jobId,
      type: job.name,
      tenantId,
      attempt: Math.max(job.attemptsStarted ?? 0, job.attemptsMade + 1),
      startedAt: new Date(),
      replayOf: envelope.replayOf ?? null,
      jobCreatedAt: new Date(job.timestamp),
    };
    const key = `${queue}|${jobId}`;
    const givenBack = new Promise<'given-back'>((resolve) => {
      giveBacks.set(key, () => resolve('given-back'));
    });
    // Every log line and span of the run carries its tenant and job id, and its trace is the
    // trace of the request that enqueued it.
    const span = { type: job.name, queue, jobId, tenantId, attempt: record.attempt };
    return runWithContext({ jobId, ...(tenantId ? { tenantId } : {}) }, () => withJobSpan(envelope.trace, span, async (traceId) => {
      if (traceId) enrichContext({ traceId });
      try {
        const outcome = await Promise.race([runHandler(job, payload, tenantId, record, shutdown.signal).then(() => 'done' as const), givenBack]);
        if (outcome === 'given-back') {
          // Back to the queue at once (not after the stalled check): another worker takes it.
          await job.moveToDelayed(Date.now(), token);
          log.warn({ job: job.name }, 'job did not finish before shutdown; it went back to the queue');
          throw new DelayedError();
        }
        ledger.completed(record);
        observeJobRun(platform, record, 'completed', envelope);
        if (job.attemptsMade > 0 || (job.attemptsStarted ?? 1) > 1) await ledger.revived(queue, jobId).catch((err) => log.error({ err }, 'could not clear a revived dead job'));
        releaseSlot(tenantId, queue, jobId);
      } catch (thrown) {
        if (thrown instanceof DelayedError) throw thrown;
        const err = asError(thrown);
        // Brigade's own database is away: that says nothing about the job, so it spends no
        // attempt; it waits (delayed, attemptsMade unchanged) and runs again when it can.
        if (isDatabaseUnavailable(err)) await hold(job, token, err);
        const final = err instanceof UnrecoverableError || job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
        try {
          await ledger.failed(record, { message: err.message, stack: err.stack ?? null });
          if (final) await ledger.dead({ ...record, attempt: job.attemptsMade + 1, payload, failedReason: err.message, stacktrace: err.stack ?? null });
        } catch (recordErr) {
          // No job ends failed without a record: a death that cannot be written is held back
          // until the database takes it (the job runs again then, and dies again if it must).
          if (final) await hold(job, token, recordErr);
          log.error({ err: recordErr, job: job.name }, 'could not record the failed attempt');
        }
        observeJobRun(platform, record, final ? 'dead' : 'failed', envelope);
        if (final) {
          log.error({ err, job: job.name, attempts: job.attemptsMade + 1 }, 'job is dead: no attempts left');
          releaseSlot(tenantId, queue, jobId);
        } else {
          log.warn({ err: err.message, job: job.name, attempt: job.attemptsMade + 1 }, 'job attempt failed; it will be retried');
        }
        throw err;
      } finally {
        giveBacks.delete(key);
      }
    }));
  }

  /** Back to the queue, delayed 1-2 s, without spending an attempt; never returns. */
  async function hold(job: Job, token: string | undefined, cause: unknown): Promise<never> {
    const delay = Math.round(HOLD_MS / 2 + Math.random() * (HOLD_MS / 2));
    await job.moveToDelayed(Date.now() + delay, token);
    log.warn({ err: (cause as Error)?.message, job: job.name, retryInMs: delay }, 'the database cannot be reached: job held without spending an attempt');
    throw new DelayedError();
  }

  async function onStalled(queue: string, jobId: string): Promise<void> {
    const found = await deps.queues.get(queue).getJob(jobId);
    if (!found) return;
    const envelope = (found.data ?? {}) as Partial<JobEnvelope>;
    const payload = envelope.payload ?? {};
    const tenantId = typeof payload.tenantId === 'string' ? payload.tenantId : null;
    const record: RunRecord = {
      queue: found.queueName,
      jobId,
      type: found.name,
      tenantId,
      attempt: found.attemptsStarted || found.attemptsMade + 1,
      startedAt: found.processedOn ? new Date(found.processedOn) : null,
      replayOf: envelope.replayOf ?? null,
      jobCreatedAt: new Date(found.timestamp),
    };
    await ledger.stalled(record);
    if ((await found.getState()) === 'failed') {
      // Stalled more often than allowed: BullMQ failed it without running our processor.
      await ledger.dead({ ...record, payload, failedReason: found.failedReason || 'The job stalled more often than allowed.', stacktrace: null });
      observeJobRun(platform, { ...record, startedAt: null }, 'dead', envelope);
      releaseSlot(tenantId, found.queueName, jobId);
    }
  }

  const workers: Worker[] = [];
  for (const name of opts.queues ?? registry.queues) {
    const connection = workerConnection(config.REDIS_URL, log, `brigade-worker-${name}`, config.BRIGADE_REDIS_CLUSTER);
    connections.push(connection);
    const worker = new Worker(name, processor, {
      connection,
      prefix: config.BRIGADE_QUEUE_PREFIX,
      concurrency: opts.concurrency,
      autorun: true,
      stalledInterval: opts.stalledIntervalMs ?? 30_000,
      lockDuration: opts.lockDurationMs ?? 30_000,
      maxStalledCount: 2,
      settings: { backoffStrategy: (attemptsMade, _type, _err, job) => backoffDelay(attemptsMade, (job?.opts.backoff as { delay?: number } | undefined)?.delay ?? config.BRIGADE_JOB_BACKOFF_MS) },
    });
    worker.on('error', (err) => log.warn({ err: err.message, queue: name }, 'worker error'));
    worker.on('stalled', (jobId) => {
      log.warn({ queue: name, stalledJobId: jobId }, 'job stalled (its worker stopped); it goes back to the queue');
      onStalled(name, jobId).catch((err) => log.error({ err }, 'could not record a stalled job'));
    });
    workers.push(worker);
  }
  await Promise.all(workers.map((w) => w.waitUntilReady()));
  log.info({ queues: opts.queues ?? registry.queues, concurrency: opts.concurrency }, 'job workers started');

  return {
    workers,
    async close(drainMs) {
      const timer = setTimeout(() => {
        if (giveBacks.size) log.warn({ running: giveBacks.size }, 'drain time is up: giving running jobs back to the queue');
        shutdown.abort(new Error('The worker is shutting down; this job went back to the queue'));
        for (const giveBack of giveBacks.values()) giveBack();
      }, drainMs);
      try {
        await Promise.all(workers.map((w) => w.close()));
      } finally {
        clearTimeout(timer);
      }
      await ledger.flush();
      await slots.flushReleases().catch((err) => log.warn({ err: err.message }, 'could not release tenant slots; reconcile will'));
      for (const c of connections) c.disconnect();
    },
  };
}
