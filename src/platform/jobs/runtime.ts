import type { Platform } from '../deps.ts';
import type { Logger } from '../log.ts';
import { createMailer, type Mailer } from '../mail.ts';
import { SYSTEM_QUEUE, type JobRegistry } from './registry.ts';
import { jobOptions, openQueues, producerConnection, type QueueSet } from './queues.ts';
import { tenantSlots } from './fairness.ts';
import { jobLedger } from './ledger.ts';
import { createRelay, type Relay } from './relay.ts';
import { startWorkers, type RunningWorkers } from './worker.ts';
import { recoverOutbox, redisEpoch, type RecoveryResult } from './recovery.ts';

export interface JobsRuntimeOptions {
  /** Move outbox rows to BullMQ (default true). */
  relay?: boolean;
  /** Run job handlers (default true). */
  workers?: boolean;
  /** Keep the BullMQ job schedulers of system jobs up to date (default true). */
  schedulers?: boolean;
  /** Redis the relay talks to (default REDIS_URL). */
  relayRedisUrl?: string;
  queues?: string[];
  concurrency?: number;
  pollMs?: number;
  drainMs?: number;
  stalledIntervalMs?: number;
  lockDurationMs?: number;
  /** How often to look for a Redis that lost its data (default 2000 ms). */
  epochCheckMs?: number;
  /** How often to compare unfinished outbox rows with Redis anyway (default 60000 ms). */
  auditMs?: number;
  log?: Logger;
  mailer?: Mailer;
}

export interface JobsRuntime {
  relay: Relay | null;
  workers: RunningWorkers | null;
  queues: QueueSet;
  mailer: Mailer;
  /**
   * Checks now whether Redis lost Brigade's data; if so restores the system schedules and relays
   * again every unfinished job Redis no longer knows. Also runs on a timer and on reconnects.
   */
  checkRedis(): Promise<RecoveryResult | null>;
  /** Graceful: the relay stops, running jobs get the drain time, then go back to the queue. */
  close(): Promise<void>;
}

