import Fastify, { LogController, type FastifyInstance, type FastifyBaseLogger, type FastifyReply, type FastifyRequest } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import { Type } from 'typebox';
import type { Platform } from './platform/deps.ts';
import { validatorCompiler } from './platform/http/validation.ts';
import { installProblemHandlers, frameworkErrors, clientErrorHandler, MAX_PARAM_LENGTH } from './platform/http/problems.ts';
import { installRouteDocumentation, documentTransform, securitySchemes } from './platform/http/openapi.ts';
import { acceptBareBodies } from './platform/http/bodies.ts';
import { quickHook } from './platform/http/hooks.ts';
import { andThen } from './platform/awaitable.ts';
import { requestContext, requestIdOf } from './platform/http/request-context.ts';
import { healthRoutes as probeRoutes } from './platform/http/health.ts';
import { currentContext } from './platform/context/index.ts';
import { tenantRateLimiter, type TenantRateLimiter } from './platform/http/tenant-rate-limit.ts';
import { clientRateLimit } from './platform/http/client-rate-limit.ts';
import { accessPlugin, accessRoutes } from './modules/access/index.ts';
import { identityService, operatorsService, identityRoutes, clientMeta, sessionCache, apiKeysService, apiKeysRoutes, type AuthRow, type KeyAuthRow } from './modules/identity/index.ts';
import { membersService, rolesService, membersRoutes } from './modules/members/index.ts';
import { auditRoutes } from './modules/audit/index.ts';
import { supportService, supportRoutes } from './modules/support/index.ts';
import { idempotencyPlugin } from './platform/http/idempotency.ts';
import { branchesService, branchesRoutes } from './modules/branches/index.ts';
import { menuService, menuRoutes } from './modules/menu/index.ts';
import { inventoryService, inventoryRoutes } from './modules/inventory/index.ts';
import { ordersService, ordersRoutes } from './modules/orders/index.ts';
import { reportsService, reportsRoutes, reportSchedulesService } from './modules/reports/index.ts';
import { opsRoutes, opsActivityPlugin, consoleRoutes } from './modules/ops/index.ts';
import { jobsAdmin, type JobRegistry } from './platform/jobs/index.ts';
import { jobRegistry } from './jobs.ts';
import { billingModule, billingRoutes } from './modules/billing/index.ts';
import { alertsService, alertsRoutes } from './modules/alerts/index.ts';
import { healthOps, healthRoutes, healthGauges } from './modules/health/index.ts';
import { exportsService, erasureService, lifecycleRoutes } from './modules/lifecycle/index.ts';

/** One line per request, when it completes; the ids come from the context store (log mixin). */
class RequestLog extends LogController {
  override incomingRequest(request: FastifyRequest): void {
    request.log.debug({ method: request.method, url: request.url }, 'request received');
  }
  override requestCompleted(error: Error | null, request: FastifyRequest, reply: FastifyReply): void {
    const line = { method: request.method, route: request.routeOptions.url, statusCode: reply.statusCode, ms: Math.round(reply.elapsedTime) };
    if (error) reply.log.error({ ...line, err: error }, 'request errored');
    else reply.log.info(line, 'request completed');
  }
}

export interface AppOptions {
  /** The job types the ops API knows (default: every product job, see src/jobs.ts). */
  jobs?: JobRegistry;
  /** The per-tenant request counter (default: one of this app's own, closed with it); tests bring one with their clock. */
  tenantRateLimiter?: TenantRateLimiter;
}

