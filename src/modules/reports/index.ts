export { reportsService, salesReportCsv, type ReportsService } from './reports.service.ts';
export { reportsRoutes } from './reports.routes.ts';
