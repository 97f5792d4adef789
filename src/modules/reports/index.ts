export { reportsService, salesReportCsv, type ReportsService } from './reports.service.ts';
export { reportsRoutes } from './reports.routes.ts';
export { reportSchedulesService, reportJobs, enqueueDueReports, scheduledReportJob, type ReportSchedulesService } from './reports.schedules.ts';
