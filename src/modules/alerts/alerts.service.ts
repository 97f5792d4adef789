import { sql } from 'kysely';
import type { Config } from '../../config.ts';
import type { Platform } from '../../platform/deps.ts';
import type { Tx } from '../../platform/db/index.ts';
import type { OperatorScope } from '../../platform/auth/index.ts';
import { AppError } from '../../platform/errors/index.ts';
import { decodeTimeCursor, cursorAt, afterCursor, toPage, timeKeyOf, type Page } from '../../platform/http/pagination.ts';
import { alertRules, runbookUrl, type RuleName } from './alerts.rules.ts';
import {
  alertsWithTenant,
  eventsOf,
  insertEvent,
  insertNotifications,
  lockAlert,
  notificationsOf,
  type AlertRow,
  type AlertState,
  type NotificationRow,
  type AlertEventRow,
} from './alerts.repository.ts';

/**
 * One alert model for every source. An alert has a rule, a severity, the tenant when there is
 * one, what was observed against what was expected, when it started, and its runbook link.
 * At most one alert per rule and subject (the tenant, for tenant rules) is not resolved: a
 * repeat counts on it instead of opening another (no storm). Operators acknowledge and resolve
 * with a note (kept in alert_events with who, when and from which request); an alert whose
 * signal is normal again for a quiet period resolves by itself. Opening and resolving write
 * notification rows in the same transaction; jobs deliver them (alerts.notify.ts).
 */
export interface RaiseInput {
  rule: RuleName;
  tenantId?: string | null;
  /** What the alert is about when that is not a tenant (a job type); default: the tenant, or "platform". */
  subject?: string;
  summary: string;
  observed?: number | null;
  expected?: number | null;
  details?: Record<string, unknown>;
  /** When the signal was seen (the evaluator's clock); default now. */
  at?: Date;
  /** Who raised it, for the history (default: the rule evaluator). */
  source?: string;
}

export const subjectOf = (input: { subject?: string; tenantId?: string | null }) => input.subject ?? input.tenantId ?? 'platform';

function notificationTargets(config: Config): { channel: 'mail' | 'webhook'; target: string }[] {
  return [
    ...(config.BRIGADE_ALERT_MAIL_TO ?? []).map((to) => ({ channel: 'mail' as const, target: to })),
    ...(config.BRIGADE_ALERT_WEBHOOK_URL ? [{ channel: 'webhook' as const, target: config.BRIGADE_ALERT_WEBHOOK_URL }] : []),
  ];
}

/**
 * Opens an alert, or counts one more sighting on the one already open for the rule and
 * subject, inside the caller's transaction (the alert exists exactly when what it is about
 * does). Returns whether it opened.
 */
export async function raiseAlert(trx: Tx, config: Config, input: RaiseInput): Promise<{ id: string; opened: boolean }> {
  const rule = alertRules[input.rule];
  const at = input.at ?? new Date();
  const observed = input.observed ?? null;
  const peak = rule.direction === 'down' ? sql`least(alerts.peak, excluded.peak)` : sql`greatest(alerts.peak, excluded.peak)`;
  const { rows } = await sql<{ id: string; opened: boolean }>`
    INSERT INTO alerts (rule, severity, tenant_id, subject, summary, observed, expected, unit, peak, details, started_at, last_seen_at)
    VALUES (${input.rule}, ${rule.severity}, ${input.tenantId ?? null}, ${subjectOf(input)}, ${input.summary}, ${observed}, ${input.expected ?? null},
            ${rule.unit}, ${observed}, ${JSON.stringify(input.details ?? {})}::jsonb, ${at}, ${at})
    ON CONFLICT (rule, subject) WHERE state <> 'resolved' DO UPDATE SET
      occurrences = alerts.occurrences + 1, last_seen_at = greatest(alerts.last_seen_at, excluded.last_seen_at),
      summary = excluded.summary, observed = excluded.observed, expected = excluded.expected,
      peak = ${peak}, details = excluded.details, normal_since = NULL
    RETURNING id, (xmax = 0) AS opened`.execute(trx);
  const row = rows[0]!;
  if (row.opened) {
    await insertEvent(trx, { alertId: row.id, action: 'opened', actor: input.source ?? 'brigade: rule evaluator', details: { summary: input.summary, observed, expected: input.expected ?? null } });
    await insertNotifications(trx, row.id, 'opened', notificationTargets(config));
  }
  return row;
}

/**
 * The signal behind an unresolved alert is normal: from the first normal sighting, the alert
 * resolves by itself once `quietMs` have passed without it firing again (a signal hovering at
 * its threshold resolves once, not on every dip).
 */
