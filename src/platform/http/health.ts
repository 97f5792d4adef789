import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import type { Platform } from '../deps.ts';

const HealthView = Type.Object({ status: Type.Literal('ok') });
const ReadinessView = Type.Object({
  status: Type.Union([Type.Literal('ready'), Type.Literal('not_ready')]),
  checks: Type.Object(
    {
      postgres: Type.Union([Type.Literal('ok'), Type.Literal('busy'), Type.Literal('unreachable')]),
      redis: Type.Union([Type.Literal('ok'), Type.Literal('unreachable')]),
    },
    // A role adds what only it knows (the worker: its queues are served), 'ok' or 'down'.
    { additionalProperties: Type.Union([Type.Literal('ok'), Type.Literal('down')]) },
  ),
});

/**
 * /healthz, /readyz and /metrics: the same three answers from the API and from the worker
 * process (which serves them on its own port), so an orchestrator and Prometheus treat both
 * roles alike. `extraChecks` add what only one role knows (the worker: its queues are served).
 *
 * Readiness tells "cannot reach" from "busy": PostgreSQL is probed on a connection of its own,
 * never queued behind the request pool, so a saturated instance is not taken out of service.
 */
export function healthRoutes(app: FastifyInstance, platform: Platform, extraChecks: Record<string, () => boolean> = {}): void {
  app.get('/healthz', { schema: { tags: ['health'], summary: 'The process is up', response: { 200: HealthView } } }, async () => ({ status: 'ok' }));
  app.get(
    '/readyz',
    {
      schema: {
        tags: ['health'],
        summary: 'PostgreSQL and Redis answer (503 with the failing check otherwise; a busy database is still ready)',
        response: { 200: ReadinessView, 503: ReadinessView },
      },
    },
    async (_req, reply) => {
      const [pg, redis] = await Promise.all([
        platform.db.probe(2000),
        withTimeout(platform.redis.ping(), 2000).then(() => 'ok' as const, () => 'unreachable' as const),
      ]);
      const postgres = pg.state === 'ok' ? (pg.busy ? 'busy' : 'ok') : 'unreachable';
      const extra = Object.fromEntries(Object.entries(extraChecks).map(([name, ok]) => [name, ok() ? 'ok' : 'down']));
      const ready = pg.state === 'ok' && redis === 'ok' && Object.values(extra).every((v) => v === 'ok');
      if (!ready) reply.header('Retry-After', '5');
      return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not_ready', checks: { postgres, redis, ...extra } });
    },
  );
  app.get(
    '/metrics',
    {
      schema: {
        tags: ['health'],
        summary: 'Prometheus metrics (text exposition format; no tenant labels)',
        response: { 200: { description: 'Prometheus text format', content: { 'text/plain': { schema: { type: 'string' } } } } },
      },
    },
    async (_req, reply) => {
      reply.type(platform.metrics.registry.contentType);
      return platform.metrics.registry.metrics();
    },
  );
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return Promise.race([p, new Promise<T>((_, reject) => setTimeout(() => reject(new Error('timeout')), ms).unref())]);
}
