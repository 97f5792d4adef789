import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { pageOf } from '../../platform/http/pagination.ts';
import { scopeOf, operatorOf } from '../access/index.ts';
import { auditPageIn, AuditQuery, AuditEventView } from '../audit/index.ts';
import { MembersQuery, MemberView, type MembersService } from '../members/index.ts';
import { GrantSupportBody, SupportGrantResponse, SupportGrantsQuery, SupportGrantView, GrantParams, TenantParams, OpenGrantPage } from './support.schemas.ts';
import type { SupportService } from './support.service.ts';

export async function supportRoutes(app: FastifyInstance, opts: { support: SupportService; members: MembersService }) {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();
  const { support, members } = opts;

  r.post('/v1/support-grants', {
    config: { access: { action: 'support_access.manage', branch: 'tenant' }, idempotent: true },
    schema: {
      tags: ['support'],
      summary: 'Let Brigade support read this business\'s data until a time (audited)',
      body: GrantSupportBody,
      response: { 201: SupportGrantResponse },
    },
    handler: async (req, reply) => reply.code(201).send(await support.grantSupportAccess(scopeOf(req), req.body)),
  });

  r.get('/v1/support-grants', {
    config: { access: { action: 'support_access.manage', branch: 'tenant' } },
    schema: { tags: ['support'], summary: 'Support access given, newest first', querystring: SupportGrantsQuery, response: { 200: pageOf(SupportGrantView) } },
    handler: async (req) => support.listSupportGrants(scopeOf(req), req.query),
  });

  r.delete('/v1/support-grants/:id', {
    config: { access: { action: 'support_access.manage', branch: 'tenant' } },
    schema: { tags: ['support'], summary: 'End support access at once (audited)', params: GrantParams, response: { 204: Type.Null({ description: 'Access ended' }) } },
    handler: async (req, reply) => {
      await support.revokeSupportAccess(scopeOf(req), req.params.id);
      return reply.code(204).send(null);
    },
  });

  r.get('/ops/api/support-grants', {
    config: { access: { operator: true } },
    schema: { tags: ['ops'], summary: 'Businesses that have granted support access now', response: { 200: OpenGrantPage } },
    handler: async () => support.openGrants(),
  });

  r.get('/ops/api/tenants/:tenantId/members', {
    config: { access: { operator: true }, activity: 'support.read_members' },
    schema: {
      tags: ['ops'],
      summary: 'A business\'s members, under its support grant (written into its audit log)',
      params: TenantParams,
      querystring: MembersQuery,
      response: { 200: pageOf(MemberView) },
    },
    handler: async (req) =>
      support.readAsOperator(operatorOf(req), req.params.tenantId, { resource: 'members', query: req.query }, (trx) =>
        members.membersPageIn(trx, req.params.tenantId, req.query),
      ),
  });

  r.get('/ops/api/tenants/:tenantId/audit-events', {
    config: { access: { operator: true }, activity: 'support.read_audit_events' },
    schema: {
      tags: ['ops'],
      summary: 'A business\'s audit log, under its support grant (the reading itself is logged there)',
      params: TenantParams,
      querystring: AuditQuery,
      response: { 200: pageOf(AuditEventView) },
    },
    handler: async (req) =>
      support.readAsOperator(operatorOf(req), req.params.tenantId, { resource: 'audit_events', query: req.query }, (trx) =>
        auditPageIn(trx, req.params.tenantId, req.query),
      ),
  });
}
