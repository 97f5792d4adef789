import { Type, type TSchema } from 'typebox';
import { listableStates } from '../../platform/jobs/index.ts';
import { Uuid } from '../../platform/http/schemas.ts';

const Limit = Type.Integer({ minimum: 1, maximum: 200, default: 50 });
const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);
const Timestamp = Type.String({ format: 'date-time', maxLength: 40, description: 'ISO 8601, UTC' });
const TenantName = Nullable(Type.String({ description: 'The business\'s name, shown next to its id (null: no tenant, or one that no longer exists)' }));
const jobStates = ['waiting', 'active', 'delayed', 'failed', 'dead', 'completed', 'replayed', 'discarded'] as const;
const JobState = Type.Unsafe<(typeof jobStates)[number]>({
  type: 'string',
  enum: [...jobStates],
  description: 'waiting, active, delayed, failed (waiting for a retry), dead (attempts used up), completed; replayed or discarded (a dead job an operator resolved)',
});

export const JobsQuery = Type.Object(
  {
    state: Type.Union(listableStates.map((s) => Type.Literal(s)), { default: 'dead', description: 'dead, failed (waiting for a retry), completed, waiting, active or delayed' }),
    tenantId: Type.Optional(Type.String({ maxLength: 64 })),
    type: Type.Optional(Type.String({ maxLength: 100 })),
    queue: Type.Optional(Type.String({ maxLength: 64 })),
    from: Type.Optional(Type.String({ format: 'date-time', maxLength: 40, description: 'Finished (dead, failed, completed) or created (live states) at or after' })),
    to: Type.Optional(Type.String({ format: 'date-time', maxLength: 40, description: '... and before this instant' })),
    limit: Limit,
    cursor: Type.Optional(Type.String({ maxLength: 500 })),
  },
  { additionalProperties: false },
);

export const JobLookupQuery = Type.Object({ id: Type.String({ minLength: 1, maxLength: 200, description: 'A job id (the outbox id of a tenant job)' }) }, { additionalProperties: false });

// Path parameters stay under the router's limit (MAX_PARAM_LENGTH), so the validator names the one that is too long.
export const JobParams = Type.Object({ queue: Type.String({ maxLength: 64 }), id: Type.String({ maxLength: 100 }) });

export const JobActionBody = Type.Object(
  { reason: Type.Optional(Type.String({ maxLength: 1000, description: 'Why; kept with the record of the action' })) },
  { additionalProperties: false },
);

export const BulkActionBody = Type.Object(
  {
    state: Type.Optional(Type.Literal('dead')),
    queue: Type.Optional(Type.String({ maxLength: 64 })),
    tenantId: Type.Optional(Uuid),
    type: Type.Optional(Type.String({ maxLength: 100 })),
    from: Type.Optional(Type.String({ format: 'date-time', maxLength: 40, description: 'Died at or after' })),
    to: Type.Optional(Type.String({ format: 'date-time', maxLength: 40, description: 'Died before' })),
    reason: Type.Optional(Type.String({ maxLength: 1000 })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, description: 'At most this many jobs (default 100), oldest first' })),
  },
  { additionalProperties: false },
);

export const MailsQuery = Type.Object(
  {
    to: Type.Optional(Type.String({ maxLength: 254 })),
    tenantId: Type.Optional(Type.String({ maxLength: 64 })),
    limit: Limit,
    cursor: Type.Optional(Type.String({ maxLength: 500 })),
  },
  { additionalProperties: false },
);

export const ActivityQuery = Type.Object(
  {
    operatorId: Type.Optional(Uuid),
    tenantId: Type.Optional(Type.String({ format: 'uuid', maxLength: 36, description: 'Actions about this business' })),
    action: Type.Optional(Type.String({ maxLength: 100, description: 'jobs.replay, jobs.discard, billing.reconcile, support.read_members, ...' })),
    limit: Limit,
    cursor: Type.Optional(Type.String({ maxLength: 500 })),
  },
  { additionalProperties: false },
);

const page = <T extends TSchema>(item: T) => Type.Object({ data: Type.Array(item), nextCursor: Nullable(Type.String()) });

const QueueCountsView = Type.Object({
  name: Type.String(),
  counts: Type.Object({
    waiting: Type.Integer(),
    active: Type.Integer(),
    delayed: Type.Integer(),
    completed: Type.Integer(),
    failed: Type.Integer({ description: 'Failed and waiting for a retry (last 7 days)' }),
    dead: Type.Integer({ description: 'Attempts used up, waiting for an operator' }),
    backlog: Type.Integer({ description: 'Waiting in the outbox for its tenant\'s turn (not yet in the queue)' }),
  }),
});

export const QueuesView = Type.Object({
  data: Type.Array(QueueCountsView),
  outbox: Type.Object({
    pending: Type.Integer({ description: 'Rows not yet handed to a queue' }),
    due: Type.Integer({ description: 'Of those, the ones whose time has come' }),
    oldestDueAt: Nullable(Timestamp),
    lagSeconds: Type.Integer({ description: 'How long the oldest due row has waited' }),
  }),
});

const jobSummaryFields = {
  queue: Type.String(),
  id: Type.String(),
  type: Type.String({ description: 'Dotted name (mail.welcome, billing.reconcile)' }),
  tenantId: Nullable(Uuid),
  tenantName: TenantName,
  state: JobState,
  attempts: Type.Integer(),
  failedReason: Nullable(Type.String()),
  createdAt: Nullable(Timestamp),
  finishedAt: Nullable(Timestamp),
  replayOf: Nullable(Type.String({ description: 'The job this one replays' })),
};
export const JobSummaryView = Type.Object(jobSummaryFields);
export const JobPage = page(JobSummaryView);
export const JobLookupView = Type.Object({ data: Type.Array(JobSummaryView) });

