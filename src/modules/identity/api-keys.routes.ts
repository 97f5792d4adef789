import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { pageOf } from '../../platform/http/pagination.ts';
import { scopeOf } from '../access/index.ts';
import { CreateApiKeyBody, CreatedApiKey, ApiKeysQuery, ApiKeyView, ApiKeyParams } from './api-keys.schemas.ts';
import type { ApiKeysService } from './api-keys.service.ts';

export async function apiKeysRoutes(app: FastifyInstance, opts: { apiKeys: ApiKeysService }) {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();
  const { apiKeys } = opts;

  // Not idempotent by key on purpose: a stored response would keep the secret.
  r.post('/v1/api-keys', {
    config: { access: { action: 'api_keys.manage', branch: 'tenant', entitlement: { feature: 'api_access' } } },
    schema: {
      tags: ['identity'],
      summary: 'Create an API key for an integration; the secret is in this answer only (audited)',
      body: CreateApiKeyBody,
      response: { 201: CreatedApiKey },
    },
    handler: async (req, reply) => reply.code(201).send(await apiKeys.createApiKey(scopeOf(req), req.body)),
  });

  r.get('/v1/api-keys', {
    config: { access: { action: 'api_keys.manage', branch: 'tenant' } },
    schema: { tags: ['identity'], summary: 'The business\'s API keys with their last use, newest first', querystring: ApiKeysQuery, response: { 200: pageOf(ApiKeyView) } },
    handler: async (req) => apiKeys.listApiKeys(scopeOf(req), req.query),
  });

  r.delete('/v1/api-keys/:id', {
    config: { access: { action: 'api_keys.manage', branch: 'tenant' } },
    schema: { tags: ['identity'], summary: 'Revoke an API key at once (audited)', params: ApiKeyParams, response: { 204: Type.Null({ description: 'Revoked; the key is refused from now on' }) } },
    handler: async (req, reply) => {
      await apiKeys.revokeApiKey(scopeOf(req), req.params.id);
      return reply.code(204).send(null);
    },
  });
}
