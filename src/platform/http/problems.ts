import crypto from 'node:crypto';
import http from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest, FastifyServerOptions } from 'fastify';
import { AppError, toProblem } from '../errors/index.ts';
import { describeValidation } from './validation.ts';
import { isDatabaseUnavailable } from '../db/index.ts';

/** Seconds a client is asked to wait when a dependency is away (about a restart's length). */
export const RETRY_AFTER_SECONDS = 5;

const PROBLEM = 'application/problem+json; charset=utf-8';

/**
 * The longest path parameter the router matches (Fastify's maxParamLength); longer is a 400.
 * Above every path schema's maxLength, so that the validator names the parameter first.
 */
export const MAX_PARAM_LENGTH = 200;

function send(reply: FastifyReply, appError: AppError): void {
  for (const [k, v] of Object.entries(appError.headers)) reply.header(k, v);
  reply.code(appError.status).type(PROBLEM).send(toProblem(appError));
}

/** The one place where errors become RFC 9457 problem details. */
export function installProblemHandlers(app: FastifyInstance): void {
  app.setNotFoundHandler((req, reply) => {
    send(reply, new AppError('not_found', `No route ${req.method} ${req.url.split('?')[0]}.`));
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
    send(reply, appError);
  });
}

/**
 * Fastify's `frameworkErrors`: what the router refuses before any route, hook or handler runs
 * (a URL that is not validly percent-encoded, a path parameter over MAX_PARAM_LENGTH). No hook
 * runs for these, so the request id is set here.
 */
export const frameworkErrors: NonNullable<FastifyServerOptions['frameworkErrors']> = (error, req: FastifyRequest, reply: FastifyReply) => {
  const appError =
    error.code === 'FST_ERR_MAX_PARAM_LENGTH'
      ? new AppError('validation_failed', `A path segment is longer than ${MAX_PARAM_LENGTH} characters.`, { errors: [{ path: 'params', message: `must be at most ${MAX_PARAM_LENGTH} characters` }] })
      : error.code === 'FST_ERR_BAD_URL'
        ? new AppError('bad_request', 'The URL is not validly percent-encoded.')
        : new AppError('bad_request', 'The request could not be routed.');
  reply.header('X-Request-Id', String(req.id));
  send(reply, appError);
};

/**
 * The HTTP server's `clientError`: a request Node refused to parse (headers over the size limit,
 * the request timeout, malformed HTTP). Answered as problem details on the raw socket, with a
 * fresh request id: the client's headers were never read, so none of them is echoed.
 */
export function clientErrorHandler(this: FastifyInstance, err: NodeJS.ErrnoException, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const appError =
    err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
      ? new AppError('request_timeout', 'The request took too long to arrive.')
      : err.code === 'HPE_HEADER_OVERFLOW'
        ? new AppError('headers_too_large', 'The request headers are larger than this server accepts.')
        : new AppError('bad_request', 'The request is not valid HTTP.');
  const requestId = crypto.randomUUID();
  const body = JSON.stringify(toProblem(appError));
  this.log.debug({ err, requestId }, 'client error');
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${appError.status} ${http.STATUS_CODES[appError.status]}\r\nContent-Type: ${PROBLEM}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nX-Request-Id: ${requestId}\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy(err);
}
