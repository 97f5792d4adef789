import os from 'node:os';
import { parseArgs } from 'node:util';
import { loadConfig, ConfigError, describeConfig, type Config } from './config.ts';
import { createLogger, type Logger } from './platform/log.ts';
import { startPlatform, databaseServer, type StartedPlatform } from './platform/bootstrap.ts';
import { startTracing } from './platform/telemetry.ts';
import Fastify from 'fastify';
import { buildApp } from './app.ts';
import { healthRoutes as probeRoutes } from './platform/http/health.ts';
import { healthGauges } from './modules/health/index.ts';
import { identityService, operatorsService } from './modules/identity/index.ts';
import { seedDemo } from './modules/demo/demo.seed.ts';
import { verifyAuditChain } from './modules/audit/index.ts';
import { exportsService, verifyTenantExport, deleteTenantNow, erasureService } from './modules/lifecycle/index.ts';
import { AppError } from './platform/errors/index.ts';
import { EmbeddedPostgresError, migrationStatus } from './platform/db/index.ts';
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import { startJobs, jobsAdmin, listableStates, type ListableState, type JobSummary } from './platform/jobs/index.ts';
import { jobRegistry } from './jobs.ts';
import { billingModule, hostPaymentSimulator, startPaymentSimulator, simulatorSecretKey, simulatorWebhookSecret, webhookUrlOf } from './modules/billing/index.ts';

/**
 * `brigade <command>`: the one entry of every process role.
 *   start      migrations, API, worker and demo data in one process (what `npm start` runs)
 *   serve      the HTTP API and the ops dashboard
 *   worker     background jobs: outbox relay, workers, schedulers
 *   migrate    apply migrations and exit; migrate status: applied, pending, unknown
 *   jobs       list|show|replay|discard jobs (what the ops API does, from a shell)
 *   operators create --email E --password P [--name N]
 *   audit verify --tenant T
 *   tenants export --tenant T --out FILE [--operator NAME] | tenants delete --tenant T --confirm
 *   export verify FILE
 *   members erase --tenant T --member ID
 *   billing reconcile [--tenant T] | billing lifecycle | billing divergences [--tenant T] | billing alerts
 *   simulator  the bundled payment-provider simulator alone (for several API processes)
 *   openapi    print the OpenAPI document (the console's client is generated from it)
 */
interface Command {
  summary: string;
  run(args: string[], config: Config, log: Logger): Promise<void>;
}

type Closer = () => Promise<void>;

/** SIGINT/SIGTERM: stop accepting, drain, close pools, then the database, in the order given. */
function closeOnSignal(log: Logger, closers: Closer[]): void {
  let closing = false;
  const shutdown = async (signal: string) => {
    if (closing) return;
    closing = true;
    log.info({ signal }, 'shutting down');
    const force = setTimeout(() => {
      log.error('shutdown took longer than 25s; exiting');
      process.exit(1);
    }, 25_000);
    force.unref();
    for (const close of closers) {
      try {
        await close();
      } catch (err) {
        log.error({ err }, 'error while shutting down');
      }
    }
    log.info('stopped');
    process.exit(0);
  };
  // A closed terminal (SIGHUP) drains like a stop: the embedded PostgreSQL is stopped last.
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.once(signal, () => void shutdown(signal));
}

async function serve(platform: StartedPlatform, config: Config): Promise<Closer> {
  const app = await buildApp(platform);
  await app.listen({ port: config.PORT, host: config.HOST });
  return () => app.close();
}

/** A tenant named by slug or id, for the operator commands. */
function findTenant(platform: StartedPlatform, slugOrId: string) {
  const wanted = slugOrId.toLowerCase();
  return platform.tenancy.withSystem('cli: find tenant', (trx) =>
    trx
      .selectFrom('tenants')
      .select(['id', 'slug', 'name'])
      .where((eb) => (/^[0-9a-f-]{36}$/.test(wanted) ? eb.or([eb('id', '=', wanted), eb('slug', '=', wanted)]) : eb('slug', '=', wanted)))
      .executeTakeFirst(),
  );
}

