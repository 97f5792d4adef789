import type { FastifyInstance } from 'fastify';

/**
 * A request without a body is validated as an empty JSON object, so an endpoint whose fields
 * are all optional takes a bare POST (`POST /ops/api/billing/reconcile`, a replay without a
 * reason) and one with required fields names them ("reason is required") instead of answering
 * "body must be object". `Content-Type: application/json` with nothing after it counts as no
 * body: many clients send the header on every request, and Fastify's own parser refuses it.
 * Any other body goes through Fastify's default parser (prototype poisoning refused as before).
 */
export function acceptBareBodies(app: FastifyInstance): void {
  const parse = app.getDefaultJsonParser('error', 'error');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (req, body, done) => {
    if (typeof body === 'string' && body.trim() === '') return done(null, undefined);
    return parse(req, body as string, done);
  });
  app.addHook('preValidation', async (req) => {
    if (req.body === undefined && req.routeOptions.schema?.body) req.body = {};
  });
}
