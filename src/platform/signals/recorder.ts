import type { Tenancy } from '../db/index.ts';
import type { Logger } from '../log.ts';
import { bucketOf } from './latency.ts';
import { F, emptyFigures } from './figures.ts';
import { batchIdPrefix, writeSignalBatch, type SignalBatch, type FlushOutcome } from './store.ts';

/**
 * Per-tenant signals, counted in process. A request or a job run adds to its tenant's figures
 * of the current minute in memory (no I/O, no allocation beyond a new tenant-minute); every
 * `flushMs` the figures are swapped out and added to PostgreSQL's minute rows, where any number
 * of processes add up. Memory is bounded: past `maxSlots` tenant-minutes the figures are
 * flushed early, and while PostgreSQL is away at most `maxPendingBatches` batches wait (the
 * oldest are dropped, and counted as such, past that).
 *
 * What a crash or a clock jump can cost: a process killed between flushes loses what it
 * counted since the last one (one interval); a batch is written in one transaction with its id,
 * so a retry never adds it twice. The minute of a count is read from the clock when it is
 * counted, so a clock that jumps moves later counts to another minute and counts nothing twice.
 */
export interface SignalRecorder {
  /** One API response. `tenantId` null for anonymous requests (counted for the platform only). */
  request(tenantId: string | null, status: number, ms: number, dbMs: number): void;
  /** One finished job attempt; `waitMs` from enqueue (or due time) to start, first attempts only. */
  jobRun(tenantId: string | null, outcome: 'completed' | 'failed' | 'dead', ms: number, waitMs: number | null): void;
  /** Writes what is counted so far (and retries waiting batches). */
  flush(): Promise<void>;
  /** Stops the timer and writes everything (used at shutdown). */
  close(): Promise<void>;
  stats(): { slots: number; pendingBatches: number; droppedBatches: number; flushedBatches: number };
}

export interface SignalRecorderOptions {
  flushMs: number;
  maxSlots: number;
  maxPendingBatches?: number;
  /** Milliseconds since the epoch; tests move it. */
  clock?: () => number;
  /** Where batches go (default: PostgreSQL through `tenancy`). */
  write?: (batch: SignalBatch) => Promise<FlushOutcome>;
  /** Observes each flush (metrics). */
  onFlush?: (result: { rows: number; ms: number; ok: boolean }) => void;
}

type Minute = Map<string, Float64Array>;

const add = (f: Float64Array, i: number, v: number) => {
  f[i] = f[i]! + v;
};

/** A recorder that counts nothing (BRIGADE_SIGNALS=false). */
export function silentSignalRecorder(): SignalRecorder {
  const none = () => undefined;
  return { request: none, jobRun: none, flush: async () => undefined, close: async () => undefined, stats: () => ({ slots: 0, pendingBatches: 0, droppedBatches: 0, flushedBatches: 0 }) };
}

