export { enqueueLater, type LaterOptions } from './outbox.ts';
export {
  defineJob,
  defineSystemJob,
  definePerTenantSchedule,
  type JobContext,
  type JobRun,
  type SystemJobRun,
  type JobOptions,
  type RetryOptions,
  type TenantJobDefinition,
  type SystemJobDefinition,
  type TenantScheduleDefinition,
  type TenantScheduleContext,
  type AnyJobDefinition,
} from './define.ts';
export { createJobRegistry, SYSTEM_QUEUE, type JobRegistry } from './registry.ts';
export { startJobs, type JobsRuntime, type JobsRuntimeOptions } from './runtime.ts';
export { jobsAdmin, listableStates, type JobsAdmin, type Actor, type JobFilter, type JobDetail, type JobSummary, type JobLink, type BulkOutcome, type ListableState } from './admin.ts';
export { runTenantSchedules, dueTimes } from './schedules.ts';
export { cleanUp, dailyCleanup } from './cleanup.ts';
export { backoffDelay } from './queues.ts';
export { addSystemJob } from './system.ts';
export { tenantSlots } from './fairness.ts';
