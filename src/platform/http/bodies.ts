import type { FastifyInstance } from 'fastify';
import { AppError } from '../errors/index.ts';
import { MAX_ERRORS } from './validation.ts';
import { quickHook } from './hooks.ts';

/**
 * A request without a body is validated as an empty JSON object, so an endpoint whose fields
 * are all optional takes a bare POST (`POST /ops/api/billing/reconcile`, a replay without a
 * reason) and one with required fields names them ("reason is required") instead of answering
 * "body must be object". `Content-Type: application/json` with nothing after it counts as no
 * body: many clients send the header on every request, and Fastify's own parser refuses it.
 * Any other body goes through Fastify's default parser (prototype poisoning refused as before).
 *
 * A route that declares no body takes none: a DELETE with `{"tenantId": ...}` is refused as any
 * unknown field is (CONTRACT.md), not ignored. `{}` is the empty body some clients always send.
 * A route with a parser of its own (the webhook keeps raw bytes, a Buffer) reads what it is sent.
 */
export function acceptBareBodies(app: FastifyInstance): void {
  const parse = app.getDefaultJsonParser('error', 'error');
  // Bodies are JSON: a text/plain one is refused with 415 like any other type, not read as a string.
  app.removeContentTypeParser('text/plain');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (req, body, done) => {
    if (typeof body === 'string' && body.trim() === '') return done(null, undefined);
    return parse(req, body as string, done);
  });
  app.addHook(
    'preValidation',
    quickHook((req) => {
      if (req.routeOptions.schema?.body) {
        if (req.body === undefined) req.body = {};
        return;
      }
      const body = req.body;
      if (body === undefined || Buffer.isBuffer(body)) return;
      const fields = body !== null && typeof body === 'object' && !Array.isArray(body) ? Object.keys(body) : null;
      if (fields?.length === 0) return;
      throw new AppError('validation_failed', `${req.method} ${req.routeOptions.url} takes no request body.`, {
        errors: fields ? fields.slice(0, MAX_ERRORS).map((path) => ({ path, message: 'is not a known field' })) : [{ path: 'body', message: 'must be empty' }],
      });
    }),
  );
}
