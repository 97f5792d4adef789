import { Queue } from 'bullmq';
import type { Platform } from '../deps.ts';
import type { SystemJobDefinition } from './define.ts';
import { SYSTEM_QUEUE } from './registry.ts';
import { jobOptionsOf, type JobEnvelope } from './queues.ts';
import { currentTraceparent } from '../telemetry.ts';

const queues = new WeakMap<Platform, Queue>();

/**
 * Adds one run of a system job (work that belongs to no tenant, such as an alert's
 * notification) straight to the system queue. There is no outbox for platform work, so the
 * caller keeps its own record of what must run and calls this again until it ran: `jobId` makes
 * a repeated add a no-op while the job exists.
 */
export async function addSystemJob(platform: Platform, def: SystemJobDefinition, payload: Record<string, unknown>, jobId: string): Promise<void> {
  let queue = queues.get(platform);
  if (!queue) {
    queue = new Queue(SYSTEM_QUEUE, { connection: platform.redis, prefix: platform.config.BRIGADE_QUEUE_PREFIX });
    queue.on('error', () => undefined);
    queues.set(platform, queue);
  }
  const envelope: JobEnvelope = { payload, trace: currentTraceparent(), dueAt: Date.now() };
  await queue.add(def.type, envelope, jobOptionsOf(platform.config, def, { jobId }));
}
