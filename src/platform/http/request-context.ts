import crypto from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { runWithContext } from '../context/index.ts';
import { activeTraceId } from '../telemetry.ts';
import { quickSendHook } from './hooks.ts';

const SANE_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** Honours a sane client X-Request-Id, otherwise makes one. */
export function requestIdOf(req: { headers: Record<string, string | string[] | undefined> }): string {
  const given = req.headers['x-request-id'];
  return typeof given === 'string' && SANE_ID.test(given) ? given : crypto.randomUUID();
}

/** Every request runs inside a context store (for logs), and answers with its X-Request-Id. */
export const requestContext = fp(async function requestContext(app: FastifyInstance) {
  app.addHook('onRequest', (req: FastifyRequest, _reply, done) => {
    // Tracing (registered before this) has made the request's span active by now.
    const traceId = activeTraceId();
    runWithContext(traceId ? { requestId: String(req.id), traceId } : { requestId: String(req.id) }, done);
  });
  app.addHook(
    'onSend',
    quickSendHook((req, reply, payload) => {
      reply.header('X-Request-Id', String(req.id));
      return payload;
    }),
  );
});
