import type { FastifyError, FastifyInstance } from 'fastify';
import { AppError, toProblem } from '../errors/index.ts';
import { describeValidation } from './validation.ts';
import { isDatabaseUnavailable } from '../db/index.ts';

/** Seconds a client is asked to wait when a dependency is away (about a restart's length). */
export const RETRY_AFTER_SECONDS = 5;

const PROBLEM = 'application/problem+json; charset=utf-8';

/** The one place where errors become RFC 9457 problem details. */
export function installProblemHandlers(app: FastifyInstance): void {
  app.setNotFoundHandler((req, reply) => {
    const err = new AppError('not_found', `No route ${req.method} ${req.url.split('?')[0]}.`);
    reply.code(404).type(PROBLEM).send(toProblem(err));
  });

  app.setErrorHandler((error: FastifyError & { validationContext?: string }, req, reply) => {
    let appError: AppError;
    if (error instanceof AppError) {
      appError = error;
    } else if (error.validation) {
      appError = new AppError('validation_failed', 'The request does not match the expected shape.', {
        errors: describeValidation(error.validation as never, error.validationContext),
      });
    } else if (error.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      appError = new AppError('payload_too_large', 'The request body is larger than this endpoint accepts.');
    } else if (error.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
      appError = new AppError('unsupported_media_type', 'Send the request body as application/json.');
    } else if (error.code === 'FST_ERR_CTP_EMPTY_JSON_BODY' || error.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || error instanceof SyntaxError) {
      appError = new AppError('validation_failed', 'The request body is not valid JSON.', {
        errors: [{ path: 'body', message: 'is not valid JSON' }],
      });
    } else if (isDatabaseUnavailable(error)) {
      // Not a bug of ours and not the client's: a dependency is away; say when to come back.
      req.log.warn({ err: error }, 'request failed: the database cannot be reached');
      appError = new AppError('service_unavailable', 'The service cannot reach its database right now. Retry in a few seconds.', {}, { 'Retry-After': String(RETRY_AFTER_SECONDS) });
    } else if (error.statusCode === 404) {
      appError = new AppError('not_found', 'Not found.');
    } else if (error.statusCode && error.statusCode >= 400 && error.statusCode < 500) {
      appError = new AppError('bad_request', error.message);
    } else {
      req.log.error({ err: error }, 'request failed');
      appError = new AppError('internal_error', `Something went wrong on our side. Quote request ${req.id} when you contact support.`);
    }
    if (appError.status >= 500 && error instanceof AppError) req.log.error({ err: error }, 'request failed');
    for (const [k, v] of Object.entries(appError.headers)) reply.header(k, v);
    reply.code(appError.status).type(PROBLEM).send(toProblem(appError));
  });
}
