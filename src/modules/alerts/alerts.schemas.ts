import { Type } from 'typebox';
import { Uuid, Timestamp, NullableTimestamp } from '../../platform/http/schemas.ts';
import { PageQuery, pageOf } from '../../platform/http/pagination.ts';
import { ruleNames } from './alerts.rules.ts';

const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(t: T) => Type.Union([t, Type.Null()]);
const AlertStateSchema = Type.Union([Type.Literal('open'), Type.Literal('acknowledged'), Type.Literal('resolved')]);
const SeveritySchema = Type.Union([Type.Literal('critical'), Type.Literal('warning'), Type.Literal('info')]);

export const AlertsQuery = Type.Object(
  {
    state: Type.Optional(AlertStateSchema),
    tenantId: Type.Optional(Uuid),
    rule: Type.Optional(
      Type.Union([...ruleNames.map((r) => Type.Literal(r)), Type.Literal('tenant.*'), Type.Literal('jobs.*'), Type.Literal('billing.*')], {
        description: 'One rule, or every rule of a source (tenant.*, jobs.*, billing.*)',
      }),
    ),
    severity: Type.Optional(SeveritySchema),
    ...PageQuery,
  },
  { additionalProperties: false },
);

export const AlertParams = Type.Object({ id: Uuid }, { additionalProperties: false });

export const AlertActionBody = Type.Object(
  { note: Type.String({ minLength: 1, maxLength: 1000, pattern: '\\S', description: 'What was found or done; kept in the alert history with the operator' }) },
  { additionalProperties: false },
);

export const AlertNotification = Type.Object({
  id: Uuid,
  event: Type.Union([Type.Literal('opened'), Type.Literal('resolved')]),
  channel: Type.Union([Type.Literal('mail'), Type.Literal('webhook')]),
  target: Type.String({ description: 'The address, or the webhook URL without its query' }),
  state: Type.Union([Type.Literal('pending'), Type.Literal('queued'), Type.Literal('sent'), Type.Literal('retrying'), Type.Literal('dead')]),
  attempts: Type.Integer(),
  lastError: Nullable(Type.String()),
  createdAt: Timestamp,
  sentAt: NullableTimestamp,
});

export const AlertView = Type.Object({
  id: Uuid,
  rule: Type.String({ description: 'The rule that raised it (its runbook section has the same name)' }),
  title: Type.String(),
  severity: SeveritySchema,
  tenantId: Nullable(Uuid),
  tenantName: Nullable(Type.String()),
  tenantSlug: Nullable(Type.String()),
  subject: Type.String({ description: 'What it is about: the tenant id, a job type, or "platform"' }),
  state: AlertStateSchema,
  summary: Type.String({ description: 'One sentence: what was observed against what was expected' }),
  observed: Nullable(Type.Number()),
  expected: Nullable(Type.Number()),
  unit: Nullable(Type.String({ description: 'ratio, ms, requests, share, count or seconds' })),
  peak: Nullable(Type.Number({ description: 'The worst value seen while the alert was open' })),
  details: Type.Record(Type.String(), Type.Unknown()),
  occurrences: Type.Integer({ description: 'Evaluations (or events) that found it while it was open' }),
  startedAt: Timestamp,
  lastSeenAt: Timestamp,
  acknowledgedAt: NullableTimestamp,
  acknowledgedBy: Nullable(Type.String()),
  resolvedAt: NullableTimestamp,
  resolvedBy: Nullable(Type.String()),
  resolution: Nullable(Type.Union([Type.Literal('auto'), Type.Literal('operator')])),
  runbookUrl: Type.String({ format: 'uri' }),
  notifications: Type.Array(AlertNotification),
});

export const AlertDetail = Type.Object({
  ...AlertView.properties,
  history: Type.Array(
      Type.Object({
        at: Timestamp,
        action: Type.Union([Type.Literal('opened'), Type.Literal('acknowledged'), Type.Literal('resolved'), Type.Literal('auto_resolved')]),
        actor: Type.String(),
        note: Nullable(Type.String()),
        requestId: Nullable(Type.String()),
      }),
    ),
});

export const AlertPage = pageOf(AlertView);