const commands: Record<string, Command> = {
  start: {
    summary: 'Migrations, API, worker and demo data in one process',
    async run(_args, config, log) {
      const platform = await startPlatform(config, log, { migrate: true, tracing: await startTracing() });
      const closers: Closer[] = [];
      closeOnSignal(log, closers);
      closers.push(await serve(platform, config));
      const simulator = await hostPaymentSimulator(config, log);
      const jobs = await startJobs(platform, jobRegistry());
      // The API first, then the jobs and the simulator side by side (a billing job cut short by
      // the simulator's stop is retried on the next start).
      closers.push(async () => {
        await Promise.all([jobs.close(), simulator.close()]);
      });
      closers.push(() => platform.close());
      if (config.BRIGADE_DEMO) {
        const logins = await seedDemo(platform, identityService(platform));
        if (logins) printDemoLogins(logins);
      }
      log.info(`Brigade is running: API http://${config.HOST}:${config.PORT}/v1, reference http://${config.HOST}:${config.PORT}/docs, operations http://${config.HOST}:${config.PORT}/ops`);
    },
  },
  serve: {
    summary: 'The HTTP API and the ops dashboard',
    async run(_args, config, log) {
      const platform = await startPlatform(config, log, { migrate: false, tracing: await startTracing() });
      const closers: Closer[] = [];
      closeOnSignal(log, closers);
      const closeApi = await serve(platform, config);
      const simulator = await hostPaymentSimulator(config, log);
      closers.push(async () => {
        await Promise.all([closeApi(), simulator.close()]);
      });
      closers.push(() => platform.close());
    },
  },
  worker: {
    summary: 'Background jobs: the outbox relay, the workers and the schedulers',
    async run(_args, config, log) {
      const platform = await startPlatform(config, log, { migrate: false, tracing: await startTracing() });
      const closers: Closer[] = [];
      closeOnSignal(log, closers);
      // SIGTERM: the relay stops, running jobs get BRIGADE_JOB_DRAIN_MS to finish, the rest go back to the queue.
      const jobs = await startJobs(platform, jobRegistry());
      // Billing's jobs talk to the payment provider: the bundled simulator, if no other process hosts it.
      const simulator = await hostPaymentSimulator(config, log);
      // The worker answers /healthz, /readyz and /metrics on its own port; not ready once it drains.
      let draining = false;
      const probes = await workerProbes(platform, { jobs: () => !draining });
      closers.push(async () => {
        draining = true;
        await probes.close();
      });
      closers.push(() => jobs.close());
      closers.push(() => simulator.close());
      closers.push(() => platform.close());
      log.info('Brigade worker is running');
    },
  },
  jobs: {
    summary: 'jobs list|show|replay|discard|queues (see `brigade jobs help`)',
    async run(args, config, log) {
      await jobsCommand(args, config, log);
    },
  },
  migrate: {
    summary: 'Apply database migrations and exit; `migrate status [--json]`: applied, pending and unknown ones',
    async run(args, config, log) {
      const { positionals, values } = parseArgs({ args, allowPositionals: true, options: { json: { type: 'boolean', default: false } } });
      if (positionals.length === 0) {
        const platform = await startPlatform(config, log, { migrate: true });
        await platform.close();
        return;
      }
      if (positionals[0] !== 'status' || positionals.length > 1) throw new UsageError('usage: brigade migrate [status [--json]]');
      await migrateStatus(config, log, values.json);
    },
  },
  operators: {
    summary: 'operators create --email E --password P [--name N]',
    async run(args, config, log) {
      const { positionals, values } = parseArgs({
        args,
        allowPositionals: true,
        options: { email: { type: 'string' }, password: { type: 'string' }, name: { type: 'string' } },
      });
      if (positionals[0] !== 'create' || !values.email || !values.password) {
        throw new UsageError('usage: brigade operators create --email E --password P [--name N]');
      }
      const platform = await startPlatform(config, log, { migrate: true });
      try {
        const op = await operatorsService(platform).createOperator({ email: values.email, password: values.password, name: values.name });
        process.stdout.write(`operator ${op.email} (${op.id}) can now log in at /ops/api/login\n`);
      } finally {
        await platform.close();
      }
    },
  },
  audit: {
    summary: 'audit verify --tenant T (slug or id): recompute the audit hash chain, name the first altered or missing event',
    async run(args, config, log) {
      const { positionals, values } = parseArgs({ args, allowPositionals: true, options: { tenant: { type: 'string' } } });
      if (positionals[0] !== 'verify' || !values.tenant) throw new UsageError('usage: brigade audit verify --tenant <slug or id>');
      const platform = await startPlatform(config, log, { migrate: false });
      try {
        const tenant = await findTenant(platform, values.tenant);
        if (!tenant) throw new UsageError(`brigade audit verify: no tenant "${values.tenant}"`);
        const v = await verifyAuditChain(platform.tenancy, tenant.id);
        const out = [`tenant ${tenant.slug} (${tenant.id})`, `head #${v.head.seq} ${v.head.hash}`, `events checked: ${v.checked}`];
        out.push(v.ok ? 'audit chain intact' : `audit chain BROKEN: ${v.problem!.detail}`);
        process.stdout.write(out.join('\n') + '\n');
        if (!v.ok) process.exitCode = 1;
      } finally {
        await platform.close();
      }
    },
  },
  tenants: {
    summary: 'tenants export --tenant T --out FILE [--operator NAME]: a full export (audited in its log) | tenants delete --tenant T --confirm: delete every row of an ended business',
    async run(args, config, log) {
      const { positionals, values } = parseArgs({
        args,
        allowPositionals: true,
        options: { tenant: { type: 'string' }, out: { type: 'string' }, operator: { type: 'string' }, confirm: { type: 'boolean' } },
      });
      if (positionals[0] === 'delete') {
        if (!values.tenant || !values.confirm) throw new UsageError('usage: brigade tenants delete --tenant <slug or id> --confirm (deletes every row of the business for good)');
        const platform = await startPlatform(config, log, { migrate: false });
        try {
          const tenant = await findTenant(platform, values.tenant);
          if (!tenant) throw new UsageError(`brigade tenants delete: no tenant "${values.tenant}"`);
          const counts = await deleteTenantNow(platform, tenant.id, values.operator ?? `${os.userInfo().username}@${os.hostname()}`);
          const rows = Object.values(counts).reduce((a, b) => a + Number(b), 0);
          process.stdout.write(`deleted ${tenant.slug} (${tenant.id}): ${rows} rows; the deletion record is in tenant_deletions\n`);
        } finally {
          await platform.close();
        }
        return;
      }
      if (positionals[0] !== 'export' || !values.tenant || !values.out) throw new UsageError('usage: brigade tenants export --tenant <slug or id> --out <file.jsonl.gz> [--operator <name>]');
      const platform = await startPlatform(config, log, { migrate: false });
      try {
        const tenant = await findTenant(platform, values.tenant);
        if (!tenant) throw new UsageError(`brigade tenants export: no tenant "${values.tenant}"`);
        const operator = values.operator ?? `${os.userInfo().username}@${os.hostname()}`;
        const { open } = await import('node:fs/promises');
        const file = await open(values.out, 'wx');
        try {
          const summary = await exportsService(platform).exportForOperator(tenant.id, operator, async (gz) => void (await file.write(gz)));
          const rows = Object.values(summary.rowCounts).reduce((a, b) => a + b, 0);
          process.stdout.write(`exported ${tenant.slug} (${tenant.id}): ${rows} rows, ${summary.bytes} bytes, audit head #${summary.auditHead.seq} ${summary.auditHead.hash}\n`);
        } finally {
          await file.close();
        }
      } finally {
        await platform.close();
      }
    },
  },
  members: {
    summary: 'members erase --tenant T --member ID [--operator NAME]: erase a member\'s personal data (audited; the chain still verifies)',
    async run(args, config, log) {
      const { positionals, values } = parseArgs({ args, allowPositionals: true, options: { tenant: { type: 'string' }, member: { type: 'string' }, operator: { type: 'string' } } });
      if (positionals[0] !== 'erase' || !values.tenant || !values.member || !/^[0-9a-f-]{36}$/i.test(values.member)) {
        throw new UsageError('usage: brigade members erase --tenant <slug or id> --member <user id> [--operator <name>]');
      }
      const platform = await startPlatform(config, log, { migrate: false });
      try {
        const tenant = await findTenant(platform, values.tenant);
        if (!tenant) throw new UsageError(`brigade members erase: no tenant "${values.tenant}"`);
        const operator = values.operator ?? `${os.userInfo().username}@${os.hostname()}`;
        const r = await erasureService(platform).eraseMemberAsOperator(tenant.id, values.member.toLowerCase(), operator);
        process.stdout.write(r.erased ? `erased member ${values.member} of ${tenant.slug}: ${r.auditEvents} audit events pseudonymised\n` : `member ${values.member} was already erased\n`);
      } finally {
        await platform.close();
      }
    },
  },
  export: {
    summary: 'export verify FILE: check an export offline (complete, and its audit log recomputes to the chain head it names)',
    async run(args) {
      const { positionals } = parseArgs({ args, allowPositionals: true });
      if (positionals[0] !== 'verify' || !positionals[1]) throw new UsageError('usage: brigade export verify <file.jsonl.gz>');
      const { createReadStream } = await import('node:fs');
      const v = await verifyTenantExport(createReadStream(positionals[1]));
      const out = [`tenant ${v.tenantId ?? 'unknown'}`, `rows: ${Object.values(v.rowCounts).reduce((a, b) => a + b, 0)}`];
      if (v.chain) out.push(`audit head #${v.chain.head.seq} ${v.chain.head.hash}`, `audit events checked: ${v.chain.checked}`);
      out.push(v.ok ? 'export intact' : `export BROKEN: ${v.problem}`);
      process.stdout.write(out.join('\n') + '\n');
      if (!v.ok) process.exitCode = 1;
    },
  },
  billing: {
    summary: 'billing reconcile [--tenant T] | lifecycle | divergences [--tenant T] [--limit N] | alerts',
    async run(args, config, log) {
      const { positionals, values } = parseArgs({
        args,
        allowPositionals: true,
        options: { tenant: { type: 'string' }, limit: { type: 'string' } },
      });
      const sub = positionals[0];
      const usage = 'usage: brigade billing reconcile [--tenant T] | lifecycle | divergences [--tenant T] [--limit N] | alerts';
      if (!sub || !['reconcile', 'lifecycle', 'divergences', 'alerts'].includes(sub)) throw new UsageError(usage);
      if (values.tenant && !/^[0-9a-f-]{36}$/i.test(values.tenant)) throw new UsageError('--tenant takes a tenant id (UUID)');
      const limit = values.limit ? Number(values.limit) : 50;
      if (!Number.isInteger(limit) || limit < 1 || limit > 200) throw new UsageError('--limit takes a number from 1 to 200');
      const platform = await startPlatform(config, log, { migrate: false });
      // Talks to the simulator another process hosts, or hosts it for the duration.
      const simulator = sub === 'reconcile' || sub === 'lifecycle' ? await hostPaymentSimulator(config, log) : null;
      try {
        const billing = billingModule(platform);
        let out: unknown;
        if (sub === 'reconcile') out = await billing.reconciler.reconcile({ trigger: 'cli', ...(values.tenant ? { tenantId: values.tenant } : {}) });
        else if (sub === 'lifecycle') out = await billing.lifecycle.sweep();
        else if (sub === 'divergences') out = await billing.ops.divergences({ limit, ...(values.tenant ? { tenantId: values.tenant } : {}) });
        else out = await billing.ops.alerts({ limit, open: true });
        process.stdout.write(JSON.stringify(out, null, 2) + '\n');
      } finally {
        await simulator?.close();
        await platform.close();
      }
    },
  },
  openapi: {
    summary: 'Print the OpenAPI 3.1 document (read from the routes; needs no database)',
    async run() {
      const { openApiDocument } = await import('./openapi-document.ts');
      const doc = await openApiDocument();
      await new Promise<void>((resolve) => process.stdout.write(JSON.stringify(doc, null, 2) + '\n', () => resolve()));
      // A connection that was never meant to open may still be retrying in the background.
      process.exit(0);
    },
  },
  simulator: {
    summary: 'The bundled payment-provider simulator alone, on BRIGADE_SIMULATOR_PORT',
    async run(_args, config, log) {
      if (config.STRIPE_SECRET_KEY) throw new UsageError('STRIPE_SECRET_KEY is set: Brigade talks to Stripe, not to the simulator');
      const { default: path } = await import('node:path');
      const simulator = await startPaymentSimulator({
        port: config.BRIGADE_SIMULATOR_PORT,
        host: '127.0.0.1',
        secretKey: simulatorSecretKey,
        webhookSecret: simulatorWebhookSecret,
        webhookUrl: webhookUrlOf(config),
        statePath: path.join(config.BRIGADE_DATA_DIR, 'simulator.json'),
        log: { debug: (f, m) => log.debug(f, m), info: (f, m) => log.info(f, m), warn: (f, m) => log.warn(f, m), error: (f, m) => log.error(f, m) },
      });
      closeOnSignal(log, [() => simulator.close()]);
      log.info(`payment simulator on ${simulator.url}, webhooks to ${webhookUrlOf(config)}`);
    },
  },
};

