import fp from 'fastify-plugin';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { AppError } from '../../platform/errors/index.ts';
import { enrichContext } from '../../platform/context/index.ts';
import { tagRequestSpan } from '../../platform/telemetry.ts';
import { quickHook } from '../../platform/http/hooks.ts';
import { andThen, type Awaitable } from '../../platform/awaitable.ts';
import type { Scope, OperatorScope } from '../../platform/auth/scope.ts';
import { permissions, actions, isPermission, isAction, type Permission, type Action } from './catalogue.ts';
import { can, canSomewhere, explainDenial } from './grants.ts';

/**
 * Where a permission applies for one route:
 * - 'tenant': the caller must hold it for the whole business;
 * - 'list': the caller must hold it somewhere; the service then shows only permitted branches;
 * - a function: the branch the request touches (from the body, or the branch of the order it
 *   names); null means the resource belongs to no branch, so a tenant-wide grant is needed.
 *   It may throw not_found, which is what another tenant's id gets.
 */
export type BranchResolver = (req: FastifyRequest, scope: Scope) => string | null | Promise<string | null>;

/**
 * What the plan must allow. `feature` is checked with the permission, before the handler;
 * `limit` names the counted limit the route's use case claims in its own transaction
 * (platform.hooks.claimLimit), and documents the 402 and the manifest's planBlock.
 */
export interface Entitlement {
  feature?: string;
  limit?: string;
}

export type RouteAccess =
  | { public: true }
  | { authenticated: true }
  | { operator: true }
  | { permission: Permission; branch: 'tenant' | 'list' | BranchResolver; entitlement?: Entitlement }
  /** A user-facing action of the catalogue: its permission comes from there, as the manifest's does. */
  | { action: Action; branch: 'tenant' | 'list' | BranchResolver; entitlement?: Entitlement };

/** An access rule that names a permission and where it applies. */
type BranchAccess = Extract<RouteAccess, { branch: unknown }>;

/** The permission a route requires, or null when it requires none (public, authenticated, operator). */
export function requiredPermission(access: RouteAccess): Permission | null {
  if ('action' in access) return actions[access.action].permission;
  if ('permission' in access) return access.permission;
  return null;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    access?: RouteAccess;
  }
  interface FastifyInstance {
    /** Every guarded route with its access rule: what the isolation and permission suites walk. */
    accessTable: GuardedRoute[];
    /** The plan check of the access options, for handlers whose need depends on the request. */
    entitlementCheck: AccessOptions['checkEntitlement'] | null;
  }
  interface FastifyRequest {
    scope: Scope | null;
    operator: OperatorScope | null;
  }
}

export interface GuardedRoute {
  method: string;
  url: string;
  access: RouteAccess;
}

export interface AccessOptions {
  authenticate(token: string, req: FastifyRequest): Awaitable<Scope | null>;
  authenticateOperator(token: string, req: FastifyRequest): Promise<OperatorScope | null>;
  /** Billing's plan check, run in the same step as the permission check; throws a 402 AppError. */
  checkEntitlement?(scope: Scope, entitlement: Entitlement, req: FastifyRequest): Awaitable<void>;
  /** Runs once the caller is known, before anything else (the per-tenant rate limit). */
  afterAuthenticate?(scope: Scope, req: FastifyRequest): Awaitable<void>;
  /** Path prefixes whose routes must declare access (the app refuses to start otherwise). */
  guardedPrefixes: string[];
}

function bearer(req: FastifyRequest): string | null {
  const header = req.headers.authorization;
  if (!header) return null;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return match?.[1] ?? null;
}

const unauthenticated = () =>
  new AppError('unauthenticated', 'Send a valid token as "Authorization: Bearer <token>".', {}, { 'WWW-Authenticate': 'Bearer' });

export function forbidden(scope: Scope, permission: Permission, branchId: string | null): AppError {
  const tenantWide = branchId === null || permissions[permission].level === 'tenant';
  return new AppError('forbidden', explainDenial(scope.roles, permission, tenantWide ? null : branchId), {
    requiredPermission: permission,
    scope: tenantWide ? { tenant: true } : { branchId },
  });
}

/** Throws 403 unless the scope holds `permission` in `branchId` (or tenant-wide for null). */
export function assertCan(scope: Scope, permission: Permission, branchId: string | null): void {
  const needsTenant = branchId === null || permissions[permission].level === 'tenant';
  if (!can(scope.grants, permission, needsTenant ? null : branchId)) throw forbidden(scope, permission, branchId);
}

export function scopeOf(req: FastifyRequest): Scope {
  if (!req.scope) throw unauthenticated();
  return req.scope;
}

export function operatorOf(req: FastifyRequest): OperatorScope {
  if (!req.operator) throw unauthenticated();
  return req.operator;
}

