/**
 * The health module's door: per-tenant figures over time (rollups, baselines, the rules that
 * raise alerts on them) and the tenant-aware operations API.
 */
export { healthOps, seriesRange, type HealthOps } from './health.ops.ts';
export { healthRoutes } from './health.routes.ts';
export { evaluate, refreshBaselines, settleMs, tenantRules, type EvaluationSummary } from './health.evaluate.ts';
export { rollUp, expireSignals } from './health.rollups.ts';
export { healthJobs, evaluateJob, rollupJob, baselinesJob } from './health.jobs.ts';
export { baselineFor, expectedRequests, expectedRateAt, RECENT_HOURS, type Baseline, type HourSample, type TenantHistory } from './health.baselines.ts';
export { tenantVerdicts, errorRateVerdict, trafficDropVerdict, trafficSurgeVerdict, shareVerdict, fallbackBaseline, QUIET_MS, type Verdict, type TenantWindows, type PlatformWindow } from './health.rules.ts';
export { healthGauges } from './health.metrics.ts';
