import crypto from 'node:crypto';
import { sql } from 'kysely';
import type { Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Platform } from '../deps.ts';
import type { Logger } from '../log.ts';
import type { JobRegistry } from './registry.ts';
import type { JobLedger } from './ledger.ts';
import { markFinished } from './ledger.ts';
import { within, type JobEnvelope, type QueueSet } from './queues.ts';

export interface RecoveryResult {
  checked: number;
  /** Relayed again: Redis no longer knew them. */
  requeued: number;
  /** Finished in Redis while their record was lost: now marked finished. */
  finished: number;
  /** Failed in Redis without a dead-job record: now recorded. */
  dead: number;
}

/**
 * What the outbox knows and Redis may have lost. A row relayed and not finished names a job
 * Redis should hold; for each such row older than `olderThanMs`:
 * - Redis does not know the job (it restarted without its data): the row is relayed again,
 *   with the same job id;
 * - the job completed, or failed for good, while its record could not be written: the record
 *   is written now (a dead job then shows in the ops dead list and the queue counts).
 */
export async function recoverOutbox(
  deps: { platform: Platform; registry: JobRegistry; queues: QueueSet; ledger: JobLedger; log: Logger },
  opts: { olderThanMs: number; batch?: number; redisTimeoutMs?: number },
): Promise<RecoveryResult> {
  const { platform, registry, queues, ledger, log } = deps;
  const batch = opts.batch ?? 500;
  const timeout = opts.redisTimeoutMs ?? 5000;
  const result: RecoveryResult = { checked: 0, requeued: 0, finished: 0, dead: 0 };
  let after: { relayedAt: Date; id: string } | null = null;
  for (;;) {
    const cursor = after;
    const rows = await platform.tenancy.withSystem('jobs: find relayed outbox rows that have not finished', (trx) => {
      let q = trx
        .selectFrom('outbox')
        .select(['tenant_id', 'id', 'type', 'relayed_at'])
        .where('relayed_at', 'is not', null)
        .where('finished_at', 'is', null)
        .where('relayed_at', '<', new Date(Date.now() - opts.olderThanMs));
      if (cursor) q = q.where(sql<boolean>`(relayed_at, id) > (${cursor.relayedAt}, ${cursor.id}::uuid)`);
      return q.orderBy('relayed_at').orderBy('id').limit(batch).execute();
    });
    if (rows.length === 0) break;
    result.checked += rows.length;
    const lost: [string, string][] = [];
    const done: [string, string][] = [];
    const states = await within(Promise.all(rows.map((r) => queues.get(registry.queueOf(r.type)).getJobState(r.id))), timeout, 'reading job states from Redis');
    for (const [i, r] of rows.entries()) {
      const state = states[i];
      if (state === 'unknown') lost.push([r.tenant_id, r.id]);
      else if (state === 'completed') done.push([r.tenant_id, r.id]);
      else if (state === 'failed') {
        const job = (await queues.get(registry.queueOf(r.type)).getJob(r.id)) as Job | undefined;
        if (!job) continue;
        const env = (job.data ?? {}) as Partial<JobEnvelope>;
        await ledger.dead({
          queue: job.queueName,
          jobId: r.id,
          type: job.name,
          tenantId: r.tenant_id,
          attempt: job.attemptsMade,
          startedAt: job.processedOn ? new Date(job.processedOn) : null,
          replayOf: env.replayOf ?? null,
          jobCreatedAt: new Date(job.timestamp),
          payload: env.payload ?? {},
          failedReason: job.failedReason || 'The job failed while its record could not be written.',
          stacktrace: job.stacktrace?.join('\n') || null,
        });
        result.dead++;
      }
    }
    if (lost.length || done.length) {
      await platform.tenancy.withSystem('jobs: relay again what Redis lost', async (trx) => {
        if (lost.length) {
          await sql`
            UPDATE outbox o SET relayed_at = NULL
            FROM unnest(${lost.map((j) => j[0])}::uuid[], ${lost.map((j) => j[1])}::uuid[]) AS l(tenant_id, id)
            WHERE o.tenant_id = l.tenant_id AND o.id = l.id AND o.finished_at IS NULL`.execute(trx);
        }
        await markFinished(trx, done);
      });
    }
    result.requeued += lost.length;
    result.finished += done.length;
    if (rows.length < batch) break;
    const last = rows.at(-1)!;
    after = { relayedAt: last.relayed_at!, id: last.id };
  }
  if (result.requeued || result.finished || result.dead) log.warn(result, 'outbox recovery: Redis had lost jobs or their records; put right');
  return result;
}

/**
 * Notices a Redis that came back without its data: a marker key with no expiry. Each process
 * remembers the marker it last saw; a missing or different marker means whatever Redis held
 * before is gone (the first process to look writes a new one), so every process recovers what
 * it is responsible for (the relay its outbox rows, a scheduler process the schedules).
 */
export function redisEpoch(redis: Redis, prefix: string) {
  const key = `${prefix}:epoch`;
  let seen: string | null = null;
  return {
    /** True when Redis lost its data since this process last looked (or was empty at the first look). */
    async lost(): Promise<boolean> {
      const results = (await redis.multi().set(key, `${Date.now()}:${crypto.randomUUID()}`, 'NX').get(key).exec()) ?? [];
      for (const [err] of results) if (err) throw err;
      const created = results[0]?.[1] === 'OK';
      const current = String(results[1]?.[1]);
      const lost = seen === null ? created : current !== seen;
      seen = current;
      return lost;
    },
  };
}
