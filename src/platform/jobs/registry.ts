import type { AnyJobDefinition, SystemJobDefinition, TenantJobDefinition, TenantScheduleDefinition } from './define.ts';
import { tenantScheduleRunner } from './schedules.ts';

export const SYSTEM_QUEUE = 'system';

export interface JobRegistry {
  /** Every queue a worker serves, `system` included. */
  queues: string[];
  lookup(type: string): TenantJobDefinition<any> | SystemJobDefinition | undefined;
  /** The queue a type runs on. Unknown types go to `system`, whose worker declares them dead. */
  queueOf(type: string): string;
  systemJobs: SystemJobDefinition[];
  schedules: TenantScheduleDefinition[];
  types: string[];
}

/** The job types one process knows, built from an explicit list (src/jobs.ts): no global state. */
export function createJobRegistry(definitions: AnyJobDefinition[]): JobRegistry {
  const jobs = new Map<string, TenantJobDefinition<any> | SystemJobDefinition>();
  const schedules = new Map<string, TenantScheduleDefinition>();
  for (const d of definitions) {
    if (d.kind === 'tenant-schedule') {
      if (schedules.has(d.name)) throw new Error(`Per-tenant schedule "${d.name}" is defined twice`);
      schedules.set(d.name, d);
      continue;
    }
    if (jobs.has(d.type)) throw new Error(`Job type "${d.type}" is defined twice`);
    if (!/^[a-z][a-z0-9_-]{0,40}$/.test(d.queue)) throw new Error(`Queue name "${d.queue}" of ${d.type} is not a plain lower-case name`);
    jobs.set(d.type, d);
  }
  if (schedules.size) {
    const runner = tenantScheduleRunner([...schedules.values()]);
    if (!jobs.has(runner.type)) jobs.set(runner.type, runner);
  }
  const queues = [...new Set([SYSTEM_QUEUE, ...[...jobs.values()].map((j) => j.queue)])].sort();
  return {
    queues,
    lookup: (type) => jobs.get(type),
    queueOf: (type) => jobs.get(type)?.queue ?? SYSTEM_QUEUE,
    systemJobs: [...jobs.values()].filter((j): j is SystemJobDefinition => j.kind === 'system'),
    schedules: [...schedules.values()],
    types: [...jobs.keys()].sort(),
  };
}