/** The worker's own HTTP port: the same probes and metrics as the API, nothing else. */
async function workerProbes(platform: StartedPlatform, checks: Record<string, () => boolean>): Promise<{ close(): Promise<void> }> {
  const app = Fastify({ logger: false });
  probeRoutes(app, platform, checks);
  healthGauges(platform);
  await app.listen({ port: platform.config.BRIGADE_WORKER_PORT, host: platform.config.HOST });
  const address = app.server.address();
  platform.log.info({ port: typeof address === 'object' && address ? address.port : null }, 'worker probes and metrics listening (/healthz, /readyz, /metrics)');
  return { close: () => app.close() };
}

class UsageError extends Error {}

const jobsUsage = `usage:
  brigade jobs queues
  brigade jobs list [--state dead|failed|completed|waiting|active|delayed] [--tenant ID] [--type T] [--queue Q] [--limit N]
  brigade jobs show QUEUE ID
  brigade jobs replay QUEUE ID [--reason R]
  brigade jobs replay --all [--tenant ID] [--type T] [--queue Q] [--limit N] [--reason R]   (dead jobs)
  brigade jobs discard QUEUE ID [--reason R]
  brigade jobs discard --all [--tenant ID] [--type T] [--queue Q] [--limit N] [--reason R]
  add --json for machine-readable output`;

