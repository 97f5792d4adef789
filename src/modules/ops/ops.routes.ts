import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Compile } from 'typebox/compile';
import { AppError } from '../../platform/errors/index.ts';
import type { Actor, JobsAdmin } from '../../platform/jobs/index.ts';
import { operatorOf } from '../access/index.ts';
import { JobsQuery, JobParams, JobActionBody, BulkActionBody, MailsQuery } from './ops.schemas.ts';
import { dashboardPage } from './ops.dashboard.ts';

const actorOf = (req: FastifyRequest): Actor => {
  const op = operatorOf(req);
  return { name: `operator:${op.email}`, operatorId: op.operatorId };
};

// The action bodies are optional (a bare POST replays), so they are checked here rather than by
// Fastify, which would refuse a missing body.
const actionBody = Compile(JobActionBody);
const bulkBody = Compile(BulkActionBody);
function bodyOf<T>(validator: { Check(v: unknown): boolean; Errors(v: unknown): { instancePath: string; message: string }[] }, body: unknown): T {
  const value = body ?? {};
  if (!validator.Check(value)) {
    throw new AppError('validation_failed', 'The request does not match the expected shape.', {
      errors: validator.Errors(value).map((e) => ({ path: e.instancePath.replace(/^\//, '').replace(/\//g, '.') || 'body', message: e.message })),
    });
  }
  return value as T;
}

/** The operations API and dashboard: platform operators only (a tenant token gets 401). */
export async function opsRoutes(app: FastifyInstance, opts: { jobs: JobsAdmin }) {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();
  const { jobs } = opts;
  const operator = { access: { operator: true as const } };

  r.get('/ops', {
    config: { access: { public: true } },
    schema: { hide: true },
    handler: async (_req, reply) =>
      reply
        .type('text/html; charset=utf-8')
        .header('Content-Security-Policy', "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; form-action 'none'; frame-ancestors 'none'")
        .header('Cache-Control', 'no-store')
        .send(dashboardPage),
  });

  r.get('/ops/api/queues', {
    config: operator,
    schema: { tags: ['ops'], summary: 'Queues with their job counts (dead included; backlog = waiting in the outbox for its tenant\'s turn)' },
    handler: async () => ({ data: await jobs.queueCounts() }),
  });

  r.get('/ops/api/jobs', {
    config: operator,
    schema: { tags: ['ops'], summary: 'Jobs by state, tenant and type', querystring: JobsQuery },
    handler: async (req) => {
      const { state, limit, cursor, ...filter } = req.query;
      return jobs.listJobs(state, filter, limit, cursor);
    },
  });

  r.post('/ops/api/jobs/replay', {
    config: operator,
    schema: { tags: ['ops'], summary: 'Replay every dead job matching a filter (each as a new job linked to its original)' },
    handler: async (req, reply) => {
      const { reason, limit, state: _dead, ...filter } = bodyOf<{ reason?: string; limit?: number; state?: 'dead'; queue?: string; tenantId?: string; type?: string }>(bulkBody, req.body);
      return reply.code(202).send(await jobs.replayMatching(filter, actorOf(req), reason ?? null, limit ?? 100));
    },
  });

  r.post('/ops/api/jobs/discard', {
    config: operator,
    schema: { tags: ['ops'], summary: 'Discard every dead job matching a filter' },
    handler: async (req) => {
      const { reason, limit, state: _dead, ...filter } = bodyOf<{ reason?: string; limit?: number; state?: 'dead'; queue?: string; tenantId?: string; type?: string }>(bulkBody, req.body);
      return jobs.discardMatching(filter, actorOf(req), reason ?? null, limit ?? 100);
    },
  });

  r.get('/ops/api/jobs/:queue/:id', {
    config: operator,
    schema: { tags: ['ops'], summary: 'One job: state, payload, stack trace, attempts and operator actions', params: JobParams },
    handler: async (req) => {
      const job = await jobs.getJob(req.params.queue, req.params.id);
      if (!job) throw new AppError('not_found', `There is no job ${req.params.id} in queue ${req.params.queue}.`);
      return job;
    },
  });

  r.post('/ops/api/jobs/:queue/:id/replay', {
    config: operator,
    schema: { tags: ['ops'], summary: 'Run a dead (or completed) job again as a new job; 202 with the new job\'s queue and id', params: JobParams },
    handler: async (req, reply) => {
      const { reason } = bodyOf<{ reason?: string }>(actionBody, req.body);
      return reply.code(202).send(await jobs.replay(req.params.queue, req.params.id, actorOf(req), reason ?? null));
    },
  });

  r.post('/ops/api/jobs/:queue/:id/discard', {
    config: operator,
    schema: { tags: ['ops'], summary: 'Give up on a dead job; it leaves the dead list', params: JobParams },
    handler: async (req) => {
      const { reason } = bodyOf<{ reason?: string }>(actionBody, req.body);
      return jobs.discard(req.params.queue, req.params.id, actorOf(req), reason ?? null);
    },
  });

  r.get('/ops/api/mails', {
    config: operator,
    schema: { tags: ['ops'], summary: 'Mails kept by the built-in catcher (when SMTP_URL is unset), newest first', querystring: MailsQuery },
    handler: async (req) => {
      const { limit, cursor, ...filter } = req.query;
      return jobs.listMails(filter, limit, cursor);
    },
  });
}
