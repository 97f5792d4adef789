/**
 * Background jobs, measured in one run against real PostgreSQL and Redis (loopback):
 * 1. commit-to-handler latency through the outbox (LISTEN/NOTIFY → relay → BullMQ → worker);
 * 2. jobs/s through outbox + relay + BullMQ + worker, against raw BullMQ add-and-process of the
 *    same payloads in the same run with the same worker concurrency and a no-op handler;
 * 3. a small tenant's job latency while a big tenant floods 10,000 jobs, against no flood;
 * 4. jobs/s with one and two separate worker processes (bench/jobs-worker.ts, relay and workers
 *    each), so the relay is seen not to be a single dispatcher.
 * Prints a markdown section (see bench/run.ts). BENCH_ROUNDS (5) alternating rounds.
 */
import { performance } from 'node:perf_hooks';
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import readline from 'node:readline';
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { sql } from 'kysely';
import { createTestContext, aTenant, type TestContext } from '../test/harness.ts';
import { jobRegistry } from '../src/jobs.ts';
import { enqueueLater, startJobs } from '../src/platform/jobs/index.ts';
import { benchJobs, WORK_MS } from './jobs-types.ts';
import { spread, type Spread } from './processes.ts';
import { stopProcess } from '../test/faults/brigade.ts';

const CONCURRENCY = 20;
// Rounds of a few seconds each on either path (at about 12,000 raw jobs/s on Node 24, 5,000 jobs
// made rounds of 0.4 s, where the pipeline's fill and drain and the 5 ms completion poll weigh).
const THROUGHPUT_JOBS = 20_000;
const LATENCY_JOBS = 300;
const FLOOD_JOBS = 10_000;
const SMALL_JOBS = 150;
const ROUNDS = Math.max(5, Number(process.env.BENCH_ROUNDS ?? 5));
const PROCESS_JOBS = 10_000;

const arrivals = new Map<string, number>();
let onArrival: (() => void) | null = null;
const arrive = (id: string) => {
  arrivals.set(id, performance.now());
  onArrival?.();
};
const jobs = benchJobs(arrive);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
};
const ms = (x: number) => `${x.toFixed(1)} ms`;
const until = async (cond: () => boolean, what: string, timeoutMs = 120_000) => {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await new Promise<void>((resolve) => {
      onArrival = resolve;
      setTimeout(resolve, 50);
    });
  }
  onArrival = null;
};

/** Commits one outbox row per transaction, `gapMs` apart; returns commit-to-handler latencies. */
async function paced(t: TestContext, tenantId: string, type: string, count: number, gapMs: number): Promise<number[]> {
  const committed = new Map<string, number>();
  for (let i = 0; i < count; i++) {
    const id = await t.platform.tenancy.withTenant({ tenantId }, (trx) => enqueueLater(trx, tenantId, type, { n: i }));
    committed.set(id, performance.now());
    await sleep(gapMs);
  }
  await until(() => [...committed.keys()].every((id) => arrivals.has(id)), 'paced jobs');
  return [...committed].map(([id, at]) => arrivals.get(id)! - at);
}

/** Raw BullMQ add + process of the same jobs: 100 per `addBulk`, the tenants taking turns, each payload the outbox row's own. */
async function rawBullmq(t: TestContext, tenantIds: string[]): Promise<number> {
  const { REDIS_URL, BRIGADE_QUEUE_PREFIX } = t.platform.config;
  const producer = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  const consumer = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  const queue = new Queue('rawbench', { connection: producer, prefix: BRIGADE_QUEUE_PREFIX });
  let done = 0;
  const worker = new Worker('rawbench', async () => void done++, { connection: consumer, prefix: BRIGADE_QUEUE_PREFIX, concurrency: CONCURRENCY });
  await worker.waitUntilReady();
  const start = performance.now();
  for (let i = 0; i < THROUGHPUT_JOBS; i += 100) {
    const tenantId = tenantIds[(i / 100) % tenantIds.length]!;
    await queue.addBulk(
      Array.from({ length: 100 }, (_, k) => ({
        name: 'bench.raw',
        data: { payload: { n: i + k, tenantId } },
        opts: { removeOnComplete: { age: 86400, count: 5000 }, attempts: 5 },
      })),
    );
  }
  while (done < THROUGHPUT_JOBS) await sleep(5);
  const seconds = (performance.now() - start) / 1000;
  await worker.close();
  await queue.close();
  producer.disconnect();
  consumer.disconnect();
  return THROUGHPUT_JOBS / seconds;
}

