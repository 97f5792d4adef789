export { exportsService, verifyTenantExport, writeTenantExport, tenantTables, tenantExportJob, type ExportsService, type ExportVerdict } from './lifecycle.export.ts';
export { lifecycleRoutes } from './lifecycle.routes.ts';