async function jobsCommand(args: string[], config: Config, log: Logger): Promise<void> {
  const { positionals, values } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      state: { type: 'string', default: 'dead' },
      tenant: { type: 'string' },
      type: { type: 'string' },
      queue: { type: 'string' },
      limit: { type: 'string' },
      reason: { type: 'string' },
      all: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
    },
  });
  const [action, queue, id] = positionals;
  if (!action || action === 'help') throw new UsageError(jobsUsage);
  const limit = values.limit ? Number(values.limit) : undefined;
  if (limit !== undefined && (!Number.isInteger(limit) || limit < 1 || limit > 1000)) throw new UsageError('--limit must be a whole number from 1 to 1000');
  if (!listableStates.includes(values.state as ListableState)) throw new UsageError(`--state must be one of ${listableStates.join(', ')}`);
  const filter = { tenantId: values.tenant, type: values.type, queue: values.queue };
  const actor = { name: `cli:${os.userInfo().username}@${os.hostname()}`, operatorId: null };
  const reason = values.reason ?? null;
  const out = (value: unknown, text: () => string) => process.stdout.write(`${values.json ? JSON.stringify(value, null, 2) : text()}\n`);
  const line = (j: JobSummary) => [j.queue.padEnd(8), j.id.padEnd(36), j.type.padEnd(22), j.state.padEnd(9), String(j.attempts).padStart(2), j.tenantId ?? '-', j.failedReason ?? ''].join('  ');

  const platform = await startPlatform(config, log, { migrate: false });
  const jobs = jobsAdmin(platform, jobRegistry());
  try {
    if (action === 'queues') {
      const data = await jobs.queueCounts();
      out(data, () => data.map((q) => `${q.name.padEnd(10)} ${Object.entries(q.counts).map(([k, v]) => `${k} ${v}`).join('  ')}`).join('\n'));
    } else if (action === 'list') {
      const page = await jobs.listJobs(values.state as ListableState, filter, limit ?? 50);
      out(page, () => (page.data.length ? page.data.map(line).join('\n') : `no ${values.state} jobs`));
    } else if (action === 'show') {
      if (!queue || !id) throw new UsageError(jobsUsage);
      const job = await jobs.getJob(queue, id);
      if (!job) throw new UsageError(`no job ${id} in queue ${queue}`);
      out(job, () => JSON.stringify(job, null, 2));
    } else if (action === 'replay' || action === 'discard') {
      if (values.all) {
        const r = action === 'replay' ? await jobs.replayMatching(filter, actor, reason, limit ?? 100) : await jobs.discardMatching(filter, actor, reason, limit ?? 100);
        out(r, () => `${action === 'replay' ? 'replayed' : 'discarded'} ${r.count} dead job(s)` + r.jobs.map((j) => `\n  ${j.queue} ${j.id}${'replayOf' in j ? ` (replays ${j.replayOf})` : ''}`).join(''));
      } else {
        if (!queue || !id) throw new UsageError(jobsUsage);
        const r = action === 'replay' ? await jobs.replay(queue, id, actor, reason) : await jobs.discard(queue, id, actor, reason);
        out(r, () => (action === 'replay' ? `replayed as ${r.queue} ${r.id}` : `discarded ${r.queue} ${r.id}`));
      }
    } else {
      throw new UsageError(jobsUsage);
    }
  } catch (err) {
    if (err instanceof AppError) throw new UsageError(`brigade jobs ${action}: ${err.detail}`);
    throw err;
  } finally {
    await jobs.close();
    await platform.close();
  }
}

