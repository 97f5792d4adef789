/** The job types of bench/jobs.bench.ts, shared with its worker processes (bench/jobs-worker.ts). */
import { Type } from 'typebox';
import { defineJob } from '../src/platform/jobs/index.ts';

/** A mail-like job's time waiting on another server. */
export const WORK_MS = 20;

/** `bench.tick` does nothing but report; `bench.work` waits WORK_MS first, as a mail would. */
export function benchJobs(arrive: (jobId: string) => void) {
  return [
    defineJob('bench.tick', Type.Object({ n: Type.Integer() }), async (job) => arrive(job.jobId)),
    defineJob('bench.work', Type.Object({ n: Type.Integer() }), async (job) => {
      await new Promise((r) => setTimeout(r, WORK_MS));
      arrive(job.jobId);
    }),
  ];
}
