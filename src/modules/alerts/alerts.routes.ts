import path from 'node:path';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { AppError } from '../../platform/errors/index.ts';
import { problemResponses } from '../../platform/http/schemas.ts';
import { operatorOf } from '../access/index.ts';
import type { AlertsService } from './alerts.service.ts';
import { AlertsQuery, AlertParams, AlertActionBody, AlertPage, AlertDetail } from './alerts.schemas.ts';

const runbooksDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../docs/runbooks');

/** The alerts of the operations API: operators only (a tenant token gets 401). */
export async function alertsRoutes(app: FastifyInstance, opts: { alerts: AlertsService }) {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();
  const { alerts } = opts;
  const operator = { access: { operator: true as const } };
  const tags = ['ops: alerts'];

  r.get('/ops/api/alerts', {
    config: operator,
    schema: {
      tags,
      summary: 'Alerts from every source, newest first; filter by state, tenant, rule (or tenant.*, jobs.*, billing.*) and severity',
      querystring: AlertsQuery,
      response: { 200: AlertPage, ...problemResponses(400, 401) },
    },
    handler: async (req) => alerts.listAlerts(req.query),
  });

  r.get('/ops/api/alerts/:id', {
    config: operator,
    schema: { tags, summary: 'One alert with its notifications and its history (who acknowledged or resolved it, with their notes)', params: AlertParams, response: { 200: AlertDetail, ...problemResponses(400, 401, 404) } },
    handler: async (req) => {
      const alert = await alerts.getAlert(req.params.id);
      if (!alert) throw new AppError('not_found', 'There is no such alert.');
      return alert;
    },
  });

  r.post('/ops/api/alerts/:id/acknowledge', {
    config: operator,
    schema: {
      tags,
      summary: 'Acknowledge an open alert with a note: someone is on it (recorded with the operator and request)',
      params: AlertParams,
      body: AlertActionBody,
      response: { 200: AlertDetail, ...problemResponses(400, 401, 404, 409) },
    },
    handler: async (req) => alerts.acknowledge(operatorOf(req), req.params.id, req.body.note),
  });

  r.post('/ops/api/alerts/:id/resolve', {
    config: operator,
    schema: {
      tags,
      summary: 'Resolve an open or acknowledged alert with a note (recorded with the operator and request); it notifies like an automatic resolution',
      params: AlertParams,
      body: AlertActionBody,
      response: { 200: AlertDetail, ...problemResponses(400, 401, 404, 409) },
    },
    handler: async (req) => alerts.resolve(operatorOf(req), req.params.id, req.body.note),
  });

  // Runbooks are part of the open-source repository, not secrets: an alert's link works in a
  // browser without a token.
  r.get('/ops/runbooks/:file', {
    config: { access: { public: true } },
    schema: { hide: true, params: Type.Object({ file: Type.String({ pattern: '^[a-z0-9-]+\\.md$', maxLength: 64 }) }) },
    handler: async (req, reply) => {
      const text = await readFile(path.join(runbooksDir, req.params.file), 'utf8').catch(() => null);
      if (text === null) throw new AppError('not_found', `There is no runbook ${req.params.file}.`);
      return reply.type('text/markdown; charset=utf-8').send(text);
    },
  });
}
