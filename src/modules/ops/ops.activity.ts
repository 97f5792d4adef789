import { UUID, storable } from '../../platform/http/validation.ts';
import fp from 'fastify-plugin';
import type { ColumnType, Generated } from 'kysely';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { OperatorScope } from '../../platform/auth/scope.ts';
import { quickHook, quickSendHook } from '../../platform/http/hooks.ts';
import type { Tenancy } from '../../platform/db/index.ts';
import type { Logger } from '../../platform/log.ts';
import { cursorAt, decodeTimeCursor, afterCursor, toPage, timeKeyOf } from '../../platform/http/pagination.ts';
import { tenantNames } from './ops.tenants.ts';

declare module '../../platform/db/schema.ts' {
  interface Database {
    ops_activity: OpsActivityTable;
  }
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * The name of this operator route's action in the activity log. Every operator request
     * that changes something is recorded; a read is recorded only when it names an action
     * here (reads of a tenant's data under its support grant).
     */
    activity?: string;
  }
}

type Nullable<T> = ColumnType<T | null, T | null | undefined, T | null>;

export interface OpsActivityTable {
  id: Generated<string>;
  at: Generated<Date>;
  operator_id: Nullable<string>;
  operator_email: string;
  action: string;
  method: string;
  route: string;
  target: ColumnType<Record<string, string>, string, string>;
  about_tenant_id: Nullable<string>;
  reason: Nullable<string>;
  status: number;
  result: ColumnType<Record<string, unknown> | null, string | null, string | null>;
  request_id: Nullable<string>;
}

/** Bigger answers are not summaries; the record keeps the action, not its output. */
const RESULT_MAX = 4000;

/** 'POST /ops/api/billing/alerts/:id/resolve' → 'billing.alerts.resolve'. */
export function actionOfRoute(url: string): string {
  return url
    .replace(/^\/ops\/api\//, '')
    .split('/')
    .filter((part) => part && !part.startsWith(':'))
    .join('.');
}

function textOf(value: unknown): string | null {
  // The activity of a refused request is kept too: its text may hold what PostgreSQL cannot store.
  return typeof value === 'string' && value.trim() ? storable(value.slice(0, 1000)) : null;
}

function tenantOf(req: FastifyRequest, result: Record<string, unknown> | null): string | null {
  const candidates = [(req.params as Record<string, unknown>)?.tenantId, (req.body as Record<string, unknown> | undefined)?.tenantId, result?.tenantId];
  const found = candidates.find((c) => typeof c === 'string' && UUID.test(c));
  return (found as string | undefined) ?? null;
}

const kPayload = Symbol('ops activity payload');

/**
 * The activity log of the ops API, written at the edge so that no operator route can forget it:
 * who, what (the route and its parameters), about which business, why (the reason or note of the
 * body), and how it ended (the status and a summary of the answer; for a refusal, the problem).
 * It is written once the answer is known; the actions themselves keep their own records
 * (job_operations, reconciliation runs, the tenant's audit log for support reads).
 */
export const opsActivityPlugin = fp(async function opsActivityPlugin(app: FastifyInstance, opts: { tenancy: Tenancy; log: Logger }) {
  /** Recorded: every operator request but a read, and the reads a route declares as activity. */
  const recorded = (req: FastifyRequest) => Boolean(req.operator) && (req.method !== 'GET' || Boolean(req.routeOptions.config.activity));
  app.addHook(
    'onSend',
    quickSendHook((req, _reply, payload) => {
      if (recorded(req)) (req as unknown as Record<symbol, unknown>)[kPayload] = payload;
      return payload;
    }),
  );
  const record = async (req: FastifyRequest, reply: FastifyReply, op: OperatorScope) => {
    const declared = req.routeOptions.config.activity;
    const payload = (req as unknown as Record<symbol, unknown>)[kPayload];
    let result: Record<string, unknown> | null = null;
    // A read's answer is the tenant's data itself: never copied here. A failure keeps its problem.
    if ((req.method !== 'GET' || reply.statusCode >= 400) && typeof payload === 'string' && payload.length <= RESULT_MAX) {
      try {
        const parsed = JSON.parse(payload) as unknown;
        if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) result = parsed as Record<string, unknown>;
      } catch {
        result = null;
      }
    }
    if (result && reply.statusCode >= 400) result = { code: result.code, detail: result.detail };
    const body = (req.body ?? {}) as Record<string, unknown>;
    const params = Object.fromEntries(Object.entries((req.params ?? {}) as Record<string, unknown>).map(([k, v]) => [storable(k), storable(String(v))]));
    try {
      await opts.tenancy.withSystem('ops: record operator activity', (trx) =>
        trx
          .insertInto('ops_activity')
          .values({
            operator_id: op.operatorId,
            operator_email: op.email,
            action: declared ?? actionOfRoute(req.routeOptions.url ?? req.url),
            method: req.method,
            route: req.routeOptions.url ?? req.url.split('?')[0]!,
            target: JSON.stringify(params),
            about_tenant_id: tenantOf(req, result),
            reason: textOf(body.reason) ?? textOf(body.note),
            status: reply.statusCode,
            result: result ? JSON.stringify(result) : null,
            request_id: String(req.id),
          })
          .execute(),
      );
    } catch (err) {
      opts.log.error({ err, route: req.routeOptions.url }, 'ops: could not record operator activity');
    }
  };
  app.addHook('onResponse', quickHook((req, reply) => (req.operator && recorded(req) ? record(req, reply, req.operator) : undefined)));
});

export function opsActivity(tenancy: Tenancy) {
  return {
    async list(q: { operatorId?: string; tenantId?: string; action?: string; limit: number; cursor?: string }) {
      const after = decodeTimeCursor(q.cursor);
      const rows = await tenancy.withSystem('ops: list operator activity', (trx) => {
        let query = trx.selectFrom('ops_activity').selectAll().select(cursorAt('at').as('cursor_at'));
        if (q.operatorId) query = query.where('operator_id', '=', q.operatorId);
        if (q.tenantId) query = query.where('about_tenant_id', '=', q.tenantId);
        if (q.action) query = query.where('action', '=', q.action);
        if (after) query = query.where(afterCursor('at', 'id', after, 'desc'));
        return query.orderBy('at', 'desc').orderBy('id', 'desc').limit(q.limit + 1).execute();
      });
      const names = await tenantNames(tenancy, rows.map((r) => r.about_tenant_id));
      return toPage(rows, q.limit, timeKeyOf, (r) => ({
        id: r.id,
        at: r.at.toISOString(),
        operator: { id: r.operator_id, email: r.operator_email },
        action: r.action,
        method: r.method,
        route: r.route,
        target: r.target,
        tenantId: r.about_tenant_id,
        tenantName: r.about_tenant_id ? (names.get(r.about_tenant_id) ?? null) : null,
        reason: r.reason,
        status: r.status,
        outcome: r.status < 400 ? ('done' as const) : r.status < 500 ? ('refused' as const) : ('failed' as const),
        result: r.result,
        requestId: r.request_id,
      }));
    },
  };
}
