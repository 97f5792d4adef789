import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { IdParams } from '../../platform/http/schemas.ts';
import { scopeOf } from '../access/index.ts';
import { ExportResponse } from './lifecycle.schemas.ts';
import type { ExportsService } from './lifecycle.export.ts';
import type { ErasureService } from './lifecycle.erasure.ts';

export async function lifecycleRoutes(app: FastifyInstance, opts: { exports: ExportsService; erasure: ErasureService }) {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();
  const { exports, erasure } = opts;

  r.post('/v1/members/:id/erasure', {
    config: { access: { action: 'members.erase', branch: 'tenant' } },
    schema: {
      tags: ['lifecycle'],
      summary: 'Erase a member\'s personal data: name and address pseudonymised everywhere, signed out; orders and the audit chain stay whole',
      params: IdParams,
      response: { 200: Type.Object({ erased: Type.Boolean({ description: 'false: already erased' }), auditEvents: Type.Integer({ description: 'Audit events rewritten' }) }) },
    },
    handler: async (req) => erasure.eraseMemberAsOwner(scopeOf(req), req.params.id),
  });

  r.post('/v1/exports', {
    config: { access: { action: 'tenant.export', branch: 'tenant' } },
    schema: { tags: ['lifecycle'], summary: 'Export every table of the business and its audit log (built by a job; audited)', response: { 202: ExportResponse } },
    handler: async (req, reply) => reply.code(202).send(await exports.requestExport(scopeOf(req))),
  });

  r.get('/v1/exports/:id', {
    config: { access: { action: 'tenant.export', branch: 'tenant' } },
    schema: { tags: ['lifecycle'], summary: 'An export: pending, ready (with its download link) or expired', params: IdParams, response: { 200: ExportResponse } },
    handler: async (req) => exports.getExport(scopeOf(req), req.params.id),
  });

  r.get('/v1/exports/:id/download', {
    config: { access: { action: 'tenant.export', branch: 'tenant' } },
    schema: {
      tags: ['lifecycle'],
      summary: 'Download an export until its link expires (audited): gzip of JSON Lines',
      params: IdParams,
      response: { 200: Type.String({ description: 'application/gzip: header, one line per row, trailer' }) },
    },
    handler: async (req, reply) => {
      const { stream, bytes } = await exports.downloadExport(scopeOf(req), req.params.id);
      return reply
        .type('application/gzip')
        .header('content-length', String(bytes))
        .header('content-disposition', `attachment; filename="brigade-export-${req.params.id}.jsonl.gz"`)
        .send(stream as never);
    },
  });
}
