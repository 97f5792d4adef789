import { Compile } from 'typebox/compile';
import type { Static, TSchema } from 'typebox';
import type { Logger } from '../log.ts';
import type { Platform } from '../deps.ts';
import type { Tx } from '../db/index.ts';
import type { Mailer } from '../mail.ts';
import { enqueueLater, type LaterOptions } from './outbox.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const TYPE_NAME = /^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$/;

export interface RetryOptions {
  /** Attempts in all before the job is dead. Default: BRIGADE_JOB_ATTEMPTS. */
  attempts?: number;
  /** First retry delay in ms; doubles each attempt, with jitter. Default: BRIGADE_JOB_BACKOFF_MS. */
  backoff?: number;
}

export interface JobOptions extends RetryOptions {
  /** The BullMQ queue; default: the first segment of the type (`mail.welcome` runs on `mail`). */
  queue?: string;
}

/** What a worker hands a handler: the payload and everything tied to this run of the job. */
export interface JobRun {
  jobId: string;
  queue: string;
  type: string;
  /** 1 for the first attempt. */
  attempt: number;
  /** The job this one replays, when an operator replayed it. */
  replayOf: string | null;
  /** Aborted when the worker shuts down and gives the job back to the queue. */
  signal: AbortSignal;
  log: Logger;
  platform: Platform;
  mailer: Mailer;
}

/** A system job's run: its payload is whatever was enqueued with it ({} from a schedule). */
export interface SystemJobRun extends JobRun {
  payload: Record<string, unknown>;
}

export interface JobContext<P> extends JobRun {
  payload: P & { tenantId: string };
  tenantId: string;
  /** withTenant bound to the payload's tenant: a handler cannot reach another tenant's rows. */
  withTenant<T>(fn: (trx: Tx) => Promise<T>): Promise<T>;
}

export interface TenantJobDefinition<P = Record<string, unknown>> {
  kind: 'tenant';
  type: string;
  queue: string;
  attempts?: number;
  backoff?: number;
  /** Problems with a payload (its tenantId aside), or null when it is valid. */
  check(payload: unknown): string[] | null;
  handle(ctx: JobContext<P>): Promise<void>;
  /** Writes this job to the outbox in the caller's transaction (see enqueueLater). */
  later(trx: Tx, tenantId: string, payload: P, opts?: LaterOptions): Promise<string>;
}

export interface SystemSchedule {
  /** Cron pattern (5 fields, or 6 with seconds) or a fixed interval in ms. */
  pattern?: string;
  every?: number;
  tz?: string;
}

/** Platform work that belongs to no tenant (cleanup, the schedule runner); crosses tenants with withSystem. */
export interface SystemJobDefinition {
  kind: 'system';
  type: string;
  queue: string;
  attempts?: number;
  backoff?: number;
  schedule?: SystemSchedule;
  handle(ctx: SystemJobRun): Promise<void>;
}

export interface TenantScheduleContext {
  tenantId: string;
  tenant: { id: string; name: string; timezone: string; currency: string };
  /** The due time this run is for (a moment in UTC; the pattern was read in `timezone`). */
  fireAt: Date;
  log: Logger;
  platform: Platform;
}

export interface TenantScheduleDefinition {
  kind: 'tenant-schedule';
  name: string;
  cron: string;
  /** 'tenant': the cron pattern is read in each tenant's own time zone. Otherwise an IANA zone. */
  timezone: string;
  handle(ctx: TenantScheduleContext, trx: Tx): Promise<void>;
}

export type AnyJobDefinition = TenantJobDefinition<any> | SystemJobDefinition | TenantScheduleDefinition;

function checkType(type: string): void {
  if (!TYPE_NAME.test(type)) throw new Error(`Job type "${type}" must be a dotted lower-case name such as "mail.welcome"`);
}

/**
 * A tenant's background job. The payload always carries `tenantId` (added by `later`); the
 * worker restores the tenant context and checks the payload against `schema` before `handler`
 * runs. A payload that does not match is dead at once: retrying cannot fix it.
 */
export function defineJob<S extends TSchema>(
  type: string,
  schema: S,
  handler: (ctx: JobContext<Static<S>>) => Promise<void>,
  opts: JobOptions = {},
): TenantJobDefinition<Static<S>> {
  checkType(type);
  const validator = Compile(schema);
  const check = (payload: unknown): string[] | null => {
    if (typeof payload !== 'object' || payload === null) return ['payload is not an object'];
    const { tenantId, ...rest } = payload as Record<string, unknown>;
    const problems: string[] = [];
    if (typeof tenantId !== 'string' || !UUID.test(tenantId)) problems.push('tenantId is not a UUID');
    if (!validator.Check(rest)) {
      for (const e of validator.Errors(rest)) problems.push(`${e.instancePath || '/'} ${e.message}`);
    }
    return problems.length ? problems : null;
  };
  return {
    kind: 'tenant',
    type,
    queue: opts.queue ?? type.split('.')[0]!,
    attempts: opts.attempts,
    backoff: opts.backoff,
    check,
    handle: handler,
    async later(trx, tenantId, payload, laterOpts) {
      const problems = check({ ...(payload as object), tenantId });
      if (problems) throw new Error(`Invalid ${type} payload: ${problems.join('; ')}`);
      return enqueueLater(trx, tenantId, type, payload as Record<string, unknown>, laterOpts);
    },
  };
}

/** A platform job, optionally produced on a schedule by a BullMQ job scheduler. */
export function defineSystemJob(
  type: string,
  handler: (ctx: SystemJobRun) => Promise<void>,
  opts: RetryOptions & { schedule?: SystemSchedule } = {},
): SystemJobDefinition {
  checkType(type);
  return { kind: 'system', type, queue: 'system', attempts: opts.attempts, backoff: opts.backoff, schedule: opts.schedule, handle: handler };
}

/**
 * Work that runs for every tenant on a cron pattern, by default at that time in each tenant's
 * own time zone ('0 6 * * *' = 06:00 local). The schedule runner calls `handler` once per
 * tenant and due time, inside that tenant's withTenant transaction; a failure rolls back that
 * tenant's run alone, and it is tried again on the runner's next attempt.
 */
export function definePerTenantSchedule(
  name: string,
  cron: string,
  handler: (ctx: TenantScheduleContext, trx: Tx) => Promise<void>,
  opts: { timezone?: 'tenant' | string } = {},
): TenantScheduleDefinition {
  if (!/^[a-z][a-z0-9_.-]{1,80}$/.test(name)) throw new Error(`Schedule name "${name}" must be lower-case letters, digits, ".", "_" or "-"`);
  return { kind: 'tenant-schedule', name, cron, timezone: opts.timezone ?? 'tenant', handle: handler };
}
