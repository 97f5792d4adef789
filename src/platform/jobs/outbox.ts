import type { Tx } from '../db/index.ts';
import { currentTraceparent } from '../telemetry.ts';

export interface LaterOptions {
  /** Run no earlier than this. */
  runAt?: Date;
}

/**
 * Writes a job into the outbox inside the caller's transaction: the job exists exactly when
 * the change that asked for it commits. The relay moves it to the queue with the outbox id as
 * the job id, so a crash in between loses nothing and enqueues nothing twice.
 */
export async function enqueueLater(
  trx: Tx,
  tenantId: string,
  type: string,
  payload: Record<string, unknown>,
  opts: LaterOptions = {},
): Promise<string> {
  const row = await trx
    .insertInto('outbox')
    .values({
      tenant_id: tenantId,
      type,
      payload: JSON.stringify({ ...payload, tenantId }),
      // The job's span will belong to this request's (or job's) trace.
      trace_context: currentTraceparent(),
      ...(opts.runAt ? { run_at: opts.runAt } : {}),
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  return row.id;
}
