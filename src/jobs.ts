import { createJobRegistry, dailyCleanup, type AnyJobDefinition, type JobRegistry } from './platform/jobs/index.ts';
import { identityJobs } from './modules/identity/index.ts';
import { memberJobs } from './modules/members/index.ts';
import { inventoryJobs } from './modules/inventory/index.ts';
import { billingJobs } from './modules/billing/index.ts';
import { alertJobs } from './modules/alerts/index.ts';
import { healthJobs } from './modules/health/index.ts';
import { reportJobs } from './modules/reports/index.ts';
import { tenantExportJob, lifecycleJobs } from './modules/lifecycle/index.ts';

/**
 * Every job type and per-tenant schedule Brigade runs: each module exports its list and adds
 * it here (one line each), as routes are added in app.ts.
 */
export const productJobs: AnyJobDefinition[] = [...identityJobs, ...memberJobs, ...inventoryJobs, ...billingJobs, ...alertJobs, ...healthJobs, ...reportJobs, tenantExportJob, ...lifecycleJobs, dailyCleanup];

export function jobRegistry(extra: AnyJobDefinition[] = []): JobRegistry {
  return createJobRegistry([...productJobs, ...extra]);
}
