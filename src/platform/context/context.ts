import { AsyncLocalStorage } from 'node:async_hooks';

/**
 * Ambient ids for diagnostics only (logs, traces). Business code never reads the tenant from
 * here: it receives an explicit `scope`.
 */
export interface RunContext {
  requestId?: string;
  tenantId?: string;
  userId?: string;
  operatorId?: string;
  jobId?: string;
  /** The trace this unit of work belongs to (when tracing is on), for log lines. */
  traceId?: string;
  /** Milliseconds spent waiting on PostgreSQL so far (pool checkout and statements): a per-tenant signal. */
  dbMs?: number;
}

const storage = new AsyncLocalStorage<RunContext>();

export function runWithContext<T>(ctx: RunContext, fn: () => T): T {
  return storage.run(ctx, fn);
}

export function currentContext(): RunContext | undefined {
  return storage.getStore();
}

/** Adds ids to the current context (for example once a request is authenticated). */
export function enrichContext(extra: Partial<RunContext>): void {
  const store = storage.getStore();
  if (store) Object.assign(store, extra);
}

/** Adds database time to the current unit of work (see RunContext.dbMs). */
export function addDbTime(ms: number): void {
  const store = storage.getStore();
  if (store) store.dbMs = (store.dbMs ?? 0) + ms;
}
