import { sql } from 'kysely';
import type { Platform } from '../deps.ts';
import type { Tx } from '../db/index.ts';
import { defineSystemJob } from './define.ts';

export type CleanupCounts = Record<string, number>;

/**
 * Deletes what has served its purpose: expired or long-revoked sessions, expired idempotency
 * keys and password tokens, relayed outbox rows, finished job records and caught mails older
 * than BRIGADE_JOB_RETENTION_DAYS. Dead jobs stay until replayed or discarded (then age out),
 * and so does the history of their attempts. Each kind is its own statement and transaction,
 * so one failure does not hold back the rest.
 */
export async function cleanUp(platform: Platform, now = new Date()): Promise<CleanupCounts> {
  const before = new Date(now.getTime() - platform.config.BRIGADE_JOB_RETENTION_DAYS * 86_400_000);
  const steps: [string, string, (trx: Tx) => Promise<{ numDeletedRows: bigint }>][] = [
    ['sessions', 'expired or long-revoked sessions', (trx) =>
      trx.deleteFrom('sessions').where((eb) => eb.or([eb('expires_at', '<', now), eb('revoked_at', '<', before)])).executeTakeFirst()],
    ['operatorSessions', 'expired operator sessions', (trx) =>
      trx.deleteFrom('operator_sessions').where((eb) => eb.or([eb('expires_at', '<', now), eb('revoked_at', '<', before)])).executeTakeFirst()],
    ['idempotencyKeys', 'expired idempotency keys', (trx) => trx.deleteFrom('idempotency_keys').where('expires_at', '<', now).executeTakeFirst()],
    ['anonymousIdempotencyKeys', 'expired anonymous idempotency keys', (trx) => trx.deleteFrom('anonymous_idempotency_keys').where('expires_at', '<', now).executeTakeFirst()],
    ['passwordTokens', 'expired password tokens', (trx) => trx.deleteFrom('password_tokens').where('expires_at', '<', before).executeTakeFirst()],
    ['outbox', 'finished outbox rows', (trx) => trx.deleteFrom('outbox').where('finished_at', '<', before).executeTakeFirst()],
    ['jobRuns', 'finished job attempts', (trx) =>
      trx
        .deleteFrom('job_runs')
        .where('finished_at', '<', before)
        .where(({ not, exists, selectFrom }) =>
          not(exists(selectFrom('dead_jobs as d').select(sql`1`.as('one')).whereRef('d.queue', '=', 'job_runs.queue').whereRef('d.job_id', '=', 'job_runs.job_id').where('d.resolved_at', 'is', null))),
        )
        .executeTakeFirst()],
    ['deadJobs', 'replayed or discarded dead jobs', (trx) => trx.deleteFrom('dead_jobs').where('resolved_at', '<', before).executeTakeFirst()],
    ['caughtMails', 'caught mails', (trx) => trx.deleteFrom('caught_mails').where('created_at', '<', before).executeTakeFirst()],
    ['mailDeliveries', 'mail delivery records', (trx) => trx.deleteFrom('mail_deliveries').where('sent_at', '<', before).executeTakeFirst()],
    ['tenantScheduleRuns', 'per-tenant schedule markers', (trx) => trx.deleteFrom('tenant_schedule_runs').where('ran_at', '<', before).executeTakeFirst()],
  ];
  const counts: CleanupCounts = {};
  const errors: string[] = [];
  for (const [key, what, step] of steps) {
    try {
      const r = await platform.tenancy.withSystem(`cleanup: ${what}`, step);
      counts[key] = Number(r.numDeletedRows);
    } catch (err) {
      errors.push(`${what}: ${(err as Error).message}`);
    }
  }
  if (errors.length) throw new Error(`Cleanup failed for ${errors.join('; ')}`);
  return counts;
}

export const dailyCleanup = defineSystemJob(
  'system.cleanup',
  async (run) => {
    const counts = await cleanUp(run.platform);
    run.log.info({ deleted: counts }, 'daily cleanup done');
  },
  { schedule: { pattern: '17 3 * * *', tz: 'UTC' }, attempts: 3 },
);