const JobLinkView = Type.Object({
  queue: Type.String(),
  id: Type.String(),
  type: Type.String(),
  state: JobState,
  replayedAt: Timestamp,
  replayedBy: Type.String({ description: 'operator:<email> or cli:<user>' }),
  reason: Nullable(Type.String()),
});

export const JobDetailView = Type.Object({
  ...jobSummaryFields,
  data: Type.Record(Type.String(), Type.Unknown(), { description: 'The payload the handler receives' }),
  stacktrace: Type.Array(Type.String()),
  runAt: Nullable(Timestamp),
  replayedAs: Nullable(Type.String()),
  history: Type.Array(
    Type.Object({
      attempt: Type.Integer(),
      state: Type.Union([Type.Literal('completed'), Type.Literal('failed'), Type.Literal('stalled')]),
      error: Nullable(Type.String()),
      stacktrace: Nullable(Type.String()),
      startedAt: Nullable(Timestamp),
      finishedAt: Timestamp,
      worker: Nullable(Type.String()),
    }),
  ),
  operations: Type.Array(
    Type.Object({
      action: Type.Union([Type.Literal('replay'), Type.Literal('discard')]),
      at: Timestamp,
      actor: Type.String(),
      reason: Nullable(Type.String()),
      jobId: Type.String(),
      newJobId: Nullable(Type.String()),
    }),
  ),
  ancestors: Type.Array(JobLinkView, { description: 'The jobs this one replays, back to the first, oldest first' }),
  replays: Type.Array(JobLinkView, { description: 'The jobs that replay this one' }),
});

export const ReplayView = Type.Object({
  queue: Type.String(),
  id: Type.String({ description: 'The new job; follow it at GET /ops/api/jobs/{queue}/{id}' }),
  replayOf: Type.String(),
  tenantId: Nullable(Uuid),
});
export const DiscardView = Type.Object({ queue: Type.String(), id: Type.String(), state: Type.Literal('discarded') });

const bulk = <T extends TSchema>(job: T) =>
  Type.Object({
    bulkId: Uuid,
    count: Type.Integer({ description: 'Same as done' }),
    done: Type.Integer({ description: 'Jobs replayed (or discarded)' }),
    skipped: Type.Integer({ description: 'Jobs no longer dead when their turn came (another operator resolved them)' }),
    failed: Type.Integer({ description: 'Jobs the action failed on (see problems)' }),
    jobs: Type.Array(job),
    problems: Type.Array(Type.Object({ queue: Type.String(), id: Type.String(), outcome: Type.Union([Type.Literal('skipped'), Type.Literal('failed')]), detail: Type.String() })),
  });
export const BulkReplayView = bulk(ReplayView);
export const BulkDiscardView = bulk(DiscardView);

export const MailPage = page(
  Type.Object({
    id: Uuid,
    messageId: Type.String(),
    tenantId: Nullable(Uuid),
    tenantName: TenantName,
    jobId: Nullable(Type.String()),
    from: Type.String(),
    to: Type.String(),
    subject: Type.String(),
    text: Type.String(),
    html: Nullable(Type.String()),
    createdAt: Timestamp,
  }),
);

export const OperatorMeView = Type.Object({
  operator: Type.Object({ id: Uuid, email: Type.String(), name: Type.String() }),
  session: Type.Object({ expiresAt: Nullable(Timestamp) }),
  mail: Type.Object({
    transport: Type.Union([Type.Literal('smtp'), Type.Literal('catcher')], { description: 'smtp: SMTP_URL is set and mail leaves Brigade; catcher: mails are kept for the console' }),
    smtpServer: Nullable(Type.String({ description: 'host:port of the SMTP server (never its credentials)' })),
  }),
});

export const ActivityPage = page(
  Type.Object({
    id: Uuid,
    at: Timestamp,
    operator: Type.Object({ id: Nullable(Uuid), email: Type.String() }),
    action: Type.String({ description: 'jobs.replay, jobs.bulk_replay, jobs.discard, billing.reconcile, support.read_members, ...' }),
    method: Type.String(),
    route: Type.String(),
    target: Type.Record(Type.String(), Type.String(), { description: 'The path parameters of the request (queue and job id, alert id, ...)' }),
    tenantId: Nullable(Uuid),
    tenantName: TenantName,
    reason: Nullable(Type.String()),
    status: Type.Integer({ description: 'HTTP status of the answer' }),
    outcome: Type.Union([Type.Literal('done'), Type.Literal('refused'), Type.Literal('failed')]),
    result: Nullable(Type.Record(Type.String(), Type.Unknown(), { description: 'What the action answered (a write\'s summary, or the problem), never tenant data' })),
    requestId: Nullable(Type.String()),
  }),
);

export const LoginView = Type.Object({ token: Type.String({ description: 'An operator token: send as Authorization: Bearer on /ops/api' }) });

export const ThroughputQuery = Type.Object({ minutes: Type.Integer({ minimum: 5, maximum: 1440, default: 60 }) }, { additionalProperties: false });
export const ThroughputView = Type.Object({
  data: Type.Array(Type.Object({ at: Timestamp, completed: Type.Integer(), failed: Type.Integer({ description: 'Attempts that failed or were lost with their worker' }) })),
});
