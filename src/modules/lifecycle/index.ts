export { exportsService, verifyTenantExport, writeTenantExport, tenantTables, tenantExportJob, purgeExpiredExports, type ExportsService, type ExportVerdict } from './lifecycle.export.ts';
export { lifecycleRoutes } from './lifecycle.routes.ts';
export { runRetention, startTenantDeletion, deleteTenantData, deleteTenantNow, lifecycleJobs } from './lifecycle.retention.ts';
export { erasureService, eraseMember, type ErasureService } from './lifecycle.erasure.ts';