export const accessPlugin = fp(async function accessPlugin(app: FastifyInstance, opts: AccessOptions) {
  app.decorateRequest('scope', null);
  app.decorateRequest('operator', null);
  const table: GuardedRoute[] = [];
  app.decorate('accessTable', table);
  app.decorate('entitlementCheck', opts.checkEntitlement ?? null);

  app.addHook('onRoute', (route) => {
    const guarded = opts.guardedPrefixes.some((p) => route.url.startsWith(p));
    if (!guarded) return;
    const access = route.config?.access;
    const name = `${String(route.method)} ${route.url}`;
    if (!access) throw new Error(`Route ${name} declares no access rule (config.access)`);
    if ('permission' in access && !isPermission(access.permission)) throw new Error(`Route ${name} requires unknown permission "${access.permission}"`);
    if ('action' in access) {
      if (!isAction(access.action)) throw new Error(`Route ${name} declares unknown action "${access.action}"`);
      // The manifest answers "allowed" the way this route decides at its first check; make sure it can.
      const tenantWide = actions[access.action].where === 'tenant';
      if (tenantWide !== (access.branch === 'tenant')) {
        throw new Error(`Route ${name} performs ${access.action}, which the catalogue says is decided ${tenantWide ? "tenant-wide (branch: 'tenant')" : "per branch (branch: 'list' or a resolver)"}`);
      }
    }
    for (const method of [route.method].flat()) table.push({ method: String(method), url: route.url, access });
  });

  // Who: before the body is even parsed, so an anonymous caller learns nothing but 401.
  // Synchronous while the answers are cached (see Awaitable): the common path makes no promise.
  const authenticate = (req: FastifyRequest, access: RouteAccess): Awaitable<void> => {
    const token = bearer(req);
    if (!token) throw unauthenticated();
    if ('operator' in access) {
      return opts.authenticateOperator(token, req).then((op) => {
        if (!op) throw unauthenticated();
        req.operator = op;
        enrichContext({ operatorId: op.operatorId });
      });
    }
    return andThen(opts.authenticate(token, req), (scope) => {
      if (!scope) throw unauthenticated();
      req.scope = scope;
      enrichContext({ tenantId: scope.tenantId, userId: scope.userId });
      tagRequestSpan(req, { 'brigade.tenant_id': scope.tenantId, 'enduser.id': scope.userId });
      return opts.afterAuthenticate?.(scope, req);
    });
  };
  app.addHook(
    'onRequest',
    quickHook((req) => {
      const access = req.routeOptions.config.access;
      return !access || 'public' in access ? undefined : authenticate(req, access);
    }),
  );

  // What, coarse: a caller without the permission anywhere is refused before validation.
  app.addHook(
    'preValidation',
    quickHook((req) => {
      const access = req.routeOptions.config.access;
      if (!access || !('branch' in access) || !req.scope) return;
      const permission = requiredPermission(access)!;
      if (access.branch === 'tenant') assertCan(req.scope, permission, null);
      else if (!canSomewhere(req.scope.grants, permission)) throw forbidden(req.scope, permission, null);
    }),
  );

  // What, exact: the branch the request touches, then the plan.
  const exact = (req: FastifyRequest, scope: Scope, access: BranchAccess): Awaitable<void> => {
    // A counted limit is claimed exactly inside the creating transaction (platform.hooks.claimLimit);
    // checking it here too would count twice and still let racers through. Features are checked here.
    const feature = access.entitlement?.feature;
    const plan = () => (feature && opts.checkEntitlement ? opts.checkEntitlement(scope, { feature }, req) : undefined);
    if (typeof access.branch !== 'function') return plan();
    return andThen(access.branch(req, scope), (branchId) => {
      assertCan(scope, requiredPermission(access)!, branchId);
      return plan();
    });
  };
  app.addHook(
    'preHandler',
    quickHook((req) => {
      const access = req.routeOptions.config.access;
      if (!access || !('branch' in access) || !req.scope) return;
      if (typeof access.branch !== 'function' && !(access.entitlement?.feature && opts.checkEntitlement)) return;
      return exact(req, req.scope, access);
    }),
  );
});

/**
 * The plan check for a need a route cannot declare up front (a CSV download of a report that
 * is otherwise a read): the same 402s as a declared `entitlement`.
 */
export async function assertEntitled(req: FastifyRequest, entitlement: Entitlement): Promise<void> {
  if (req.server.entitlementCheck) await req.server.entitlementCheck(scopeOf(req), entitlement, req);
}

/** Resolvers for the common places a branch id is sent. */
export const branchFromBody: BranchResolver = (req) => (req.body as { branchId?: string } | undefined)?.branchId ?? null;
