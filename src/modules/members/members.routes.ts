import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { scopeOf } from '../access/index.ts';
import { clientMeta, SessionResponse } from '../identity/index.ts';
import { pageOf } from '../../platform/http/pagination.ts';
import {
  MemberView,
  MemberResponse,
  MembersQuery,
  MemberParams,
  CreateMemberBody,
  ChangeRolesBody,
  AcceptInvitationBody,
  RoleView,
  CreateRoleBody,
  RolesQuery,
  RoleParams,
  UpdateRoleBody,
  InvitationResent,
} from './members.schemas.ts';
import type { MembersService } from './members.service.ts';
import type { RolesService } from './roles.service.ts';

/*
 * Members routes declare members.read / members.manage with branch 'list': who a change may
 * touch depends on the roles in the body and the member's current roles, which the service
 * judges (access/delegation.ts) inside the transaction that makes the change.
 */
export async function membersRoutes(app: FastifyInstance, opts: { members: MembersService; roles: RolesService }) {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();
  const { members, roles } = opts;

  r.get('/v1/members', {
    config: { access: { action: 'members.read', branch: 'list' } },
    schema: {
      tags: ['members'],
      summary: 'Members of the business (a branch-scoped reader sees the members of their branches)',
      querystring: MembersQuery,
      response: { 200: pageOf(MemberView) },
    },
    handler: async (req) => members.listMembers(scopeOf(req), req.query),
  });

  r.get('/v1/members/:id', {
    config: { access: { action: 'members.read', branch: 'list' } },
    schema: { tags: ['members'], summary: 'One member', params: MemberParams, response: { 200: MemberResponse } },
    handler: async (req) => members.getMember(scopeOf(req), req.params.id),
  });

  r.post('/v1/members', {
    config: { access: { action: 'members.manage', branch: 'list', entitlement: { limit: 'members' } }, idempotent: true },
    schema: {
      tags: ['members'],
      summary: 'Add a member: with a password they can log in at once, without one they are invited by e-mail',
      body: CreateMemberBody,
      response: { 201: MemberResponse },
    },
    handler: async (req, reply) => reply.code(201).send(await members.createMember(scopeOf(req), req.body)),
  });

  r.put('/v1/members/:id/roles', {
    config: { access: { action: 'members.manage', branch: 'list' } },
    schema: { tags: ['members'], summary: 'Replace a member\'s roles (audited)', params: MemberParams, body: ChangeRolesBody, response: { 200: MemberResponse } },
    handler: async (req) => members.changeRoles(scopeOf(req), req.params.id, req.body),
  });

  r.delete('/v1/members/:id', {
    config: { access: { action: 'members.manage', branch: 'list' } },
    schema: { tags: ['members'], summary: 'Remove a member: their tokens die at once (audited)', params: MemberParams, response: { 204: Type.Null({ description: 'Removed' }) } },
    handler: async (req, reply) => {
      await members.removeMember(scopeOf(req), req.params.id);
      return reply.code(204).send(null);
    },
  });

  r.post('/v1/members/:id/invitation', {
    config: { access: { action: 'members.manage', branch: 'list' } },
    schema: {
      tags: ['members'],
      summary: 'Send an invited member a new invitation: a new link, the previous one stops working (rate-limited per member)',
      params: MemberParams,
      response: { 202: InvitationResent },
    },
    handler: async (req, reply) => reply.code(202).send(await members.resendInvitation(scopeOf(req), req.params.id)),
  });

  r.post('/v1/invitations/accept', {
    config: { access: { public: true }, clientRateLimit: true },
    schema: { tags: ['members'], summary: 'Accept an e-mailed invitation: set a password and get a token', body: AcceptInvitationBody, response: { 200: SessionResponse } },
    handler: async (req) => members.acceptInvitation(req.body, clientMeta(req)),
  });

  // Role definitions are no secret: whoever picks a role for someone needs to read them.
  r.get('/v1/roles', {
    config: { access: { authenticated: true } },
    schema: { tags: ['members'], summary: 'System and custom roles with their permissions', querystring: RolesQuery, response: { 200: pageOf(RoleView) } },
    handler: async (req) => roles.listRoles(scopeOf(req), req.query),
  });

  r.post('/v1/roles', {
    config: { access: { action: 'roles.manage', branch: 'tenant', entitlement: { feature: 'custom_roles' } }, idempotent: true },
    schema: { tags: ['members'], summary: 'Define a custom role from catalogue permissions', body: CreateRoleBody, response: { 201: RoleView } },
    handler: async (req, reply) => reply.code(201).send(await roles.createRole(scopeOf(req), req.body)),
  });

  r.patch('/v1/roles/:key', {
    config: { access: { action: 'roles.manage', branch: 'tenant', entitlement: { feature: 'custom_roles' } } },
    schema: { tags: ['members'], summary: 'Change a custom role (audited); its holders get the new permissions at once', params: RoleParams, body: UpdateRoleBody, response: { 200: RoleView } },
    handler: async (req) => roles.updateRole(scopeOf(req), req.params.key, req.body),
  });

  // No plan check: a business that left a plan with custom roles may still clean them up.
  r.delete('/v1/roles/:key', {
    config: { access: { action: 'roles.manage', branch: 'tenant' } },
    schema: { tags: ['members'], summary: 'Delete a custom role nobody holds (409 role_in_use otherwise; audited)', params: RoleParams, response: { 204: Type.Null({ description: 'Deleted' }) } },
    handler: async (req, reply) => {
      await roles.deleteRole(scopeOf(req), req.params.key);
      return reply.code(204).send(null);
    },
  });
}