/** Reads the migration table only: works on a database never migrated, and changes nothing. */
async function migrateStatus(config: Config, log: Logger, json: boolean): Promise<void> {
  const server = await databaseServer(config, log);
  const db = new Kysely<unknown>({ dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: server.url, max: 1 }) }) });
  try {
    const s = await migrationStatus(db);
    if (json) {
      process.stdout.write(JSON.stringify(s, null, 2) + '\n');
    } else {
      const lines = [
        ...s.applied.map((m) => `applied  ${m.name}  ${m.appliedAt}`),
        ...s.pending.map((n) => `pending  ${n}${s.outOfOrder.includes(n) ? '  (sorts before an applied one)' : ''}`),
        ...s.unknown.map((m) => `unknown  ${m.name}  ${m.appliedAt}  (applied here, not in this release's migrations/)`),
        `${s.applied.length} applied, ${s.pending.length} pending, ${s.unknown.length} unknown`,
      ];
      process.stdout.write(lines.join('\n') + '\n');
    }
  } finally {
    await db.destroy();
    await server.stop();
  }
}

function printDemoLogins(logins: { tenant: string; role: string; email: string; password: string }[]): void {
  const lines = ['', 'Demo logins (password for all: ' + logins[0]!.password + '):'];
  for (const l of logins) lines.push(`  ${l.tenant.padEnd(16)} ${l.role.padEnd(15)} ${l.email}`);
  lines.push('  POST /v1/auth/login {"email": "...", "password": "..."}', '');
  process.stdout.write(lines.join('\n') + '\n');
}

