import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Tenancy } from '../../platform/db/index.ts';
import { pageOf } from '../../platform/http/pagination.ts';
import { scopeOf, actions } from '../access/index.ts';
import { auditSourceOfUser } from './audit.service.ts';
import { auditQueries } from './audit.query.ts';
import { verifyAuditChain } from './audit.verify.ts';
import { AuditQuery, AuditExportQuery, AuditEventView, AuditExportFile, ChainVerdictView } from './audit.schemas.ts';

export async function auditRoutes(app: FastifyInstance, opts: { tenancy: Tenancy }) {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();
  const queries = auditQueries(opts.tenancy);

  r.get('/v1/audit-events', {
    config: { access: { action: 'audit.read', branch: 'tenant' } },
    schema: {
      tags: ['audit'],
      summary: 'The audit log, newest first (filters: action, actorId, target, from, to)',
      querystring: AuditQuery,
      response: { 200: pageOf(AuditEventView) },
    },
    handler: async (req) => queries.listAuditEvents(scopeOf(req), req.query),
  });

  r.get('/v1/audit-events/export', {
    config: { access: { action: 'audit.export', branch: 'tenant', entitlement: { feature: 'audit_export' } } },
    schema: {
      tags: ['audit'],
      summary: 'Download the filtered audit log as CSV or JSON Lines, oldest first (the export is itself audited)',
      querystring: AuditExportQuery,
      response: { 200: AuditExportFile },
    },
    handler: async (req, reply) => {
      const scope = scopeOf(req);
      const stream = await queries.exportAuditEvents(auditSourceOfUser(scope), req.query, actions['audit.export'].permission);
      const csv = req.query.format === 'csv';
      const stamp = new Date().toISOString().slice(0, 19).replace(/[-:]/g, '');
      return reply
        .type(csv ? 'text/csv; charset=utf-8' : 'application/jsonl; charset=utf-8')
        .header('Content-Disposition', `attachment; filename="audit-${scope.tenant.slug}-${stamp}.${csv ? 'csv' : 'jsonl'}"`)
        .header('Cache-Control', 'no-store')
        .send(stream);
    },
  });

  r.get('/v1/audit-events/verification', {
    config: { access: { action: 'audit.read', branch: 'tenant' } },
    schema: { tags: ['audit'], summary: 'Recompute the log\'s hash chain and name the first altered or missing event', response: { 200: ChainVerdictView } },
    handler: async (req) => verifyAuditChain(opts.tenancy, scopeOf(req).tenantId),
  });
}