export function createSignalRecorder(tenancy: Tenancy, log: Logger, opts: SignalRecorderOptions): SignalRecorder {
  const clock = opts.clock ?? Date.now;
  const write = opts.write ?? ((batch: SignalBatch) => writeSignalBatch(tenancy, batch));
  const maxPending = opts.maxPendingBatches ?? 20;
  const idPrefix = batchIdPrefix(Date.now());
  let seq = 0;

  let minutes = new Map<number, Minute>();
  let platform = new Map<number, Float64Array>();
  let slots = 0;
  // The minute last written to, kept at hand: almost every count goes there.
  let currentMinute = -1;
  let current: Minute | null = null;
  let currentPlatform: Float64Array | null = null;

  const pending: SignalBatch[] = [];
  let dropped = 0;
  let flushed = 0;
  let flushing: Promise<void> | null = null;
  let again = false;
  let closed = false;

  function slotsOf(tenantId: string | null): { tenant: Float64Array | null; platform: Float64Array } {
    if (slots >= opts.maxSlots) {
      // Full: this much goes out now, whatever the timer says; counting goes on in fresh maps.
      cut();
      void flush();
    }
    const minute = Math.floor(clock() / 60_000);
    if (minute !== currentMinute || current === null || currentPlatform === null) {
      currentMinute = minute;
      current = minutes.get(minute) ?? null;
      if (!current) minutes.set(minute, (current = new Map()));
      currentPlatform = platform.get(minute) ?? null;
      if (!currentPlatform) platform.set(minute, (currentPlatform = emptyFigures()));
    }
    if (tenantId === null) return { tenant: null, platform: currentPlatform };
    let tenant = current.get(tenantId);
    if (!tenant) {
      current.set(tenantId, (tenant = emptyFigures()));
      slots++;
    }
    return { tenant, platform: currentPlatform };
  }

  function addRequest(f: Float64Array, status: number, ms: number, dbMs: number): void {
    add(f, F.requests, 1);
    if (status >= 500) add(f, F.r5xx, 1);
    else if (status >= 400) {
      add(f, F.r4xx, 1);
      if (status === 429) add(f, F.r429, 1);
      else if (status === 402) add(f, F.r402, 1);
    } else if (status >= 300) add(f, F.r3xx, 1);
    else add(f, F.r2xx, 1);
    add(f, F.apiUs, Math.round(ms * 1000));
    add(f, F.dbUs, Math.round(dbMs * 1000));
    add(f, F.latency + bucketOf(ms), 1);
  }

  function addJob(f: Float64Array, outcome: 'completed' | 'failed' | 'dead', ms: number, waitMs: number | null): void {
    add(f, F.jobRuns, 1);
    if (outcome !== 'completed') add(f, F.jobFailures, 1);
    if (outcome === 'dead') add(f, F.jobDead, 1);
    add(f, F.jobUs, Math.round(ms * 1000));
    if (waitMs !== null && waitMs > 0) {
      add(f, F.jobWaitUs, Math.round(waitMs * 1000));
      if (waitMs > f[F.jobWaitMaxMs]!) f[F.jobWaitMaxMs] = Math.round(waitMs);
    }
  }

  /** Swaps the counted figures out as a batch (the counting goes on into fresh maps). */
  function cut(): void {
    if (slots === 0 && platform.size === 0) return;
    const batch: SignalBatch = { id: `${idPrefix}:${++seq}`, tenantRows: [], platformRows: [] };
    for (const [minute, tenants] of minutes) for (const [tenantId, figures] of tenants) batch.tenantRows.push({ tenantId, minute, figures });
    for (const [minute, figures] of platform) batch.platformRows.push({ minute, figures });
    minutes = new Map();
    platform = new Map();
    slots = 0;
    current = null;
    currentPlatform = null;
    currentMinute = -1;
    pending.push(batch);
    while (pending.length > maxPending) {
      const lost = pending.shift()!;
      dropped++;
      log.error({ batch: lost.id, rows: lost.tenantRows.length }, 'signals: dropped a batch that could not be written (PostgreSQL away too long)');
    }
  }

  async function drain(): Promise<void> {
    do {
      again = false;
      cut();
      while (pending.length) {
        const batch = pending[0]!;
        const started = performance.now();
        try {
          const outcome = await write(batch);
          if (outcome === 'already-applied') log.warn({ batch: batch.id }, 'signals: batch was already written (a retried flush); not added again');
          pending.shift();
          flushed++;
          opts.onFlush?.({ rows: batch.tenantRows.length, ms: performance.now() - started, ok: true });
        } catch (err) {
          opts.onFlush?.({ rows: batch.tenantRows.length, ms: performance.now() - started, ok: false });
          // Kept, with its id, for the next flush: if this one committed after all, the retry adds nothing.
          log.warn({ err: (err as Error).message, batch: batch.id, waiting: pending.length }, 'signals: flush failed; will retry');
          return;
        }
      }
    } while (again);
  }

  function flush(): Promise<void> {
    if (flushing) {
      again = true;
      return flushing;
    }
    flushing = drain().finally(() => {
      flushing = null;
    });
    return flushing;
  }

  const timer = setInterval(() => void flush(), opts.flushMs);
  timer.unref();

  return {
    request(tenantId, status, ms, dbMs) {
      if (closed) return;
      const s = slotsOf(tenantId);
      addRequest(s.platform, status, ms, dbMs);
      if (s.tenant) addRequest(s.tenant, status, ms, dbMs);
    },
    jobRun(tenantId, outcome, ms, waitMs) {
      if (closed) return;
      const s = slotsOf(tenantId);
      addJob(s.platform, outcome, ms, waitMs);
      if (s.tenant) addJob(s.tenant, outcome, ms, waitMs);
    },
    flush,
    async close() {
      clearInterval(timer);
      await flush();
      // A flush that started before close may have left the last counts; one more pass.
      await flush();
      closed = true;
      if (pending.length) log.error({ batches: pending.length }, 'signals: could not write the last counts at shutdown');
    },
    stats: () => ({ slots, pendingBatches: pending.length, droppedBatches: dropped, flushedBatches: flushed }),
  };
}
