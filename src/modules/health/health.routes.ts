import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { AppError } from '../../platform/errors/index.ts';
import { problemResponses } from '../../platform/http/schemas.ts';
import { seriesRange, type HealthOps } from './health.ops.ts';
import { TenantsQuery, TenantParams, HealthQuery, TopTenantsQuery, TenantPage, TenantDetail, TenantSeries, PlatformSeries, TopTenants } from './health.schemas.ts';

/** The tenant-aware operations API: operators only (a tenant token gets 401). */
export async function healthRoutes(app: FastifyInstance, opts: { health: HealthOps }) {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();
  const { health } = opts;
  const operator = { access: { operator: true as const } };
  const tags = ['ops: tenants'];

  r.get('/ops/api/tenants', {
    config: operator,
    schema: {
      tags,
      summary: 'Tenants with plan, status, usage and their last hour of health; search, filter and sort (by name, created, requests, errors, errorRate, p95, jobFailures, apiTime)',
      querystring: TenantsQuery,
      response: { 200: TenantPage, ...problemResponses(400, 401) },
    },
    handler: async (req) => health.listTenants(req.query),
  });

  r.get('/ops/api/tenants/:tenantId', {
    config: operator,
    schema: { tags, summary: 'One tenant as in the list, with its subscription and transition history, its baseline and its open alerts', params: TenantParams, response: { 200: TenantDetail, ...problemResponses(400, 401, 404) } },
    handler: async (req) => {
      const tenant = await health.getTenant(req.params.tenantId);
      if (!tenant) throw new AppError('not_found', 'There is no such tenant.');
      return tenant;
    },
  });

  r.get('/ops/api/tenants/:tenantId/health', {
    config: operator,
    schema: {
      tags,
      summary: "One tenant's signals over time (minute, hour or day steps, at most 1,500 points and 31 days) beside its own baseline",
      params: TenantParams,
      querystring: HealthQuery,
      response: { 200: TenantSeries, ...problemResponses(400, 401, 404) },
    },
    handler: async (req) => {
      const found = await health.tenantHealth(req.params.tenantId, seriesRange(req.query));
      if (!found) throw new AppError('not_found', 'There is no such tenant.');
      return found;
    },
  });

  r.get('/ops/api/health', {
    config: operator,
    schema: { tags, summary: "The whole platform's signals over time (anonymous requests included) beside its baseline", querystring: HealthQuery, response: { 200: PlatformSeries, ...problemResponses(400, 401) } },
    handler: async (req) => health.platformHealth(seriesRange(req.query)),
  });

  r.get('/ops/api/top-tenants', {
    config: operator,
    schema: {
      tags,
      summary: 'The tenants that stand out over a window: most requests, 5xx errors, error rate, p95 latency, job failures, or share of all API time (the noisy neighbour)',
      querystring: TopTenantsQuery,
      response: { 200: TopTenants, ...problemResponses(400, 401) },
    },
    handler: async (req) => health.topTenants(req.query.by ?? 'requests', req.query.window ?? '1h', req.query.limit ?? 10),
  });
}
