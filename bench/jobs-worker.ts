/**
 * A worker process for bench/jobs.bench.ts: Brigade's job runtime (outbox relay and workers) as
 * `brigade worker` runs it, with the benchmark's no-op job instead of the product's, at
 * LOG_LEVEL=info to /dev/null. Prints "ready" once it consumes; stops on SIGTERM.
 * Environment: the usual settings (DATABASE_URL, REDIS_URL, BRIGADE_QUEUE_PREFIX, ...).
 */
import pino from 'pino';
import { loadConfig } from '../src/config.ts';
import { createLogger } from '../src/platform/log.ts';
import { startPlatform } from '../src/platform/bootstrap.ts';
import { startJobs } from '../src/platform/jobs/index.ts';
import { jobRegistry } from '../src/jobs.ts';
import { benchJobs } from './jobs-types.ts';

const config = loadConfig(process.env);
const platform = await startPlatform(config, createLogger('info', pino.destination('/dev/null')), { migrate: false });
const runtime = await startJobs(platform, jobRegistry(benchJobs(() => undefined)), { schedulers: false });
process.stdout.write('ready\n');
process.once('SIGTERM', () => {
  void runtime
    .close()
    .then(() => platform.close())
    .then(() => process.exit(0));
});
