import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { AppError } from '../../platform/errors/index.ts';
import type { Tenancy } from '../../platform/db/index.ts';
import type { OperatorScope } from '../../platform/auth/index.ts';
import type { Actor, JobsAdmin } from '../../platform/jobs/index.ts';
import { operatorOf } from '../access/index.ts';
import {
  JobsQuery,
  JobParams,
  JobActionBody,
  BulkActionBody,
  MailsQuery,
  ActivityQuery,
  JobLookupQuery,
  QueuesView,
  JobPage,
  JobLookupView,
  JobDetailView,
  ReplayView,
  DiscardView,
  BulkReplayView,
  BulkDiscardView,
  MailPage,
  OperatorMeView,
  ActivityPage,
  ThroughputQuery,
  ThroughputView,
} from './ops.schemas.ts';
import { withTenantNames } from './ops.tenants.ts';
import { opsActivity } from './ops.activity.ts';

const actorOf = (req: FastifyRequest): Actor => {
  const op = operatorOf(req);
  return { name: `operator:${op.email}`, operatorId: op.operatorId };
};


export interface OpsRoutesOptions {
  jobs: JobsAdmin;
  tenancy: Tenancy;
  /** How mail leaves Brigade, for the console's Mail page (never the SMTP credentials). */
  mail: { transport: 'smtp' | 'catcher'; smtpServer: string | null };
  sessionExpiry(op: OperatorScope): Promise<Date | null>;
}

/** The operations API: platform operators only (a tenant token gets 401). */
export async function opsRoutes(app: FastifyInstance, opts: OpsRoutesOptions) {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();
  const { jobs, tenancy } = opts;
  const activity = opsActivity(tenancy);
  const operator = { access: { operator: true as const } };
  const tags = ['ops'];

  r.get('/ops/api/me', {
    config: operator,
    schema: { tags, summary: 'The signed-in operator, when the session ends, and how this deployment sends mail', response: { 200: OperatorMeView } },
    handler: async (req) => {
      const op = operatorOf(req);
      const expires = await opts.sessionExpiry(op);
      return { operator: { id: op.operatorId, email: op.email, name: op.name }, session: { expiresAt: expires?.toISOString() ?? null }, mail: opts.mail };
    },
  });

  r.get('/ops/api/queues', {
    config: operator,
    schema: {
      tags,
      summary: 'Queues with their job counts (dead included; backlog = waiting in the outbox for its tenant\'s turn) and the outbox\'s lag',
      response: { 200: QueuesView },
    },
    handler: async () => {
      const [data, outbox] = await Promise.all([jobs.queueCounts(), jobs.outboxLag()]);
      return { data, outbox };
    },
  });

  r.get('/ops/api/jobs', {
    config: operator,
    schema: { tags, summary: 'Jobs by state, queue, tenant, type and time, newest first', querystring: JobsQuery, response: { 200: JobPage } },
    handler: async (req) => {
      const { state, limit, cursor, ...filter } = req.query;
      const page = await jobs.listJobs(state, filter, limit, cursor);
      return { data: await withTenantNames(tenancy, page.data), nextCursor: page.nextCursor };
    },
  });

  r.get('/ops/api/jobs/throughput', {
    config: operator,
    schema: { tags, summary: 'Job attempts finished per minute, completed and failed, over the last minutes', querystring: ThroughputQuery, response: { 200: ThroughputView } },
    handler: async (req) => ({ data: await jobs.throughput(req.query.minutes) }),
  });

  r.get('/ops/api/jobs/lookup', {
    config: operator,
    schema: { tags, summary: 'Find a job by its id, in any queue and any state', querystring: JobLookupQuery, response: { 200: JobLookupView } },
    handler: async (req) => ({ data: await withTenantNames(tenancy, await jobs.findJobs(req.query.id)) }),
  });

  r.post('/ops/api/jobs/replay', {
    config: { ...operator, activity: 'jobs.bulk_replay' },
    schema: {
      tags,
      summary: 'Replay every dead job matching a filter (each as a new job linked to its original); says how many were replayed, skipped and failed',
      body: BulkActionBody,
      response: { 202: BulkReplayView },
    },
    handler: async (req, reply) => {
      const { reason, limit, state: _dead, ...filter } = req.body;
      return reply.code(202).send(await jobs.replayMatching(filter, actorOf(req), reason ?? null, limit ?? 100));
    },
  });

  r.post('/ops/api/jobs/discard', {
    config: { ...operator, activity: 'jobs.bulk_discard' },
    schema: { tags, summary: 'Discard every dead job matching a filter', body: BulkActionBody, response: { 200: BulkDiscardView } },
    handler: async (req) => {
      const { reason, limit, state: _dead, ...filter } = req.body;
      return jobs.discardMatching(filter, actorOf(req), reason ?? null, limit ?? 100);
    },
  });

  r.get('/ops/api/jobs/:queue/:id', {
    config: operator,
    schema: {
      tags,
      summary: 'One job: state, payload, stack trace, attempts, operator actions and the chain of replays it belongs to',
      params: JobParams,
      response: { 200: JobDetailView },
    },
    handler: async (req) => {
      const job = await jobs.getJob(req.params.queue, req.params.id);
      if (!job) throw new AppError('not_found', `There is no job ${req.params.id} in queue ${req.params.queue}.`);
      const [named] = await withTenantNames(tenancy, [job]);
      return named!;
    },
  });

  r.post('/ops/api/jobs/:queue/:id/replay', {
    config: { ...operator, activity: 'jobs.replay' },
    schema: {
      tags,
      summary: 'Run a dead (or completed) job again as a new job; 202 with the new job\'s queue and id',
      params: JobParams,
      body: JobActionBody,
      response: { 202: ReplayView },
    },
    handler: async (req, reply) => {
      const { reason } = req.body;
      return reply.code(202).send(await jobs.replay(req.params.queue, req.params.id, actorOf(req), reason ?? null));
    },
  });

  r.post('/ops/api/jobs/:queue/:id/discard', {
    config: { ...operator, activity: 'jobs.discard' },
    schema: { tags, summary: 'Give up on a dead job; it leaves the dead list', params: JobParams, body: JobActionBody, response: { 200: DiscardView } },
    handler: async (req) => {
      const { reason } = req.body;
      return jobs.discard(req.params.queue, req.params.id, actorOf(req), reason ?? null);
    },
  });

  r.get('/ops/api/mails', {
    config: operator,
    schema: {
      tags,
      summary: 'Mails kept by the built-in catcher (when SMTP_URL is unset), newest first; GET /ops/api/me says which transport is in use',
      querystring: MailsQuery,
      response: { 200: MailPage },
    },
    handler: async (req) => {
      const { limit, cursor, ...filter } = req.query;
      const page = await jobs.listMails(filter, limit, cursor);
      return { data: await withTenantNames(tenancy, page.data), nextCursor: page.nextCursor };
    },
  });

  r.get('/ops/api/activity', {
    config: operator,
    schema: {
      tags,
      summary: 'What operators did through the ops API (replays, discards, reconciliations, alert notes, support reads), newest first',
      querystring: ActivityQuery,
      response: { 200: ActivityPage },
    },
    handler: async (req) => activity.list(req.query),
  });
}
