import type { Platform } from '../../platform/deps.ts';
import { AppError } from '../../platform/errors/index.ts';
import type { OperatorScope } from '../../platform/auth/index.ts';
import { alertsService } from '../alerts/index.ts';
import { invoiceView } from './billing.service.ts';
import { afterCursor, cursorAt, decodeTimeCursor, toPage, timeKeyOf } from '../../platform/http/pagination.ts';

/**
 * What operators see of billing (the ops API and `brigade billing ...`): reconciliation runs,
 * the divergences they found, alerts, and the webhook inbox. Platform tables, read through
 * withSystem; no tenant route reaches this.
 */

export interface OpsListQuery {
  limit?: number;
  cursor?: string;
  tenantId?: string;
  open?: boolean;
  runId?: string;
}

export function billingOps(platform: Platform) {
  const { tenancy } = platform;

  return {
    async divergences(q: OpsListQuery) {
      const limit = q.limit ?? 50;
      const after = decodeTimeCursor(q.cursor);
      const rows = await tenancy.withSystem('ops: billing divergences', (trx) => {
        let query = trx.selectFrom('billing_divergences as d').leftJoin('tenants as t', 't.id', 'd.tenant_id').selectAll('d').select(['t.name as tenant_name', cursorAt('d.detected_at').as('cursor_at')]);
        if (q.tenantId) query = query.where('d.tenant_id', '=', q.tenantId);
        if (q.runId) query = query.where('d.run_id', '=', q.runId);
        if (after) query = query.where(afterCursor('d.detected_at', 'd.id', after, 'desc'));
        return query.orderBy('d.detected_at', 'desc').orderBy('d.id', 'desc').limit(limit + 1).execute();
      });
      return toPage(rows, limit, timeKeyOf, (r) => ({
        id: r.id,
        runId: r.run_id,
        tenantId: r.tenant_id,
        tenantName: r.tenant_name ?? null,
        field: r.field,
        local: r.local_value,
        provider: r.provider_value,
        repaired: r.repaired,
        note: r.note,
        detectedAt: r.detected_at.toISOString(),
      }));
    },

    /** Billing's alerts: the alerts of the billing.* rules in the one alert model (modules/alerts). */
    alerts(q: OpsListQuery) {
      return alertsService(platform).listAlerts({
        rule: 'billing.*',
        limit: q.limit,
        cursor: q.cursor,
        tenantId: q.tenantId,
        ...(q.open === true ? { unresolved: true } : q.open === false ? { state: 'resolved' as const } : {}),
      });
    },

    async resolveAlert(operator: OperatorScope, id: string) {
      const alert = await alertsService(platform).getAlert(id);
      if (!alert || !alert.rule.startsWith('billing.') || alert.state === 'resolved') throw new AppError('not_found', 'No such open alert.');
      const resolved = await alertsService(platform).resolve(operator, id, 'Marked handled in the billing alerts list.');
      return { id: resolved.id, resolvedAt: resolved.resolvedAt!, resolvedBy: resolved.resolvedBy };
    },

    /** One business's invoices, newest first: operational billing facts, no grant needed. */
    async invoices(q: OpsListQuery & { tenantId: string }) {
      const limit = q.limit ?? 50;
      const after = decodeTimeCursor(q.cursor);
      const rows = await tenancy.withSystem('ops: billing invoices', (trx) => {
        let query = trx.selectFrom('billing_invoices as i').selectAll('i').select(cursorAt('i.issued_at').as('cursor_at')).where('i.tenant_id', '=', q.tenantId);
        if (after) query = query.where(afterCursor('i.issued_at', 'i.id', after, 'desc'));
        return query.orderBy('i.issued_at', 'desc').orderBy('i.id', 'desc').limit(limit + 1).execute();
      });
      return toPage(rows, limit, timeKeyOf, invoiceView);
    },

    async runs(q: OpsListQuery) {
      const limit = q.limit ?? 50;
      const after = decodeTimeCursor(q.cursor);
      const rows = await tenancy.withSystem('ops: billing reconciliations', (trx) => {
        let query = trx.selectFrom('billing_reconcile_runs as r').leftJoin('tenants as t', 't.id', 'r.tenant_id').selectAll('r').select(['t.name as tenant_name', cursorAt('r.started_at').as('cursor_at')]);
        if (q.tenantId) query = query.where('r.tenant_id', '=', q.tenantId);
        if (q.runId) query = query.where('r.id', '=', q.runId);
        if (after) query = query.where(afterCursor('r.started_at', 'r.id', after, 'desc'));
        return query.orderBy('r.started_at', 'desc').orderBy('r.id', 'desc').limit(limit + 1).execute();
      });
      return toPage(rows, limit, timeKeyOf, (r) => ({
        id: r.id,
        trigger: r.trigger,
        tenantId: r.tenant_id,
        tenantName: r.tenant_name ?? null,
        startedAt: r.started_at.toISOString(),
        finishedAt: r.finished_at?.toISOString() ?? null,
        tenantsChecked: r.tenants_checked,
        divergences: r.divergences,
        repaired: r.repaired,
        eventsCaughtUp: r.events_caught_up,
        eventsRetried: r.events_retried,
        errors: r.errors,
        error: r.error,
      }));
    },

    async events(q: OpsListQuery & { outcome?: string; type?: string }) {
      const limit = q.limit ?? 50;
      const after = decodeTimeCursor(q.cursor, 'text');
      const rows = await tenancy.withSystem('ops: billing webhook inbox', (trx) => {
        let query = trx
          .selectFrom('billing_events as e')
          .leftJoin('tenants as t', 't.id', 'e.tenant_id')
          .select(['e.provider_event_id', 'e.provider', 'e.type', 'e.tenant_id', 'e.object_id', 'e.provider_created_at', 'e.received_at', 'e.via', 'e.outcome', 'e.processed_at', 'e.attempts', 'e.last_error', 't.name as tenant_name', cursorAt('e.received_at').as('cursor_at')]);
        if (q.tenantId) query = query.where('e.tenant_id', '=', q.tenantId);
        if (q.outcome) query = query.where('e.outcome', '=', q.outcome as 'pending');
        if (q.type) query = query.where('e.type', '=', q.type);
        if (after) query = query.where(afterCursor('e.received_at', 'e.provider_event_id', after, 'desc', 'text'));
        return query.orderBy('e.received_at', 'desc').orderBy('e.provider_event_id', 'desc').limit(limit + 1).execute();
      });
      return toPage(rows, limit, (r) => [r.cursor_at, r.provider_event_id], (r) => ({
        id: r.provider_event_id,
        provider: r.provider,
        type: r.type,
        tenantId: r.tenant_id,
        tenantName: r.tenant_name ?? null,
        objectId: r.object_id,
        createdAt: r.provider_created_at.toISOString(),
        receivedAt: r.received_at.toISOString(),
        via: r.via,
        outcome: r.outcome,
        processedAt: r.processed_at?.toISOString() ?? null,
        attempts: r.attempts,
        lastError: r.last_error,
      }));
    },
  };
}

export type BillingOps = ReturnType<typeof billingOps>;