/** The worker role: the outbox relay, the workers of every queue and the system schedulers. */
export async function startJobs(platform: Platform, registry: JobRegistry, opts: JobsRuntimeOptions = {}): Promise<JobsRuntime> {
  const { config } = platform;
  const log = opts.log ?? platform.log;
  const producer = producerConnection(config.REDIS_URL, log, 'brigade-jobs', config.BRIGADE_REDIS_TIMEOUT_MS, config.BRIGADE_REDIS_CLUSTER);
  const queues = openQueues(config, registry, producer);
  const slots = tenantSlots(producer, config.BRIGADE_QUEUE_PREFIX, log);
  const mailer = opts.mailer ?? createMailer(config, platform.tenancy, log);
  const ledger = jobLedger(platform.tenancy, log);

  let relay: Relay | null = null;
  let relayQueues: QueueSet | null = null;
  let relayRedis: ReturnType<typeof producerConnection> | null = null;
  if (opts.relay !== false) {
    relayRedis = opts.relayRedisUrl ? producerConnection(opts.relayRedisUrl, log, 'brigade-relay', config.BRIGADE_REDIS_TIMEOUT_MS, config.BRIGADE_REDIS_CLUSTER) : producer;
    relayQueues = relayRedis === producer ? queues : openQueues(config, registry, relayRedis);
    relay = createRelay(
      { platform, registry, queues: relayQueues, slots: tenantSlots(relayRedis, config.BRIGADE_QUEUE_PREFIX, log), log },
      { pollMs: opts.pollMs ?? config.BRIGADE_RELAY_POLL_MS, tenantCap: config.BRIGADE_JOB_TENANT_CAP, shards: config.BRIGADE_RELAY_SHARDS },
    );
  }

  let workers: RunningWorkers | null = null;
  let schedulersPending = false;
  try {
    if (opts.workers !== false) {
      workers = await startWorkers(
        { platform, registry, ledger, slots, mailer, log, queues, onSlotFreed: () => relay?.refill() },
        {
          concurrency: opts.concurrency ?? config.BRIGADE_JOB_CONCURRENCY,
          queues: opts.queues,
          stalledIntervalMs: opts.stalledIntervalMs,
          lockDurationMs: opts.lockDurationMs,
        },
      );
    }
    // A slow or absent Redis at start must not keep the worker down: the watcher below
    // (every epochCheckMs) sets the schedulers up as soon as Redis answers.
    if (opts.schedulers !== false) {
      await upsertSystemSchedulers(platform, registry, queues, log).catch((err) => {
        schedulersPending = true;
        log.warn({ err: err.message }, 'could not set up the job schedulers yet; retrying');
      });
    }
    await relay?.start();
  } catch (err) {
    await workers?.close(0);
    throw err;
  }

  // A Redis that comes back empty has lost the queued jobs, the in-flight slots and the job
  // schedulers. The outbox still knows every unfinished job; the registry knows the schedules.
  const epoch = redisEpoch(producer, config.BRIGADE_QUEUE_PREFIX);
  const watching = opts.relay !== false || opts.schedulers !== false;
  let checking: Promise<RecoveryResult | null> | null = null;
  const recovery = { platform, registry, queues: relayQueues ?? queues, ledger, log };
  const checkRedis = (): Promise<RecoveryResult | null> => {
    checking ??= (async () => {
      try {
        if (schedulersPending) {
          await upsertSystemSchedulers(platform, registry, queues, log);
          schedulersPending = false;
        }
        if (!(await epoch.lost())) return null;
        log.warn('Redis holds none of Brigade\'s data (it restarted empty, or this is a first start): restoring schedules, relaying again what it lost');
        if (opts.schedulers !== false) await upsertSystemSchedulers(platform, registry, queues, log);
        if (!relay) return null;
        const r = await recoverOutbox(recovery, { olderThanMs: 0 });
        relay.kick();
        return r;
      } finally {
        checking = null;
      }
    })();
    return checking;
  };
  const audit = async () => {
    if (opts.schedulers !== false) await ensureSystemSchedulers(platform, registry, queues, log);
    // Rows older than two minutes only: younger ones may still be on their way into Redis.
    if (relay) await recoverOutbox(recovery, { olderThanMs: 120_000 });
  };
  const timers: NodeJS.Timeout[] = [];
  const onReady = () => void checkRedis().catch((err) => log.warn({ err: err.message }, 'could not check Redis for lost data'));
  if (watching) {
    await checkRedis().catch((err) => log.warn({ err: err.message }, 'could not check Redis for lost data'));
    timers.push(setInterval(onReady, opts.epochCheckMs ?? 2000));
    timers.push(setInterval(() => void audit().catch((err) => log.warn({ err: err.message }, 'outbox audit failed')), opts.auditMs ?? 60_000));
    for (const t of timers) t.unref();
    producer.on('ready', onReady);
  }

  return {
    relay,
    workers,
    queues,
    mailer,
    checkRedis,
    async close() {
      for (const t of timers) clearInterval(t);
      producer.off('ready', onReady);
      await checking?.catch(() => undefined);
      await relay?.stop();
      await workers?.close(opts.drainMs ?? config.BRIGADE_JOB_DRAIN_MS);
      await ledger.flush();
      if (relayQueues && relayQueues !== queues) await relayQueues.close();
      await queues.close();
      if (relayRedis && relayRedis !== producer) relayRedis.disconnect();
      producer.disconnect();
      if (!opts.mailer) mailer.close();
    },
  };
}

/** One BullMQ job scheduler per scheduled system job; schedulers of jobs that are gone are removed. */
async function upsertSystemSchedulers(platform: Platform, registry: JobRegistry, queues: QueueSet, log: Logger): Promise<void> {
  const queue = queues.get(SYSTEM_QUEUE);
  const wanted = registry.systemJobs.filter((j) => j.schedule);
  for (const job of wanted) {
    const { jobId: _ignored, ...template } = jobOptions(platform.config, registry, job.type);
    await queue.upsertJobScheduler(job.type, { ...job.schedule }, { name: job.type, data: { payload: {} }, opts: template });
  }
  const names = new Set(wanted.map((j) => j.type));
  for (const s of await queue.getJobSchedulers()) {
    if (s.key && !names.has(s.key)) {
      await queue.removeJobScheduler(s.key);
      log.info({ scheduler: s.key }, 'removed a job scheduler that no job defines any more');
    }
  }
}

/** Restores the job schedulers Redis no longer has (without touching the ones it has). */
async function ensureSystemSchedulers(platform: Platform, registry: JobRegistry, queues: QueueSet, log: Logger): Promise<void> {
  const queue = queues.get(SYSTEM_QUEUE);
  const wanted = registry.systemJobs.filter((j) => j.schedule);
  for (const job of wanted) {
    if (await queue.getJobScheduler(job.type)) continue;
    const { jobId: _ignored, ...template } = jobOptions(platform.config, registry, job.type);
    await queue.upsertJobScheduler(job.type, { ...job.schedule }, { name: job.type, data: { payload: {} }, opts: template });
    log.warn({ scheduler: job.type }, 'restored a job scheduler Redis had lost');
  }
}
