import type { Platform } from '../deps.ts';
import type { RunRecord } from './ledger.ts';
import type { JobEnvelope } from './queues.ts';

export type RunOutcome = 'completed' | 'failed' | 'dead';

/**
 * Where a job attempt finishes: its Prometheus counts (by queue, type and outcome) and its
 * tenant's signals (runs, failures, dead letters, time, and the wait from due to first start).
 */
export function observeJobRun(platform: Platform, record: RunRecord, outcome: RunOutcome, envelope: Partial<JobEnvelope>): void {
  const ms = record.startedAt ? Date.now() - record.startedAt.getTime() : 0;
  const waitMs = record.attempt === 1 && record.startedAt && typeof envelope.dueAt === 'number' ? Math.max(0, record.startedAt.getTime() - envelope.dueAt) : null;
  const labels = { queue: record.queue, type: record.type, state: outcome };
  platform.metrics.jobs.inc(labels);
  if (record.startedAt) platform.metrics.jobDuration.observe(labels, ms / 1000);
  if (waitMs !== null) platform.metrics.jobWait.observe({ queue: record.queue }, waitMs / 1000);
  platform.signals.jobRun(record.tenantId, outcome, ms, waitMs);
}
