import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { scopeOf } from '../access/index.ts';
import { SignupBody, LoginBody, SessionResponse, MeResponse, OperatorLoginBody } from './identity.schemas.ts';
import type { IdentityService, ClientMeta } from './identity.service.ts';
import type { OperatorsService } from './operators.service.ts';

export function clientMeta(req: FastifyRequest): ClientMeta {
  const ua = req.headers['user-agent'];
  return { requestId: String(req.id), ip: req.ip ?? null, userAgent: typeof ua === 'string' ? ua.slice(0, 400) : null };
}

export async function identityRoutes(app: FastifyInstance, opts: { identity: IdentityService; operators: OperatorsService }) {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();
  const { identity, operators } = opts;

  r.post('/v1/signup', {
    config: { access: { public: true } },
    schema: { tags: ['identity'], summary: 'Create a business and its owner; starts a trial', body: SignupBody, response: { 201: SessionResponse } },
    handler: async (req, reply) => reply.code(201).send(await identity.signup(req.body, clientMeta(req))),
  });

  r.post('/v1/auth/login', {
    config: { access: { public: true } },
    schema: { tags: ['identity'], summary: 'Exchange e-mail and password for a token', body: LoginBody, response: { 200: SessionResponse } },
    handler: async (req) => identity.login(req.body, clientMeta(req)),
  });

  r.post('/v1/auth/logout', {
    config: { access: { authenticated: true } },
    schema: { tags: ['identity'], summary: 'End this token\'s session' },
    handler: async (req, reply) => {
      await identity.logout(scopeOf(req));
      return reply.code(204).send();
    },
  });

  r.get('/v1/me', {
    config: { access: { authenticated: true } },
    schema: { tags: ['identity'], summary: 'Who the token belongs to, with roles and permissions', response: { 200: MeResponse } },
    handler: async (req) => identity.me(scopeOf(req)),
  });

  r.post('/ops/api/login', {
    config: { access: { public: true } },
    schema: { tags: ['ops'], summary: 'Operator login', body: OperatorLoginBody },
    handler: async (req) => operators.login(req.body, clientMeta(req)),
  });
}
