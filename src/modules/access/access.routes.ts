import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { scopeOf } from './access.plugin.ts';
import { permissionManifest } from './manifest.ts';
import { PermissionManifest } from './access.schemas.ts';

export async function accessRoutes(app: FastifyInstance) {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();

  r.get('/v1/me/permissions', {
    config: { access: { authenticated: true } },
    schema: {
      tags: ['access'],
      summary: 'The permission manifest: what the caller may do, where, and why not',
      response: { 200: PermissionManifest },
    },
    handler: async (req) => permissionManifest(scopeOf(req), { routes: app.accessTable, check: app.entitlementCheck, req }),
  });
}
