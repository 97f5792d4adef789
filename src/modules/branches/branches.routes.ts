import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { scopeOf } from '../access/index.ts';
import { IdParams } from '../../platform/http/schemas.ts';
import { CreateBranchBody, UpdateBranchBody, ListBranchesQuery, BranchResponse, BranchPage } from './branches.schemas.ts';
import type { BranchesService } from './branches.service.ts';

export async function branchesRoutes(app: FastifyInstance, opts: { branches: BranchesService }) {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();
  const { branches } = opts;
  const tags = ['branches'];

  r.get('/v1/branches', {
    config: { access: { permission: 'branches.read', branch: 'list' } },
    schema: { tags, summary: 'Branches the caller may see', querystring: ListBranchesQuery, response: { 200: BranchPage } },
    handler: async (req) => branches.listBranches(scopeOf(req), req.query),
  });

  r.post('/v1/branches', {
    config: { access: { action: 'branches.manage', branch: 'tenant', entitlement: { limit: 'branches' } }, idempotent: true },
    schema: { tags, summary: 'Open a branch', body: CreateBranchBody, response: { 201: BranchResponse } },
    handler: async (req, reply) => reply.code(201).send({ branch: await branches.openBranch(scopeOf(req), req.body) }),
  });

  r.get('/v1/branches/:id', {
    config: { access: { permission: 'branches.read', branch: (req) => (req.params as { id: string }).id } },
    schema: { tags, summary: 'One branch', params: IdParams, response: { 200: BranchResponse } },
    handler: async (req) => ({ branch: await branches.getBranch(scopeOf(req), req.params.id) }),
  });

  r.patch('/v1/branches/:id', {
    config: { access: { action: 'branches.manage', branch: 'tenant' } },
    schema: { tags, summary: 'Rename, move or change the time zone of a branch', params: IdParams, body: UpdateBranchBody, response: { 200: BranchResponse } },
    handler: async (req) => ({ branch: await branches.updateBranch(scopeOf(req), req.params.id, req.body) }),
  });

  r.delete('/v1/branches/:id', {
    config: { access: { action: 'branches.manage', branch: 'tenant' } },
    schema: {
      tags,
      summary: 'Close a branch',
      description: 'A branch with history (orders, stock movements, members) is archived and returned (200); one without is deleted (204).',
      params: IdParams,
      response: { 200: BranchResponse, 204: Type.Null({ description: 'Deleted' }) },
    },
    handler: async (req, reply) => {
      const archived = await branches.closeBranch(scopeOf(req), req.params.id);
      return archived ? reply.send({ branch: archived }) : reply.code(204).send(null);
    },
  });
}
