import type pg from 'pg';
import type { Platform } from '../deps.ts';
import type { Logger } from '../log.ts';
import type { JobRegistry } from './registry.ts';
import type { TenantSlots } from './fairness.ts';
import { jobOptions, within, type JobEnvelope, type QueueSet } from './queues.ts';

export interface RelayOptions {
  /** Poll this often when no notification arrives (lost NOTIFY, a relay that was down). */
  pollMs: number;
  /** At most this many of one tenant's jobs in the shared queues at once. */
  tenantCap: number;
  /** At most this many rows of one tenant per pass (keeps passes short). */
  batchPerTenant?: number;
  /** Rows due in the future moved per pass (as BullMQ delayed jobs). */
  futureBatch?: number;
  /** How long freed slots are gathered before a refill pass (default 20 ms). */
  refillMs?: number;
  /** A Redis call of a pass that takes longer fails the pass (the rows stay in the outbox). */
  redisTimeoutMs?: number;
  /**
   * Tenants are split by hash into this many dispatch shards (default 1). Each shard is
   * dispatched by one relay at a time, so each tenant's cap stays exact, while several relays
   * (one per worker process) dispatch different shards at once.
   */
  shards?: number;
}

export interface PassResult {
  moved: number;
  /** Another relay holds the dispatch lock of a shard. */
  busy: boolean;
  /** Rows were left for lack of batch room (not of tenant capacity): run again. */
  more: boolean;
}

export interface Relay {
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Run a pass now (coalesced with one already running): new rows were committed. */
  kick(): void;
  /**
   * Run a pass a little later: slots were freed. Refills are batched so that, during a flood,
   * the dispatcher is mostly idle when a quiet tenant's row arrives and takes it at once.
   */
  refill(): void;
  passOnce(): Promise<PassResult>;
}

interface OutboxRow {
  tenant_id: string;
  id: string;
  type: string;
  payload: Record<string, unknown>;
  run_at: Date;
  replay_of: string | null;
  trace_context: string | null;
}

// pg_try_advisory_xact_lock(DISPATCH_LOCK, shard): one dispatcher per shard at a time, so each
// tenant's cap holds exactly however many relays run; a relay skips a shard another one holds.
const DISPATCH_LOCK = 0x62726764; // "brgd"

/** The dispatch shard of a tenant, in SQL: the column's text form hashed, as a non-negative int. */
export const shardOf = (column: string, shards: number) => `(hashtext(${column}::text) & 2147483647) % ${shards}`;

/**
 * The shards a relay dispatches together, each group in one transaction (its locks, one pick,
 * one add, one commit) instead of one per shard. Two groups, so that a second relay still finds
 * shards to dispatch while one relay is inside a group.
 */
export function dispatchGroups(shards: number): number[][] {
  const size = Math.ceil(shards / Math.min(shards, 2));
  const groups: number[][] = [];
  for (let s = 0; s < shards; s += size) groups.push(Array.from({ length: Math.min(size, shards - s) }, (_, i) => s + i));
  return groups;
}

/**
 * Moves committed outbox rows to BullMQ with the outbox id as the job id, fairly:
 * - each tenant's pending rows are its backlog; a pass takes from every tenant with room,
 *   at most `tenantCap - inFlight` rows each, oldest first;
 * - a job's BullMQ priority is its place in its tenant's in-flight window, so the queue
 *   interleaves tenants (the first job of a quiet tenant goes ahead of a flood's 20th);
 * - rows are locked and marked relayed (UPDATE ... SKIP LOCKED), added to BullMQ, and only then
 *   committed: a crash or a Redis failure before the commit leaves them pending, and the retry
 *   re-adds the same job ids, which BullMQ ignores if they exist.
 * It wakes on LISTEN brigade_outbox (the process's shared LISTEN connection), on a freed slot,
 * and on a poll timer.
 */