/** Commits `count` no-op jobs, 100 per transaction, the tenants taking turns. */
async function commitTicks(t: TestContext, tenantIds: string[], count: number): Promise<void> {
  const perTx = 100;
  for (let i = 0; i < count; i += perTx) {
    const tenantId = tenantIds[(i / perTx) % tenantIds.length]!;
    await t.platform.tenancy.withTenant({ tenantId }, (trx) =>
      trx
        .insertInto('outbox')
        .values(Array.from({ length: perTx }, (_, k) => ({ tenant_id: tenantId, type: 'bench.tick', payload: JSON.stringify({ n: i + k, tenantId }) })))
        .execute(),
    );
  }
}

async function throughOutbox(t: TestContext, tenantIds: string[]): Promise<number> {
  const before = arrivals.size;
  const start = performance.now();
  await commitTicks(t, tenantIds, THROUGHPUT_JOBS);
  await until(() => arrivals.size - before >= THROUGHPUT_JOBS, 'outbox throughput jobs');
  return THROUGHPUT_JOBS / ((performance.now() - start) / 1000);
}

/** `n` worker processes (bench/jobs-worker.ts) on this run's database and queues, once each consumes. */
async function workerProcesses(t: TestContext, n: number): Promise<{ stop(): Promise<void> }> {
  const children: ChildProcess[] = [];
  const env = { ...process.env, DATABASE_URL: t.platform.config.DATABASE_URL, REDIS_URL: t.platform.config.REDIS_URL, BRIGADE_QUEUE_PREFIX: t.platform.config.BRIGADE_QUEUE_PREFIX, BRIGADE_JOB_CONCURRENCY: String(CONCURRENCY), BRIGADE_DEMO: 'false', BRIGADE_SIMULATOR_PORT: '1', NODE_ENV: 'production' };
  for (let i = 0; i < n; i++) {
    const child = spawn(process.execPath, ['--import', 'tsx', path.resolve('bench/jobs-worker.ts')], { env, stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(child);
    await new Promise<void>((resolve, reject) => {
      child.once('exit', (code) => reject(new Error(`bench worker exited ${code}`)));
      readline.createInterface({ input: child.stdout! }).on('line', (line) => line === 'ready' && resolve());
    });
  }
  return {
    async stop() {
      await Promise.all(children.map(stopProcess));
    },
  };
}

/** Jobs/s through separate worker processes: from the first commit to the last handler's end, as their attempt records say. */
async function throughProcesses(t: TestContext, tenantIds: string[]): Promise<number> {
  const started = new Date();
  await commitTicks(t, tenantIds, PROCESS_JOBS);
  const done = async () =>
    (
      await sql<{ n: string; last: Date | null }>`SELECT count(*) AS n, max(finished_at) AS last FROM job_runs WHERE type = 'bench.tick' AND state = 'completed' AND finished_at >= ${started}`.execute(t.platform.db.system)
    ).rows[0]!;
  const deadline = Date.now() + 300_000;
  for (;;) {
    const r = await done();
    if (Number(r.n) >= PROCESS_JOBS) return PROCESS_JOBS / ((r.last!.getTime() - started.getTime()) / 1000);
    if (Date.now() > deadline) throw new Error(`worker processes: ${r.n} of ${PROCESS_JOBS} jobs done`);
    await sleep(250);
  }
}

const t = await createTestContext({ BRIGADE_JOB_CONCURRENCY: String(CONCURRENCY) }, { jobs });
let runtime = await startJobs(t.platform, jobRegistry(jobs), { schedulers: false });
try {
  const tenants = [];
  for (let i = 0; i < 10; i++) tenants.push(await aTenant(t.app, `Bench ${i}`));
  const [quiet, big] = [tenants[0]!, tenants[1]!];
  await sleep(1000); // let the welcome mails of the signups pass

  const tenantIds = tenants.map((x) => x.tenant.id);
  // Warm-up: connections, prepared paths, JIT.
  await paced(t, quiet.tenant.id, 'bench.tick', 30, 2);
  await rawBullmq(t, tenantIds);

  const latency = await paced(t, quiet.tenant.id, 'bench.tick', LATENCY_JOBS, 10);

  // A round of each path first, not counted: the relay's and the worker's paths under load.
  await rawBullmq(t, tenantIds);
  await throughOutbox(t, tenantIds);

  // Alternating rounds; the median of each path, so a burst of load on this shared machine
  // does not decide the ratio.
  const raws: number[] = [];
  const outboxes: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    if (round % 2 === 0) {
      raws.push(await rawBullmq(t, tenantIds));
      outboxes.push(await throughOutbox(t, tenantIds));
    } else {
      outboxes.push(await throughOutbox(t, tenantIds));
      raws.push(await rawBullmq(t, tenantIds));
    }
  }
  const rawSpread = spread(raws);
  const outboxSpread = spread(outboxes);
  const ratios = spread(outboxes.map((o, i) => o / raws[i]!));
  const raw = rawSpread.median;
  const outbox = outboxSpread.median;
  const single = await throughOutbox(t, [quiet.tenant.id]);

  const calm: number[] = [];
  const flooded: number[] = [];
  const backlogs: string[] = [];
  const pendingOfBig = async () =>
    Number(
      (
        await t.platform.tenancy.withTenant({ tenantId: big.tenant.id }, (trx) =>
          trx.selectFrom('outbox').select((eb) => eb.fn.countAll<string>().as('n')).where('tenant_id', '=', big.tenant.id).where('relayed_at', 'is', null).executeTakeFirstOrThrow(),
        )
      ).n,
    );
  for (let round = 0; round < 2; round++) {
    calm.push(...(await paced(t, quiet.tenant.id, 'bench.work', SMALL_JOBS, 15)));
    await t.platform.tenancy.withTenant({ tenantId: big.tenant.id }, (trx) =>
      sql`
        INSERT INTO outbox (tenant_id, type, payload)
        SELECT ${big.tenant.id}::uuid, 'bench.work', jsonb_build_object('n', n, 'tenantId', ${big.tenant.id}::text)
        FROM generate_series(1, ${FLOOD_JOBS}) AS n`.execute(trx),
    );
    await sleep(200);
    const atStart = await pendingOfBig();
    flooded.push(...(await paced(t, quiet.tenant.id, 'bench.work', SMALL_JOBS, 15)));
    backlogs.push(`${atStart} → ${await pendingOfBig()}`);
    // Let the flood drain before the next quiet round.
    const deadline = Date.now() + 120_000;
    while ((await pendingOfBig()) > 0 && Date.now() < deadline) await sleep(250);
    await sleep(1000);
  }

  // Several worker processes: this process stops consuming; one, then two bench workers do.
  await runtime.close();
  const byProcesses: { n: number; rate: Spread }[] = [];
  for (const n of [1, 2]) {
    const workers = await workerProcesses(t, n);
    try {
      await throughProcesses(t, tenantIds); // warm-up
      const rates: number[] = [];
      for (let round = 0; round < 3; round++) rates.push(await throughProcesses(t, tenantIds));
      byProcesses.push({ n, rate: spread(rates) });
    } finally {
      await workers.stop();
    }
  }
  runtime = await startJobs(t.platform, jobRegistry(jobs), { schedulers: false });

  const ratio = ratios.median;
  const range = (x: Spread, digits = 0) => `${x.min.toFixed(digits)} – ${x.max.toFixed(digits)}`;
  const p99Ratio = pct(flooded, 99) / pct(calm, 99);
  const cap = t.platform.config.BRIGADE_JOB_TENANT_CAP;
  const lines = [
    '## Background jobs (`bench/jobs.bench.ts`)',
    '',
    `Worker concurrency ${CONCURRENCY} per queue, tenant cap ${cap}, one process (relay + workers), PostgreSQL and Redis on loopback.`,
    '',
    '### Commit-to-handler latency through the outbox',
    '',
    `${LATENCY_JOBS} jobs, each committed in its own transaction 10 ms apart; time from COMMIT returning to the handler starting.`,
    '',
    '| p50 | p90 | p99 | max |',
    '| --- | --- | --- | --- |',
    `| ${ms(pct(latency, 50))} | ${ms(pct(latency, 90))} | ${ms(pct(latency, 99))} | ${ms(Math.max(...latency))} |`,
    '',
    '### Throughput: outbox + relay + BullMQ + worker against raw BullMQ',
    '',
    `${THROUGHPUT_JOBS} no-op jobs per round, a round of each path first as a warm-up, then ${ROUNDS} alternating rounds (the order swaps each round), medians with min – max. Raw: \`addBulk\` of 100 and a BullMQ worker, each job's payload the outbox row's own (\`{ n, tenantId }\`), the tenants taking turns. Outbox: rows committed 100 per transaction, relayed (fair pick, slots, priorities, ${t.platform.config.BRIGADE_RELAY_SHARDS} relay shards), run by the Brigade worker (context, payload check, attempt ledger). Relay, workers and the committing code share this one process.`,
    '',
    '| path | jobs/s (median) | min – max | vs raw |',
    '| --- | ---: | ---: | ---: |',
    `| raw BullMQ add + process, the same payloads (baseline) | ${raw.toFixed(0)} | ${range(rawSpread)} | 100% |`,
    `| outbox → BullMQ → worker, 10 tenants | ${outbox.toFixed(0)} | ${range(outboxSpread)} | **${(ratio * 100).toFixed(0)}%** (per round ${(ratios.min * 100).toFixed(0)} – ${(ratios.max * 100).toFixed(0)}%; target ≥ 60%: ${ratio >= 0.6 ? 'met' : 'NOT met'}) |`,
    `| outbox → BullMQ → worker, 1 tenant (capped at ${cap} in flight) | ${single.toFixed(0)} | | ${((single / raw) * 100).toFixed(0)}% |`,
    '',
    '### Several worker processes',
    '',
    `The same no-op jobs (${PROCESS_JOBS.toLocaleString('en-US')} a round, 10 tenants, a warm-up round then 3) run by separate worker processes (bench/jobs-worker.ts: relay and workers, as \`brigade worker\`), this process only committing; from the first commit to the last handler's end as the attempt records say. Every process relays (the relay is sharded by tenant, one lock per shard), so a second process adds dispatch as well as workers.`,
    '',
    '| worker processes | jobs/s (median) | min – max | vs raw BullMQ in one process |',
    '| ---: | ---: | ---: | ---: |',
    ...byProcesses.map((b) => `| ${b.n} | ${b.rate.median.toFixed(0)} | ${range(b.rate)} | ${((b.rate.median / raw) * 100).toFixed(0)}% |`),
    '',
    '### Fairness: a small tenant while a big tenant floods',
    '',
    `Two rounds. In each, the small tenant commits ${SMALL_JOBS} jobs 15 ms apart (handler: ${WORK_MS} ms of I/O wait, like sending a mail), first alone, then right after the big tenant committed ${FLOOD_JOBS} of the same jobs in one transaction (the flood's outbox backlog while the small tenant ran: ${backlogs.join(' and ')}). Latency is commit to handler end; both rounds pooled.`,
    '',
    '| small tenant | p50 | p90 | p99 |',
    '| --- | --- | --- | --- |',
    `| no flood (baseline) | ${ms(pct(calm, 50))} | ${ms(pct(calm, 90))} | ${ms(pct(calm, 99))} |`,
    `| during the flood | ${ms(pct(flooded, 50))} | ${ms(pct(flooded, 90))} | ${ms(pct(flooded, 99))} |`,
    '',
    `p99 during the flood is ${p99Ratio.toFixed(2)}x the baseline ${p99Ratio <= 2 ? '(target ≤ 2x: met)' : '(target ≤ 2x: NOT met)'}.`,
  ];
  process.stdout.write(lines.join('\n') + '\n');
} finally {
  await runtime.close();
  await t.close();
}
