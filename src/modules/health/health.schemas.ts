import { Type } from 'typebox';
import { Uuid, Timestamp, NullableTimestamp } from '../../platform/http/schemas.ts';
import { PageQuery, pageOf } from '../../platform/http/pagination.ts';
import { AlertViewSchema } from '../alerts/index.ts';
import { tenantSorts, topMeasures, windows } from './health.ops.ts';

const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(t: T) => Type.Union([t, Type.Null()]);
// An enum of strings: one keyword in OpenAPI (what the console's generated client reads), typed as T.
const literals = <T extends string>(values: readonly T[]) => Type.Unsafe<T>({ type: 'string', enum: [...values] });

export const TenantsQuery = Type.Object(
  {
    q: Type.Optional(Type.String({ minLength: 1, maxLength: 100, description: 'Part of the business name or slug, or its id' })),
    plan: Type.Optional(Type.String({ pattern: '^[a-z][a-z0-9_]{0,39}$', maxLength: 40, description: 'Plan key (trial, starter, ...)' })),
    status: Type.Optional(literals(['trialing', 'active', 'past_due', 'grace', 'suspended', 'canceled', 'expired'] as const)),
    hasOpenAlert: Type.Optional(Type.Boolean({ description: 'Only tenants with (true) or without (false) an alert that is not resolved' })),
    sort: Type.Optional(literals(tenantSorts)),
    ...PageQuery,
  },
  { additionalProperties: false },
);

export const TenantParams = Type.Object({ tenantId: Uuid }, { additionalProperties: false });

export const HealthQuery = Type.Object(
  {
    from: Type.Optional(Type.String({ format: 'date-time', maxLength: 40, description: 'Default: 24 hours before `to`' })),
    to: Type.Optional(Type.String({ format: 'date-time', maxLength: 40, description: 'Default: now' })),
    step: Type.Optional(literals(['minute', 'hour', 'day'] as const)),
  },
  { additionalProperties: false },
);

export const TopTenantsQuery = Type.Object(
  {
    by: Type.Optional(literals(topMeasures)),
    window: Type.Optional(literals(Object.keys(windows) as (keyof typeof windows)[])),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, description: 'Default 10' })),
  },
  { additionalProperties: false },
);

const TenantHealth = Type.Object(
  {
    requests: Type.Integer(),
    errors4xx: Type.Integer(),
    errors5xx: Type.Integer(),
    errorRate: Type.Number({ description: 'Share of requests answered with a 5xx' }),
    p50Ms: Nullable(Type.Number()),
    p95Ms: Nullable(Type.Number()),
    p99Ms: Nullable(Type.Number()),
    apiTimeShare: Type.Number({ description: 'Share of the whole platform\'s API time' }),
    jobRuns: Type.Integer(),
    jobFailures: Type.Integer(),
    windowEnd: NullableTimestamp,
  },
  { description: 'The last hour, refreshed every minute' },
);

export const TenantSummary = Type.Object({
  id: Uuid,
  name: Type.String(),
  slug: Type.String(),
  plan: Nullable(Type.String()),
  status: Nullable(Type.String()),
  trialEndsAt: NullableTimestamp,
  currentPeriodEnd: NullableTimestamp,
  createdAt: Timestamp,
  usage: Type.Object({ branches: Type.Integer(), members: Type.Integer(), ordersThisPeriod: Type.Integer() }),
  overLimit: Type.Array(Type.Object({ limit: Type.String(), current: Type.Integer(), allowed: Type.Integer() }), {
    description: 'Limits of its plan the tenant is over (after a downgrade or a trial ending): new creations of these are refused with 402',
  }),
  health: TenantHealth,
  openAlerts: Type.Integer({ description: 'Alerts about this tenant that are not resolved' }),
});

export const TenantPage = pageOf(TenantSummary);

export const TenantDetail = Type.Object({
  ...TenantSummary.properties,
  subscription: Nullable(
    Type.Object({
      plan: Type.String(),
      status: Type.String(),
      statusChangedAt: Timestamp,
      trialEndsAt: NullableTimestamp,
      currentPeriodStart: NullableTimestamp,
      currentPeriodEnd: NullableTimestamp,
      cancelAtPeriodEnd: Type.Boolean(),
      graceEndsAt: NullableTimestamp,
      retainUntil: NullableTimestamp,
      provider: Nullable(Type.String()),
      providerSyncedAt: NullableTimestamp,
      transitions: Type.Array(
        Type.Object({ at: Timestamp, from: Nullable(Type.String()), to: Type.String(), reason: Type.String(), source: Type.String() }),
        { description: 'Newest first (at most 100)' },
      ),
    }),
  ),
  baseline: Nullable(
    Type.Object({
      hour: Timestamp,
      source: literals(['weekly', 'daily', 'recent', 'none'] as const),
      requestsPerMinute: Nullable(Type.Number()),
      errorRate: Nullable(Type.Number()),
      p95Ms: Nullable(Type.Number()),
      historyHours: Type.Integer(),
    }),
  ),
  openAlerts: Type.Array(AlertViewSchema),
});

const SeriesPoint = Type.Object({
  at: Timestamp,
  requests: Type.Integer(),
  errors4xx: Type.Integer({ description: 'Every 4xx, 402 and 429 included' }),
  errors5xx: Type.Integer(),
  rateLimited: Type.Integer({ description: '429 answers' }),
  paymentRequired: Type.Integer({ description: '402 answers' }),
  errorRate: Type.Number(),
  p50Ms: Nullable(Type.Number()),
  p95Ms: Nullable(Type.Number()),
  p99Ms: Nullable(Type.Number()),
  apiMs: Type.Integer({ description: 'API time spent on the tenant\'s requests' }),
  dbMs: Type.Integer({ description: 'Of which waiting on PostgreSQL' }),
  jobRuns: Type.Integer(),
  jobFailures: Type.Integer(),
  jobDead: Type.Integer(),
  jobWaitMsAvg: Nullable(Type.Number({ description: 'Mean wait from due to first start' })),
  jobWaitMsMax: Type.Integer(),
});

const BaselinePoint = Type.Object({
  at: Timestamp,
  requests: Nullable(Type.Number({ description: 'Expected requests in the step (null while the tenant has too little history)' })),
  errorRate: Type.Number(),
  p95Ms: Nullable(Type.Number()),
  source: literals(['weekly', 'daily', 'recent', 'none'] as const),
});

const Series = {
  from: Timestamp,
  to: Timestamp,
  step: literals(['minute', 'hour', 'day'] as const),
  series: Type.Array(SeriesPoint),
  baseline: Type.Array(BaselinePoint),
};

export const TenantSeries = Type.Object({ tenantId: Uuid, name: Type.String(), slug: Type.String(), ...Series });
export const PlatformSeries = Type.Object(Series);

export const TopTenants = Type.Object({
  by: literals(topMeasures),
  window: Type.String(),
  from: Timestamp,
  to: Timestamp,
  data: Type.Array(
    Type.Object({
      tenantId: Uuid,
      name: Nullable(Type.String()),
      slug: Nullable(Type.String()),
      value: Type.Number({ description: 'requests, errors (5xx), errorRate (0..1), p95 (ms), jobFailures, or apiTimeShare (0..1)' }),
      share: Nullable(Type.Number({ description: 'Share of the platform total of what is counted (requests, 5xx, job failures or API time)' })),
      requests: Type.Integer(),
    }),
  ),
});