export function createRelay(
  deps: { platform: Platform; registry: JobRegistry; queues: QueueSet; slots: TenantSlots; log: Logger },
  opts: RelayOptions,
): Relay {
  const { platform, registry, queues, slots } = deps;
  const log = deps.log.child({ component: 'outbox-relay' });
  const batchPerTenant = opts.batchPerTenant ?? 100;
  const futureBatch = opts.futureBatch ?? 200;
  const redisTimeout = opts.redisTimeoutMs ?? 5000;
  const shards = Math.max(1, Math.floor(opts.shards ?? 1));

  let stopped = true;
  let running: Promise<void> | null = null;
  let again = false;
  let failures = 0;
  let retryTimer: NodeJS.Timeout | null = null;
  let refillTimer: NodeJS.Timeout | null = null;
  const refillMs = opts.refillMs ?? 20;
  let pollTimer: NodeJS.Timeout | null = null;
  let reconcileTimer: NodeJS.Timeout | null = null;
  let unlisten: (() => void) | null = null;

  // synchronous_commit off for this transaction alone: should the server crash before the
  // mark reaches disk, the rows are relayed again with the same job ids (BullMQ ignores the
  // ones it holds; handlers are idempotent for the rest), and no pass waits on a disk flush.
  // Shards are dispatched in groups (dispatchGroups): a pass of 8 shards is 2 trips through
  // PostgreSQL and Redis, not 8.
  const groups = dispatchGroups(shards);
  const headOf = (group: number[]) => `BEGIN; SET LOCAL synchronous_commit = off;
    WITH locked AS MATERIALIZED (
      SELECT coalesce(array_agg(s), '{}') AS shards FROM unnest('{${group.join(',')}}'::int[]) AS s
      WHERE pg_try_advisory_xact_lock(${DISPATCH_LOCK}, s)
    )
    SELECT (SELECT shards FROM locked) AS locked, ARRAY(
      WITH RECURSIVE t AS (
        (SELECT tenant_id FROM outbox WHERE relayed_at IS NULL ORDER BY tenant_id LIMIT 1)
        UNION ALL
        SELECT (SELECT o.tenant_id FROM outbox o WHERE o.relayed_at IS NULL AND o.tenant_id > t.tenant_id ORDER BY o.tenant_id LIMIT 1)
        FROM t WHERE t.tenant_id IS NOT NULL
      )
      SELECT tenant_id FROM t WHERE tenant_id IS NOT NULL AND ${shardOf('tenant_id', shards)} = ANY((SELECT shards FROM locked)::int[])
    ) AS tenants`;

  // Due rows of tenants with room, oldest first, and rows due later (any tenant), locked and
  // marked relayed in one statement: the mark is undone by a rollback if BullMQ cannot take them.
  // "Due" is decided against one clock reading taken by this statement, after its snapshot: a
  // row it sees was committed before, so its default run_at (its transaction's start) is due.
  // now() would be this pass's transaction start, earlier than a row committed while the pass
  // asked Redis for the tenants' room: such a row went out as a job "for later", with no slot,
  // past its tenant's cap.
  const PICK = `
    WITH clock AS MATERIALIZED (SELECT clock_timestamp() AS at),
    picked AS (
      SELECT o.tenant_id, o.id
      FROM unnest($1::uuid[], $2::int[]) AS q(tenant_id, quota)
      CROSS JOIN LATERAL (
        SELECT tenant_id, id FROM outbox o
        WHERE o.tenant_id = q.tenant_id AND o.relayed_at IS NULL AND o.run_at <= (SELECT at FROM clock)
        ORDER BY o.run_at, o.created_at
        LIMIT q.quota
        FOR UPDATE SKIP LOCKED
      ) o
      UNION ALL
      SELECT tenant_id, id FROM (
        SELECT tenant_id, id FROM outbox
        WHERE relayed_at IS NULL AND run_at > (SELECT at FROM clock) AND ${shardOf('tenant_id', shards)} = ANY($4::int[])
        ORDER BY run_at LIMIT $3
        FOR UPDATE SKIP LOCKED
      ) later
    )
    UPDATE outbox o SET relayed_at = now()
    FROM picked p
    WHERE o.tenant_id = p.tenant_id AND o.id = p.id
    RETURNING o.tenant_id, o.id, o.type, o.payload, o.run_at, o.created_at, o.replay_of, o.trace_context, o.run_at <= (SELECT at FROM clock) AS due`;

  /**
   * One dispatch pass. The relay is the busiest cross-tenant path, so it holds an owner
   * connection itself (what withSystem does) to fold BEGIN into its first statement: three
   * round trips to PostgreSQL and two to Redis per group of shards.
   */
  async function pass(): Promise<PassResult> {
    // Every group of shards, from a random one on, so that relays starting together spread out.
    const first = Math.floor(Math.random() * groups.length);
    const total: PassResult = { moved: 0, busy: false, more: false };
    for (let i = 0; i < groups.length; i++) {
      const r = await groupPass(groups[(first + i) % groups.length]!);
      total.moved += r.moved;
      total.busy ||= r.busy;
      total.more ||= r.more;
    }
    return total;
  }

  async function groupPass(group: number[]): Promise<PassResult> {
    log.debug({ system: 'jobs: relay the outbox', shards: group }, 'system access');
    const client = await platform.db.ownerPool.connect();
    let broken = false;
    let open = false;
    // A connection cut while the pass waits on Redis errors with no query to reject: catch it
    // here (the pool listens only while the client is idle) and throw the client away after.
    const onError = () => {
      broken = true;
    };
    client.on('error', onError);
    try {
      // The dispatch locks of the group's shards that no other relay holds, and their tenants
      // with pending rows: a skip scan over the partial index, one probe per tenant however many
      // rows a flooding tenant queued.
      open = true;
      const headResults = (await client.query(headOf(group))) as unknown as pg.QueryResult<{ locked: number[]; tenants: string[] }>[];
      const head = headResults[2]!.rows[0]!;
      const busy = head.locked.length < group.length;
      if (head.locked.length === 0 || head.tenants.length === 0) {
        await client.query('ROLLBACK');
        open = false;
        return { moved: 0, busy, more: false };
      }
      const tenants = head.tenants;

      const inFlight = await within(slots.inFlight(tenants), redisTimeout, 'reading tenant slots');
      const pick: { tenantId: string; quota: number }[] = [];
      for (const t of tenants) {
        const room = opts.tenantCap - (inFlight.get(t) ?? 0);
        if (room > 0) pick.push({ tenantId: t, quota: Math.min(room, batchPerTenant) });
      }
      const rows = (await client.query<OutboxRow & { due: boolean; created_at: Date }>(PICK, [pick.map((p) => p.tenantId), pick.map((p) => p.quota), futureBatch, head.locked])).rows;
      // RETURNING has no order: a tenant's jobs get their places oldest first.
      rows.sort((a, b) => a.run_at.getTime() - b.run_at.getTime() || a.created_at.getTime() - b.created_at.getTime());
      if (rows.length === 0) {
        await client.query('ROLLBACK');
        open = false;
        return { moved: 0, busy, more: false };
      }
      const due = rows.filter((r) => r.due);

      const taken = new Map<string, number>();
      const jobs = rows.map((row) => {
        if (!row.due) return { row, priority: undefined, delay: Math.max(0, row.run_at.getTime() - Date.now()) };
        const place = (taken.get(row.tenant_id) ?? 0) + 1;
        taken.set(row.tenant_id, place);
        return { row, priority: Math.min((inFlight.get(row.tenant_id) ?? 0) + place, 2_000_000), delay: 0 };
      });
      const slotEntries = due.map((r) => ({ tenantId: r.tenant_id, queue: registry.queueOf(r.type), jobId: r.id }));

      // The slots are taken before the jobs exist, so a job that finishes at once cannot release
      // its slot first: both go out on the same Redis connection, in this order, in one trip.
      const taking = slots.take(slotEntries);
      taking.catch(() => undefined);
      try {
        const byQueue = new Map<string, typeof jobs>();
        for (const j of jobs) {
          const q = registry.queueOf(j.row.type);
          const list = byQueue.get(q);
          if (list) list.push(j);
          else byQueue.set(q, [j]);
        }
        await within(
          Promise.all([
            taking,
            ...[...byQueue].map(([q, list]) =>
              queues.get(q).addBulk(
                list.map((j) => ({
                  name: j.row.type,
                  data: { payload: j.row.payload, replayOf: j.row.replay_of, trace: j.row.trace_context, dueAt: Math.max(j.row.run_at.getTime(), j.row.created_at.getTime()) } satisfies JobEnvelope,
                  opts: jobOptions(platform.config, registry, j.row.type, { jobId: j.row.id, priority: j.priority, delay: j.delay }),
                })),
              ),
            ),
          ]),
          redisTimeout,
          'adding jobs to BullMQ',
        );
      } catch (err) {
        await slots.releaseAll(slotEntries).catch(() => undefined);
        throw err;
      }
      await client.query('COMMIT');
      open = false;
      const more = rows.length - due.length === futureBatch || pick.some((p) => p.quota === batchPerTenant && taken.get(p.tenantId) === p.quota);
      return { moved: jobs.length, busy, more };
    } catch (err) {
      if (open) await client.query('ROLLBACK').catch(() => (broken = true));
      if ((err as { code?: string }).code === undefined) broken = true;
      throw err;
    } finally {
      client.off('error', onError);
      client.release(broken);
    }
  }

  const scheduleRetry = (ms: number) => {
    if (stopped || retryTimer) return;
    retryTimer = setTimeout(() => {
      retryTimer = null;
      kick();
    }, ms);
    retryTimer.unref();
  };

  async function loop(): Promise<void> {
    do {
      again = false;
      try {
        const r = await pass();
        if (failures > 0) log.info({ after: failures }, 'outbox relay recovered');
        failures = 0;
        if (r.moved) log.debug({ moved: r.moved }, 'relayed outbox rows');
        if (r.busy) scheduleRetry(50);
        else if (r.more) again = true;
      } catch (err) {
        failures++;
        const delay = Math.min(100 * 2 ** (failures - 1), 5000);
        // The rows stay in the outbox; nothing is lost while Redis or PostgreSQL is away.
        log.warn({ err: (err as Error).message, retryInMs: delay }, 'outbox relay pass failed');
        scheduleRetry(delay);
        return;
      }
    } while (again && !stopped);
  }

  function kick(): void {
    if (stopped) return;
    if (running) {
      again = true;
      return;
    }
    running = loop().finally(() => {
      running = null;
    });
  }

  return {
    async start() {
      stopped = false;
      pollTimer = setInterval(kick, opts.pollMs);
      pollTimer.unref();
      reconcileTimer = setInterval(() => {
        slots.reconcile(queues).catch((err) => log.warn({ err: err.message }, 'could not reconcile tenant slots'));
      }, 30_000);
      reconcileTimer.unref();
      // The process's shared LISTEN connection; every (re)connection runs a catch-up pass.
      unlisten = platform.db.notifications.subscribe('brigade_outbox', () => kick(), () => kick());
      kick();
    },
    async stop() {
      stopped = true;
      for (const t of [pollTimer, reconcileTimer]) if (t) clearInterval(t);
      if (retryTimer) clearTimeout(retryTimer);
      if (refillTimer) clearTimeout(refillTimer);
      retryTimer = null;
      refillTimer = null;
      unlisten?.();
      unlisten = null;
      await running;
    },
    kick,
    refill() {
      if (stopped || refillTimer) return;
      refillTimer = setTimeout(() => {
        refillTimer = null;
        kick();
      }, refillMs);
      refillTimer.unref();
    },
    passOnce: pass,
  };
}
