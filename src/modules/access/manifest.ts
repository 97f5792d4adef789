import type { FastifyRequest } from 'fastify';
import type { Scope } from '../../platform/auth/scope.ts';
import { AppError } from '../../platform/errors/index.ts';
import { actions, allActions, type Action } from './catalogue.ts';
import { can, canSomewhere, branchesWith, grantsToList } from './grants.ts';
import { forbidden, type AccessOptions, type Entitlement, type GuardedRoute } from './access.plugin.ts';

/** What the plan withholds from an action: the 402 its routes answer, and which routes they are. */
export interface PlanBlock {
  code: 'plan_limit_reached' | 'feature_not_in_plan';
  feature: string | null;
  limit: string | null;
  current: unknown;
  allowed: unknown;
  upgradeTo: string | null;
  plan: string | null;
  detail: string;
  /** The blocked operations, `METHOD /path` as in the API document. */
  operations: string[];
}

const planCodes = new Set(['plan_limit_reached', 'feature_not_in_plan']);

/** The plan check of the routes themselves, run without throwing: a 402 becomes a verdict. */
async function verdict(check: NonNullable<AccessOptions['checkEntitlement']>, scope: Scope, entitlement: Entitlement, req: FastifyRequest) {
  try {
    await check(scope, entitlement, req);
    return null;
  } catch (err) {
    if (err instanceof AppError && planCodes.has(err.code)) return err;
    throw err;
  }
}

/**
 * What the caller may do, for a UI to show, disable and explain without rules of its own.
 * `allowed` is decided exactly as a route performing the action decides its first check, and
 * `reason` is the sentence that route's 403 would carry. `planBlock` is what the plan check
 * of the action's routes answers (the same function, so the same 402); when it blocks every
 * route of the action, the action is not allowed and `reason` is the 402's sentence.
 */
export async function permissionManifest(scope: Scope, plan?: { routes: GuardedRoute[]; check: AccessOptions['checkEntitlement'] | null; req: FastifyRequest }) {
  const gated = new Map<Action, { operation: string; entitlement: Entitlement }[]>();
  const routesOf = new Map<Action, number>();
  for (const r of plan?.routes ?? []) {
    if (!('action' in r.access)) continue;
    routesOf.set(r.access.action, (routesOf.get(r.access.action) ?? 0) + 1);
    if (r.access.entitlement) gated.set(r.access.action, [...(gated.get(r.access.action) ?? []), { operation: `${r.method} ${r.url}`, entitlement: r.access.entitlement }]);
  }
  const verdicts = new Map<string, AppError | null>();

  async function planBlockOf(action: Action): Promise<PlanBlock | null> {
    const entries = gated.get(action);
    if (!entries || !plan?.check) return null;
    let block: PlanBlock | null = null;
    for (const { operation, entitlement } of entries) {
      const key = JSON.stringify(entitlement);
      if (!verdicts.has(key)) verdicts.set(key, await verdict(plan.check, scope, entitlement, plan.req));
      const err = verdicts.get(key);
      if (!err) continue;
      const x = err.extras as Record<string, unknown>;
      block ??= {
        code: err.code as PlanBlock['code'],
        feature: (x.feature as string | undefined) ?? null,
        limit: (x.limit as string | undefined) ?? null,
        current: x.current ?? null,
        allowed: x.allowed ?? null,
        upgradeTo: (x.upgradeTo as string | null | undefined) ?? null,
        plan: (x.plan as string | undefined) ?? null,
        detail: err.detail,
        operations: [],
      };
      block.operations.push(operation);
    }
    return block;
  }

  // One action after the other: each distinct plan check runs once, on one connection at a time.
  const out = [];
  for (const action of allActions) {
    const { permission, where, label } = actions[action];
    const permitted = where === 'tenant' ? can(scope.grants, permission, null) : canSomewhere(scope.grants, permission);
    const planBlock = permitted ? await planBlockOf(action) : null;
    const allowed = permitted && !(planBlock && planBlock.operations.length === routesOf.get(action));
    const branches = branchesWith(scope.grants, permission);
    out.push({
      action,
      label,
      allowed,
      requiredPermission: permission,
      branchIds: !allowed ? [] : branches === 'all' || where === 'tenant' ? null : branches,
      reason: allowed ? null : permitted ? planBlock!.detail : forbidden(scope, permission, null).detail,
      planBlock,
    });
  }
  return { permissions: grantsToList(scope.grants), actions: out };
}
