import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { scopeOf, assertEntitled, canSomewhere, branchFromBody } from '../access/index.ts';
import { pageOf, PageQuery } from '../../platform/http/pagination.ts';
import { IdParams } from '../../platform/http/schemas.ts';
import { SalesReportQuery, SalesReportResponse, CreateReportScheduleBody, ReportScheduleResponse, ReportScheduleView } from './reports.schemas.ts';
import { salesReportCsv, type ReportsService } from './reports.service.ts';
import type { ReportSchedulesService } from './reports.schedules.ts';

/** CSV when the client asks for it by name and prefers it to JSON (q-values honoured). */
function wantsCsv(req: FastifyRequest): boolean {
  const accept = req.headers.accept;
  if (!accept) return false;
  let csv = -1;
  let json = -1;
  for (const part of accept.split(',')) {
    const [type = '', ...params] = part.trim().toLowerCase().split(';');
    const q = Number(params.map((p) => p.trim()).find((p) => p.startsWith('q='))?.slice(2) ?? '1');
    if (type === 'text/csv') csv = Math.max(csv, q);
    if (type === 'application/json' || type === 'application/*' || type === '*/*') json = Math.max(json, q);
  }
  return csv > 0 && csv >= json;
}

export async function reportsRoutes(app: FastifyInstance, opts: { reports: ReportsService; schedules: ReportSchedulesService }) {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();
  const { reports, schedules } = opts;

  r.post('/v1/report-schedules', {
    config: { access: { action: 'reports.export', branch: branchFromBody, entitlement: { feature: 'scheduled_reports', limit: 'scheduledReports' } } },
    schema: {
      tags: ['reports'],
      summary: 'Mail a sales report to members at a local hour, daily, weekly or monthly (audited; counts against the plan)',
      body: CreateReportScheduleBody,
      response: { 201: ReportScheduleResponse },
    },
    handler: async (req, reply) => reply.code(201).send(await schedules.createReportSchedule(scopeOf(req), req.body)),
  });

  r.get('/v1/report-schedules', {
    config: { access: { action: 'reports.export', branch: 'list' } },
    schema: { tags: ['reports'], summary: 'Scheduled reports, newest first, with their last run', querystring: Type.Object(PageQuery, { additionalProperties: false }), response: { 200: pageOf(ReportScheduleView) } },
    handler: async (req) => schedules.listReportSchedules(scopeOf(req), req.query),
  });

  r.delete('/v1/report-schedules/:id', {
    config: { access: { action: 'reports.export', branch: (req, scope) => schedules.scheduleBranch(scope, (req.params as { id: string }).id) } },
    schema: { tags: ['reports'], summary: 'Stop a scheduled report (audited)', params: IdParams, response: { 204: Type.Null({ description: 'Deleted; no further mails' }) } },
    handler: async (req, reply) => {
      await schedules.deleteReportSchedule(scopeOf(req), req.params.id);
      return reply.code(204).send(null);
    },
  });

  r.get('/v1/reports/sales', {
    config: { access: { action: 'reports.view', branch: 'list' } },
    schema: {
      tags: ['reports'],
      summary: 'Sales by day, branch or item, in the business\'s time zone',
      description:
        'Sales count when paid, refunds when refunded; net = gross - refunds. `Accept: text/csv` downloads the same report as CSV, ' +
        'which needs reports.export and is audited.',
      querystring: SalesReportQuery,
      response: { 200: SalesReportResponse },
    },
    handler: async (req, reply) => {
      const csv = wantsCsv(req);
      // The permission first (the service answers 403 without it), then the plan.
      if (csv && canSomewhere(scopeOf(req).grants, 'reports.export')) await assertEntitled(req, { feature: 'reports.export' });
      const report = await reports.salesReport(scopeOf(req), req.query, { export: csv });
      if (!csv) return report;
      const name = `sales-${report.groupBy}-${report.from.slice(0, 10)}-${report.to.slice(0, 10)}.csv`;
      return reply.type('text/csv; charset=utf-8').header('content-disposition', `attachment; filename="${name}"`).send(salesReportCsv(report) as never); // the typed reply knows only the JSON shape
    },
  });
}