/** Builds the HTTP application: platform plugins first, then each module's routes. Never listens. */
export async function buildApp(platform: Platform, opts: AppOptions = {}): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: platform.log as FastifyBaseLogger,
    genReqId: (req) => requestIdOf(req),
    logController: new RequestLog(),
    // The request id reaches log lines through the context store; no second copy in bindings.
    // A route with no level or serializers of its own logs through the app's logger itself: a
    // pino child per request cost several microseconds for nothing.
    childLoggerFactory: (logger, _bindings, opts) => (opts.level === undefined && opts.serializers === undefined ? logger : logger.child({}, opts)),
    bodyLimit: 1024 * 1024,
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    requestTimeout: platform.config.BRIGADE_REQUEST_TIMEOUT_MS,
    // Node looks for timed-out requests this often (30 s by default, longer than the timeout itself).
    http: { connectionsCheckingInterval: Math.min(30_000, Math.max(250, Math.floor(platform.config.BRIGADE_REQUEST_TIMEOUT_MS / 4) || 30_000)) },
    frameworkErrors,
    clientErrorHandler,
    exposeHeadRoutes: false,
    ajv: { customOptions: { removeAdditional: false } },
    // Which proxies may say who the client is (X-Forwarded-For): the throttles key on req.ip.
    trustProxy: trustProxyOf(platform.config.BRIGADE_TRUST_PROXY),
  });
  // Tracing must wrap everything registered after it.
  if (platform.tracing) await app.register(platform.tracing.fastify.plugin());
  app.setValidatorCompiler(validatorCompiler);
  installProblemHandlers(app);
  acceptBareBodies(app);
  await app.register(requestContext);

  const { metrics, signals } = platform;
  const keyCache = sessionCache<KeyAuthRow>(platform);
  app.addHook('onClose', () => keyCache.close());
  const apiKeys = apiKeysService(platform, { cache: keyCache });
  app.addHook('onClose', () => apiKeys.close());
  app.addHook(
    'onResponse',
    quickHook((req, reply) => {
      const ms = reply.elapsedTime;
      metrics.httpDuration.observe({ method: req.method, route: req.routeOptions.url ?? 'unmatched', status: String(reply.statusCode) }, ms / 1000);
      // Counted in memory for the tenant's per-minute rollup: no I/O here.
      signals.request(req.scope?.tenantId ?? null, reply.statusCode, ms, currentContext()?.dbMs ?? 0);
      if (req.scope?.apiKey) apiKeys.noteRequest(req.scope, `${req.method} ${req.routeOptions.url ?? 'unmatched'}`, reply.statusCode);
    }),
  );

  // Each route's security and problem responses are filled in as the document is built.
  installRouteDocumentation(app);
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: 'Brigade API', version: '1', description: 'Multi-tenant back office for restaurant and café groups.' },
      components: { securitySchemes },
    },
    // Shared schemas (Problem) keep their own names in components.schemas.
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => (typeof json.$id === 'string' ? json.$id : `def-${i}`) },
    transform: documentTransform,
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });

  await app.register(clientRateLimit, { redis: platform.redis, prefix: platform.config.BRIGADE_QUEUE_PREFIX, log: platform.log, perMinute: platform.config.BRIGADE_CLIENT_RATE_LIMIT });
  const rateLimiter = opts.tenantRateLimiter ?? tenantRateLimiter(platform.redis, platform.config.BRIGADE_QUEUE_PREFIX, platform.log);
  if (!opts.tenantRateLimiter) app.addHook('onClose', async () => rateLimiter.close());
  const sessions = sessionCache<AuthRow>(platform);
  app.addHook('onClose', () => sessions.close());
  const identity = identityService(platform, { sessions, apiKeys });
  const operators = operatorsService(platform);
  const billing = billingModule(platform);
  await app.register(accessPlugin, {
    guardedPrefixes: ['/v1', '/ops/api'],
    authenticate: (token, req) => identity.authenticate(token, clientMeta(req)),
    authenticateOperator: (token, req) => operators.authenticate(token, clientMeta(req)),
    afterAuthenticate: (scope, req) => {
      // The setting is a ceiling (0: off); below it the tenant's plan sets the rate.
      const ceiling = platform.config.BRIGADE_TENANT_RATE_LIMIT;
      const consume = (planRate: number) => {
        rateLimiter.consume(scope.tenantId, ceiling === 0 ? 0 : Math.min(ceiling, planRate));
        return billing.service.assertWritable(scope, req.method, req.routeOptions.url ?? '');
      };
      return platform.hooks.tenantRateLimit ? andThen(platform.hooks.tenantRateLimit(scope.tenantId), consume) : consume(ceiling);
    },
    checkEntitlement: (scope, entitlement) => billing.service.checkEntitlement(scope, entitlement),
  });
  // Every operator action is recorded, whichever module's route it is.
  await app.register(opsActivityPlugin, { tenancy: platform.tenancy, log: platform.log });
  // After access: only an authenticated, permitted, valid request claims an Idempotency-Key.
  await app.register(idempotencyPlugin, {
    tenancy: platform.tenancy,
    actorOf: (req) => (req.scope ? { tenantId: req.scope.tenantId, userId: req.scope.userId } : null),
  });

  probeRoutes(app, platform);
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  await app.register(identityRoutes, { identity, operators });
  await app.register(accessRoutes);
  await app.register(apiKeysRoutes, { apiKeys });
  const members = membersService(platform, { identity });
  await app.register(membersRoutes, { members, roles: rolesService(platform) });
  await app.register(auditRoutes, { tenancy: platform.tenancy });
  await app.register(supportRoutes, { support: supportService(platform), members });
  await app.register(branchesRoutes, { branches: branchesService(platform) });
  await app.register(menuRoutes, { menu: menuService(platform) });
  await app.register(inventoryRoutes, { inventory: inventoryService(platform) });
  await app.register(ordersRoutes, { orders: ordersService(platform) });
  await app.register(lifecycleRoutes, { exports: exportsService(platform), erasure: erasureService(platform) });
  await app.register(reportsRoutes, { reports: reportsService(platform), schedules: reportSchedulesService(platform) });
  const jobs = jobsAdmin(platform, opts.jobs ?? jobRegistry());
  app.addHook('onClose', () => jobs.close());
  await app.register(opsRoutes, {
    jobs,
    tenancy: platform.tenancy,
    mail: mailTransportOf(platform.config),
    sessionExpiry: (op) => operators.sessionExpiry(op),
  });
  await app.register(consoleRoutes);
  await app.register(billingRoutes, { billing });
  await app.register(alertsRoutes, { alerts: alertsService(platform) });
  await app.register(healthRoutes, { health: healthOps(platform) });
  healthGauges(platform);

  billing.checkDeclaredEntitlements(app.accessTable);

  return app;
}

/** How mail leaves, for operators: the SMTP server's host and port, never its credentials. */
function mailTransportOf(config: Platform['config']): { transport: 'smtp' | 'catcher'; smtpServer: string | null } {
  if (!config.SMTP_URL) return { transport: 'catcher', smtpServer: null };
  const url = new URL(config.SMTP_URL);
  return { transport: 'smtp', smtpServer: `${url.hostname}:${url.port || (url.protocol === 'smtps:' ? '465' : '587')}` };
}

/** A hop count becomes proxy-addr's function form (trust the `hops` nearest addresses). */
function trustProxyOf(setting: boolean | number | string[]): boolean | string[] | ((addr: string, hop: number) => boolean) {
  return typeof setting === 'number' ? (_addr, hop) => hop < setting : setting;
}
