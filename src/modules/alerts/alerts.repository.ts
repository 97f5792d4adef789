import { sql, type ColumnType, type Generated, type Selectable } from 'kysely';
import type { Tx } from '../../platform/db/index.ts';
import type { Severity } from './alerts.rules.ts';

/** The alerts module's tables (migrations/20261201160958_observability.ts) and queries. */

type Nullable<T> = ColumnType<T | null, T | null | undefined, T | null>;
type Stamp = ColumnType<Date, Date | string, Date | string>;

export type AlertState = 'open' | 'acknowledged' | 'resolved';

export interface AlertsTable {
  id: Generated<string>;
  rule: string;
  severity: Severity;
  tenant_id: string | null;
  subject: string;
  state: ColumnType<AlertState, AlertState | undefined, AlertState>;
  summary: string;
  observed: Nullable<number>;
  expected: Nullable<number>;
  unit: Nullable<string>;
  peak: Nullable<number>;
  details: ColumnType<Record<string, unknown>, string | undefined, string>;
  occurrences: ColumnType<number, number | undefined, number>;
  started_at: Stamp;
  last_seen_at: Stamp;
  normal_since: Nullable<Date>;
  acknowledged_at: Nullable<Date>;
  acknowledged_by: Nullable<string>;
  resolved_at: Nullable<Date>;
  resolved_by: Nullable<string>;
  resolution: Nullable<'auto' | 'operator'>;
}

export interface AlertEventsTable {
  id: Generated<string>;
  alert_id: string;
  at: Generated<Date>;
  action: 'opened' | 'acknowledged' | 'resolved' | 'auto_resolved';
  actor: string;
  operator_id: string | null;
  note: string | null;
  request_id: string | null;
  details: ColumnType<Record<string, unknown>, string | undefined, string>;
}

export type NotificationState = 'pending' | 'queued' | 'sent' | 'retrying' | 'dead';

export interface AlertNotificationsTable {
  id: Generated<string>;
  alert_id: string;
  event: 'opened' | 'resolved';
  channel: 'mail' | 'webhook';
  target: string;
  state: ColumnType<NotificationState, NotificationState | undefined, NotificationState>;
  attempts: ColumnType<number, number | undefined, number>;
  last_error: Nullable<string>;
  created_at: Generated<Date>;
  queued_at: Nullable<Date>;
  sent_at: Nullable<Date>;
}

declare module '../../platform/db/schema.ts' {
  interface Database {
    alerts: AlertsTable;
    alert_events: AlertEventsTable;
    alert_notifications: AlertNotificationsTable;
  }
}

export type AlertRow = Selectable<AlertsTable> & { tenant_name: string | null; tenant_slug: string | null };
export type NotificationRow = Selectable<AlertNotificationsTable>;
export type AlertEventRow = Selectable<AlertEventsTable>;

/** Alerts with the business name and slug beside the tenant id. */
export function alertsWithTenant(trx: Tx) {
  return trx
    .selectFrom('alerts as a')
    .leftJoin('tenants as t', 't.id', 'a.tenant_id')
    .selectAll('a')
    .select(['t.name as tenant_name', 't.slug as tenant_slug']);
}

export async function lockAlert(trx: Tx, id: string) {
  return trx.selectFrom('alerts').selectAll().where('id', '=', id).forUpdate().executeTakeFirst();
}

export async function insertEvent(
  trx: Tx,
  e: { alertId: string; action: AlertEventsTable['action']; actor: string; operatorId?: string | null; note?: string | null; requestId?: string | null; details?: Record<string, unknown> },
): Promise<void> {
  await trx
    .insertInto('alert_events')
    .values({
      alert_id: e.alertId,
      action: e.action,
      actor: e.actor,
      operator_id: e.operatorId ?? null,
      note: e.note ?? null,
      request_id: e.requestId ?? null,
      details: JSON.stringify(e.details ?? {}),
    })
    .execute();
}

export async function insertNotifications(trx: Tx, alertId: string, event: 'opened' | 'resolved', targets: { channel: 'mail' | 'webhook'; target: string }[]): Promise<void> {
  if (targets.length === 0) return;
  await trx
    .insertInto('alert_notifications')
    .values(targets.map((t) => ({ alert_id: alertId, event, channel: t.channel, target: t.target })))
    .execute();
}

export async function eventsOf(trx: Tx, alertIds: string[]) {
  if (alertIds.length === 0) return [];
  return trx.selectFrom('alert_events').selectAll().where('alert_id', 'in', alertIds).orderBy('id').execute();
}

export async function notificationsOf(trx: Tx, alertIds: string[]) {
  if (alertIds.length === 0) return [];
  return trx.selectFrom('alert_notifications').selectAll().where('alert_id', 'in', alertIds).orderBy('created_at').orderBy('id').execute();
}

/** Unresolved alerts of some rules, keyed by subject: what the evaluator compares with. */
export async function unresolvedOf(trx: Tx, rules: string[]) {
  if (rules.length === 0) return [];
  return trx.selectFrom('alerts').selectAll().where('rule', 'in', rules).where('state', '<>', 'resolved').execute();
}

export const now = () => sql<Date>`clock_timestamp()`;