export async function signalNormal(trx: Tx, config: Config, q: { rule: RuleName; subject: string; at: Date; quietMs: number; observed?: number | null }): Promise<'resolved' | 'quieting' | 'none'> {
  const open = await trx.selectFrom('alerts').selectAll().where('rule', '=', q.rule).where('subject', '=', q.subject).where('state', '<>', 'resolved').forUpdate().executeTakeFirst();
  if (!open) return 'none';
  if (!open.normal_since) {
    await trx.updateTable('alerts').set({ normal_since: q.at }).where('id', '=', open.id).execute();
    return 'quieting';
  }
  if (q.at.getTime() - open.normal_since.getTime() < q.quietMs) return 'quieting';
  await resolveRow(trx, config, open.id, { resolution: 'auto', by: 'brigade', at: q.at, note: 'The signal has been back to normal for the quiet period.', observed: q.observed ?? null });
  return 'resolved';
}

/** Resolves the unresolved alert of a rule and subject at once (its source knows it is over). */
export async function resolveAlertOf(trx: Tx, config: Config, q: { rule: RuleName; subject: string; note: string; at?: Date }): Promise<boolean> {
  const open = await trx.selectFrom('alerts').select('id').where('rule', '=', q.rule).where('subject', '=', q.subject).where('state', '<>', 'resolved').forUpdate().executeTakeFirst();
  if (!open) return false;
  await resolveRow(trx, config, open.id, { resolution: 'auto', by: 'brigade', at: q.at ?? new Date(), note: q.note, observed: null });
  return true;
}

async function resolveRow(
  trx: Tx,
  config: Config,
  id: string,
  r: { resolution: 'auto' | 'operator'; by: string; at: Date; note: string; observed: number | null; operator?: OperatorScope },
): Promise<void> {
  await trx
    .updateTable('alerts')
    .set({ state: 'resolved', resolved_at: r.at, resolved_by: r.by, resolution: r.resolution, normal_since: null, ...(r.observed !== null ? { observed: r.observed } : {}) })
    .where('id', '=', id)
    .execute();
  await insertEvent(trx, {
    alertId: id,
    action: r.resolution === 'auto' ? 'auto_resolved' : 'resolved',
    actor: r.by,
    operatorId: r.operator?.operatorId ?? null,
    note: r.note,
    requestId: r.operator?.requestId ?? null,
  });
  await insertNotifications(trx, id, 'resolved', notificationTargets(config));
}

// ---------------------------------------------------------------------------------------------
// What operators see and do (the ops API).

export interface AlertFilter {
  state?: AlertState;
  /** Open or acknowledged. */
  unresolved?: boolean;
  tenantId?: string;
  rule?: string;
  severity?: string;
  limit?: number;
  cursor?: string;
}