function help(): string {
  const lines = ['usage: brigade <command>', '', 'commands:'];
  for (const [name, c] of Object.entries(commands)) lines.push(`  ${name.padEnd(12)} ${c.summary}`);
  lines.push('', 'environment:');
  for (const s of describeConfig()) lines.push(`  ${s.name.padEnd(26)} ${s.description}${s.default !== undefined ? ` (default ${s.default})` : ''}`);
  return lines.join('\n');
}

async function main(argv: string[]): Promise<void> {
  const [name, ...args] = argv;
  if (!name || name === 'help' || name === '--help') {
    process.stdout.write(help() + '\n');
    return;
  }
  const command = commands[name];
  if (!command) {
    process.stderr.write(`brigade: unknown command "${name}"\n${help()}\n`);
    process.exitCode = 2;
    return;
  }
  let config: Config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }
  const log = createLogger(config.LOG_LEVEL);
  try {
    await command.run(args, config, log);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(2);
    }
    if (err instanceof EmbeddedPostgresError) {
      // Says what to do in one sentence: no stack trace.
      process.stderr.write(`brigade ${name}: ${err.message}\n`);
      process.exit(1);
    }
    log.fatal({ err }, `brigade ${name} failed`);
    // Whatever was thrown (an Error or not), one line that says it.
    process.stderr.write(`brigade ${name} failed: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  }
}

await main(process.argv.slice(2));
