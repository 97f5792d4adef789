import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { scopeOf, operatorOf } from '../access/index.ts';
import { SignupBody, LoginBody, SessionResponse, MeResponse, OperatorLoginBody, PasswordResetBody, PasswordResetAccepted, PasswordResetConfirmBody } from './identity.schemas.ts';
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
    // Anonymous, yet a retried signup must not make a second business: keys scoped by route.
    config: { access: { public: true }, clientRateLimit: true, idempotent: true },
    schema: { tags: ['identity'], summary: 'Create a business and its owner; starts a trial', body: SignupBody, response: { 201: SessionResponse } },
    handler: async (req, reply) => reply.code(201).send(await identity.signup(req.body, clientMeta(req))),
  });

  r.post('/v1/auth/login', {
    config: { access: { public: true }, clientRateLimit: true },
    schema: { tags: ['identity'], summary: 'Exchange e-mail and password for a token', body: LoginBody, response: { 200: SessionResponse } },
    handler: async (req) => identity.login(req.body, clientMeta(req)),
  });

  r.post('/v1/auth/logout', {
    config: { access: { authenticated: true } },
    schema: { tags: ['identity'], summary: 'End this token\'s session', response: { 204: Type.Null({ description: 'Signed out; the token is refused from now on' }) } },
    handler: async (req, reply) => {
      await identity.logout(scopeOf(req));
      return reply.code(204).send(null);
    },
  });

  r.post('/v1/auth/password-reset', {
    config: { access: { public: true }, clientRateLimit: true },
    schema: {
      tags: ['identity'],
      summary: 'Mail a link that sets a new password (always 202: it never tells whether the address has an account)',
      body: PasswordResetBody,
      response: { 202: PasswordResetAccepted },
    },
    handler: async (req, reply) => {
      const meta = clientMeta(req);
      // Answer first, look up after: the response and its timing are the same either way.
      identity.requestPasswordReset(req.body, meta).catch((err) => req.log.error({ err }, 'password reset request failed'));
      return reply.code(202).send({ status: 'accepted', detail: 'If an account with this address exists, a link to set a new password is on its way.' });
    },
  });

  r.post('/v1/auth/password-reset/confirm', {
    config: { access: { public: true }, clientRateLimit: true },
    schema: {
      tags: ['identity'],
      summary: 'Set a new password with the token from the mail (also accepts invitations); signs out every other session',
      body: PasswordResetConfirmBody,
      response: { 200: SessionResponse },
    },
    handler: async (req) => identity.confirmPasswordReset(req.body, clientMeta(req)),
  });

  r.get('/v1/me', {
    config: { access: { authenticated: true } },
    schema: { tags: ['identity'], summary: 'Who the token belongs to, with roles and permissions', response: { 200: MeResponse } },
    handler: async (req) => identity.me(scopeOf(req)),
  });

  r.post('/ops/api/login', {
    config: { access: { public: true }, clientRateLimit: true },
    schema: {
      tags: ['ops'],
      summary: 'Operator login: an operator token for /ops/api (12 hours)',
      body: OperatorLoginBody,
      response: { 200: Type.Object({ token: Type.String({ description: 'Send as Authorization: Bearer on /ops/api' }) }) },
    },
    handler: async (req) => operators.login(req.body, clientMeta(req)),
  });

  r.post('/ops/api/logout', {
    config: { access: { operator: true } },
    schema: { tags: ['ops'], summary: 'End this operator token\'s session', response: { 204: Type.Null({ description: 'Signed out' }) } },
    handler: async (req, reply) => {
      await operators.logout(operatorOf(req));
      return reply.code(204).send(null);
    },
  });
}
