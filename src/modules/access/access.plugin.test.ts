import { test } from 'node:test';
import assert from 'node:assert/strict';
import Fastify from 'fastify';
import { accessPlugin, type RouteAccess } from './index.ts';

async function appWith(access: RouteAccess | undefined) {
  const app = Fastify({ exposeHeadRoutes: false });
  await app.register(accessPlugin, { guardedPrefixes: ['/v1'], authenticate: async () => null, authenticateOperator: async () => null });
  app.get('/v1/thing', { config: access ? { access } : {} }, async () => ({}));
  return app;
}

test('the app refuses to start with a route that declares no access', async () => {
  await assert.rejects(async () => (await appWith(undefined)).ready(), /GET \/v1\/thing declares no access rule/);
});

test('the app refuses to start with a route requiring a permission the catalogue does not know', async () => {
  await assert.rejects(async () => (await appWith({ permission: 'orders.teleport', branch: 'tenant' } as never)).ready(), /unknown permission "orders.teleport"/);
});

test('a route performing a catalogue action must decide it where the manifest does', async () => {
  await assert.rejects(async () => (await appWith({ action: 'orders.refund', branch: 'tenant' })).ready(), /decided per branch/);
  await assert.rejects(async () => (await appWith({ action: 'billing.manage', branch: 'list' })).ready(), /decided tenant-wide/);
  const ok = await appWith({ action: 'orders.refund', branch: () => null });
  await ok.ready();
  assert.deepEqual(ok.accessTable.map((r) => `${r.method} ${r.url}`), ['GET /v1/thing']);
  await ok.close();
});
