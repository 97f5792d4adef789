import { defineSystemJob } from '../../platform/jobs/index.ts';
import { evaluate, refreshBaselines } from './health.evaluate.ts';
import { rollUp } from './health.rollups.ts';

/**
 * The health module's scheduled work (each a system job: retried, dead-lettered, visible):
 *   health.evaluate    every minute      last-hour figures, rules, alerts, notifications
 *   health.rollup      every 5 minutes   minutes into hours and days; expiry
 *   health.baselines   hourly, at :02    each tenant's expectation for the hour
 * Each takes its time from the clock it is given, so tests and the simulation move time.
 */
export const evaluateJob = defineSystemJob(
  'health.evaluate',
  async (run) => {
    const summary = await evaluate(run.platform);
    if (summary.opened || summary.resolved) run.log.info(summary, 'health: alerts opened or resolved');
  },
  { schedule: { every: 60_000 }, attempts: 2 },
);

export const rollupJob = defineSystemJob(
  'health.rollup',
  async (run) => {
    const summary = await rollUp(run.platform);
    if (summary.hours || summary.days) run.log.info(summary, 'health: signals rolled up');
  },
  { schedule: { every: 5 * 60_000 }, attempts: 3 },
);

export const baselinesJob = defineSystemJob(
  'health.baselines',
  async (run) => {
    const summary = await refreshBaselines(run.platform);
    run.log.info(summary, 'health: baselines refreshed');
  },
  { schedule: { pattern: '2 * * * *', tz: 'UTC' }, attempts: 3 },
);

export const healthJobs = [evaluateJob, rollupJob, baselinesJob];