export function alertsService(platform: Platform) {
  const { tenancy, config } = platform;

  const view = (row: AlertRow, notifications: NotificationRow[]) => ({
    id: row.id,
    rule: row.rule,
    title: (alertRules as Record<string, { title: string }>)[row.rule]?.title ?? row.rule,
    severity: row.severity,
    tenantId: row.tenant_id,
    tenantName: row.tenant_name,
    tenantSlug: row.tenant_slug,
    subject: row.subject,
    state: row.state,
    summary: row.summary,
    observed: row.observed,
    expected: row.expected,
    unit: row.unit,
    peak: row.peak,
    details: row.details,
    occurrences: row.occurrences,
    startedAt: row.started_at.toISOString(),
    lastSeenAt: row.last_seen_at.toISOString(),
    acknowledgedAt: row.acknowledged_at?.toISOString() ?? null,
    acknowledgedBy: row.acknowledged_by,
    resolvedAt: row.resolved_at?.toISOString() ?? null,
    resolvedBy: row.resolved_by,
    resolution: row.resolution,
    runbookUrl: runbookUrl(config, row.rule),
    notifications: notifications.map((n) => ({
      id: n.id,
      event: n.event,
      channel: n.channel,
      // A webhook URL may carry a token in its query: the host and path say enough.
      target: n.channel === 'webhook' ? redactUrl(n.target) : n.target,
      state: n.state,
      attempts: n.attempts,
      lastError: n.last_error,
      createdAt: n.created_at.toISOString(),
      sentAt: n.sent_at?.toISOString() ?? null,
    })),
  });

  const historyView = (e: AlertEventRow) => ({ at: e.at.toISOString(), action: e.action, actor: e.actor, note: e.note, requestId: e.request_id });

  async function getAlert(id: string) {
    return tenancy.withSystem('ops: one alert', async (trx) => {
      const row = await alertsWithTenant(trx).where('a.id', '=', id).executeTakeFirst();
      if (!row) return null;
      const [notifications, history] = await Promise.all([notificationsOf(trx, [id]), eventsOf(trx, [id])]);
      return { ...view(row, notifications), history: history.map(historyView) };
    });
  }

  async function act(operator: OperatorScope, id: string, action: 'acknowledge' | 'resolve', note: string) {
    const found = await tenancy.withSystem(`ops: ${action} an alert`, async (trx) => {
      const row = await lockAlert(trx, id);
      if (!row) return null;
      if (row.state === 'resolved') {
        throw new AppError('invalid_state', `This alert was resolved at ${row.resolved_at?.toISOString()} by ${row.resolved_by}; a new occurrence opens a new alert.`, { state: row.state });
      }
      const by = `operator:${operator.email}`;
      if (action === 'acknowledge') {
        if (row.state === 'acknowledged') throw new AppError('invalid_state', `This alert was already acknowledged by ${row.acknowledged_by}.`, { state: row.state });
        await trx.updateTable('alerts').set({ state: 'acknowledged', acknowledged_at: new Date(), acknowledged_by: by }).where('id', '=', id).execute();
        await insertEvent(trx, { alertId: id, action: 'acknowledged', actor: by, operatorId: operator.operatorId, note, requestId: operator.requestId });
      } else {
        await resolveRow(trx, config, id, { resolution: 'operator', by, at: new Date(), note, observed: null, operator });
      }
      return true;
    });
    if (!found) throw new AppError('not_found', 'There is no such alert.');
    return (await getAlert(id))!;
  }

  return {
    async listAlerts(f: AlertFilter): Promise<Page<ReturnType<typeof view>>> {
      const limit = f.limit ?? 50;
      const after = decodeTimeCursor(f.cursor);
      return tenancy.withSystem('ops: alerts', async (trx) => {
        let q = alertsWithTenant(trx).select(cursorAt('a.started_at').as('cursor_at'));
        if (f.state) q = q.where('a.state', '=', f.state);
        if (f.unresolved) q = q.where('a.state', '<>', 'resolved');
        if (f.tenantId) q = q.where('a.tenant_id', '=', f.tenantId);
        if (f.rule) q = f.rule.endsWith('.*') ? q.where('a.rule', 'like', `${f.rule.slice(0, -1)}%`) : q.where('a.rule', '=', f.rule);
        if (f.severity) q = q.where('a.severity', '=', f.severity as 'critical');
        if (after) q = q.where(afterCursor('a.started_at', 'a.id', after, 'desc'));
        const rows = await q.orderBy('a.started_at', 'desc').orderBy('a.id', 'desc').limit(limit + 1).execute();
        const notifications = await notificationsOf(trx, rows.slice(0, limit).map((r) => r.id));
        const byAlert = groupBy(notifications, (n) => n.alert_id);
        return toPage(rows, limit, timeKeyOf, (r) => view(r, byAlert.get(r.id) ?? []));
      });
    },
    getAlert,
    acknowledge: (operator: OperatorScope, id: string, note: string) => act(operator, id, 'acknowledge', note),
    resolve: (operator: OperatorScope, id: string, note: string) => act(operator, id, 'resolve', note),
    /** Unresolved alerts of some tenants (the ops tenant pages show them). */
    async openAlertsOf(tenantIds: string[]) {
      if (tenantIds.length === 0) return new Map<string, ReturnType<typeof view>[]>();
      return tenancy.withSystem('ops: open alerts of tenants', async (trx) => {
        const rows = await alertsWithTenant(trx).where('a.tenant_id', 'in', tenantIds).where('a.state', '<>', 'resolved').orderBy('a.started_at', 'desc').execute();
        const notifications = groupBy(await notificationsOf(trx, rows.map((r) => r.id)), (n) => n.alert_id);
        return groupBy(rows.map((r) => view(r, notifications.get(r.id) ?? [])), (a) => a.tenantId!);
      });
    },
  };
}

export type AlertsService = ReturnType<typeof alertsService>;
export type AlertView = Awaited<ReturnType<AlertsService['listAlerts']>>['data'][number];

function redactUrl(raw: string): string {
  try {
    const u = new URL(raw);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return '[unparseable URL]';
  }
}

function groupBy<T, K>(items: T[], key: (item: T) => K): Map<K, T[]> {
  const out = new Map<K, T[]>();
  for (const item of items) {
    const k = key(item);
    const list = out.get(k);
    if (list) list.push(item);
    else out.set(k, [item]);
  }
  return out;
}
