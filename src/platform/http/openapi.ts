import type { FastifyInstance, RouteOptions } from 'fastify';
import { Type } from 'typebox';

/**
 * What the OpenAPI document says about every route without each route repeating it: who may
 * call it (the two token kinds are separate security schemes; public routes carry no lock) and
 * how it fails (RFC 9457 problem details). Applied to every route as the document is built, so a
 * route added by any module is documented the same way and the console's generated client knows
 * every error. Documentation only: the error responses never become serialization schemas (a
 * problem document is built by toProblem alone, and a schema there would reject its extras).
 */

/** RFC 9457 problem details, as every error leaves Brigade (see platform/errors). */
export const ProblemSchema = Type.Object(
  {
    type: Type.String({ description: 'A URI reference naming the kind of problem', examples: ['/problems/validation_failed'] }),
    title: Type.String({ description: 'Short, human-readable summary of the kind of problem' }),
    status: Type.Integer({ description: 'The HTTP status code' }),
    detail: Type.String({ description: 'What went wrong this time, in a sentence a UI can show as is' }),
    code: Type.String({ description: 'Stable machine-readable code (validation_failed, unauthenticated, forbidden, not_found, ...)' }),
    errors: Type.Optional(Type.Array(Type.Object({ path: Type.String(), message: Type.String() }), { description: 'validation_failed: each field that is wrong' })),
    requiredPermission: Type.Optional(Type.String({ description: 'forbidden: the permission the action needs' })),
  },
  { $id: 'Problem', title: 'Problem', additionalProperties: true, description: 'RFC 9457 problem details' },
);

export const securitySchemes = {
  tenantToken: {
    type: 'http',
    scheme: 'bearer',
    description: 'A token of one user in one business, from POST /v1/auth/login or /v1/signup (or an API key). Refused on /ops/api.',
  },
  operatorToken: {
    type: 'http',
    scheme: 'bearer',
    description: 'A platform operator\'s token, from POST /ops/api/login. Refused on /v1.',
  },
} as const;

const problemRef = { $ref: 'Problem#' };
const describe: Record<string, string> = {
  '400': 'The request is not valid (validation_failed, with errors[])',
  '401': 'No valid token (unauthenticated)',
  '402': 'The plan does not allow it (plan_limit_reached, feature_not_in_plan, subscription_suspended)',
  '403': 'The token may not do this (forbidden, with requiredPermission)',
  '404': 'No such resource (or one of another business)',
  '409': 'The resource is not in a state that allows this',
  '429': 'Too many requests (rate_limited, with Retry-After)',
  '503': 'A dependency (the database, Redis or the payment provider) cannot be reached; try again after Retry-After',
  default: 'Any other error, as problem details (5xx bodies never carry internals; quote the X-Request-Id)',
};

interface AccessConfig {
  public?: true;
  operator?: true;
  authenticated?: true;
  permission?: string;
  action?: string;
  entitlement?: unknown;
}

type Schema = Record<string, unknown> & { response?: Record<string, unknown>; security?: { [name: string]: string[] }[]; hide?: boolean };

/** The route's schema with its security and error responses filled in (what it declares itself is kept). */
export function documentedSchema(route: Pick<RouteOptions, "url" | "schema" | "config">): NonNullable<RouteOptions["schema"]> {
  const schema = { ...((route.schema ?? {}) as Schema) };
  if (schema.hide) return schema as NonNullable<RouteOptions['schema']>;
  const access = (route.config as { access?: AccessConfig } | undefined)?.access;
  const isPublic = !access || access.public === true;
  schema.security ??= isPublic ? [] : access.operator ? [{ operatorToken: [] }] : [{ tenantToken: [] }];

  const response: Record<string, unknown> = { ...(schema.response ?? {}) };
  const errors: string[] = [];
  if (schema.body || schema.querystring || schema.params || route.url.includes(':')) errors.push('400');
  if (!isPublic) errors.push('401');
  if (access?.permission || access?.action) errors.push('403');
  if (access?.entitlement) errors.push('402');
  if (route.url.includes(':')) errors.push('404');
  if (access && !isPublic && !access.operator) errors.push('429');
  errors.push('503', 'default');
  for (const status of errors) {
    response[status] ??= { description: describe[status], content: { 'application/problem+json': { schema: problemRef } } };
  }
  schema.response = response;
  return schema as NonNullable<RouteOptions['schema']>;
}

/** Registers the Problem schema (components.schemas.Problem); call before @fastify/swagger. */
export function installRouteDocumentation(app: FastifyInstance): void {
  app.addSchema(ProblemSchema);
}

/** @fastify/swagger's `transform`: every route as the document shows it. */
export const documentTransform = ({ schema, url, route }: { schema: unknown; url: string; route: { config?: unknown } }) => ({
  schema: documentedSchema({ url, schema: schema as RouteOptions['schema'], config: route.config as RouteOptions['config'] }),
  url,
});
