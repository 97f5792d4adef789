import client from 'prom-client';

/**
 * One registry per process, for an outside Prometheus to scrape and alert on. Labels are
 * bounded sets only (method, route, status, queue, job type, state, rule, severity, plan): no
 * metric carries a tenant label, whose series would grow with every business. Per-tenant
 * figures are the rollups in PostgreSQL (see platform/signals).
 */
export function createMetrics() {
  const registry = new client.Registry();
  client.collectDefaultMetrics({ register: registry });
  const httpDuration = new client.Histogram({
    name: 'brigade_http_request_duration_seconds',
    help: 'HTTP request duration by route and status',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  const jobs = new client.Counter({
    name: 'brigade_jobs_total',
    help: 'Finished job attempts by queue, type and outcome (completed, failed: to be retried, dead: no attempts left)',
    labelNames: ['queue', 'type', 'state'] as const,
    registers: [registry],
  });
  const jobDuration = new client.Histogram({
    name: 'brigade_job_duration_seconds',
    help: 'Duration of job attempts by queue, type and outcome',
    labelNames: ['queue', 'type', 'state'] as const,
    buckets: [0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300],
    registers: [registry],
  });
  const jobWait = new client.Histogram({
    name: 'brigade_job_wait_seconds',
    help: 'Time from a job being due (written to the outbox) to its first attempt starting, by queue',
    labelNames: ['queue'] as const,
    buckets: [0.01, 0.1, 0.5, 1, 5, 15, 60, 300, 1800],
    registers: [registry],
  });
  const signalFlushes = new client.Counter({
    name: 'brigade_signal_flushes_total',
    help: 'Flushes of per-tenant signals to PostgreSQL by result (ok, failed: retried with the same batch id)',
    labelNames: ['result'] as const,
    registers: [registry],
  });
  const signalFlushDuration = new client.Histogram({
    name: 'brigade_signal_flush_duration_seconds',
    help: 'Duration of a flush of per-tenant signals',
    buckets: [0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
    registers: [registry],
  });
  return { registry, httpDuration, jobs, jobDuration, jobWait, signalFlushes, signalFlushDuration };
}

export type Metrics = ReturnType<typeof createMetrics>;

/**
 * A gauge whose values are read when Prometheus scrapes (outbox lag, open alerts, tenants by
 * plan), cached for `cacheMs` so a busy scraper does not turn into database load.
 */
export function scrapedGauge<L extends string>(
  metrics: Metrics,
  spec: { name: string; help: string; labelNames: readonly L[]; cacheMs?: number },
  read: () => Promise<{ labels: Partial<Record<L, string>>; value: number }[]>,
): void {
  let cached: { at: number; values: { labels: Partial<Record<L, string>>; value: number }[] } | null = null;
  new client.Gauge({
    name: spec.name,
    help: spec.help,
    labelNames: spec.labelNames,
    registers: [metrics.registry],
    async collect() {
      const now = Date.now();
      if (!cached || now - cached.at > (spec.cacheMs ?? 10_000)) {
        try {
          cached = { at: now, values: await read() };
        } catch {
          // A scrape while the database is away shows the last values rather than failing.
          if (!cached) return;
        }
      }
      this.reset();
      for (const v of cached.values) this.set(v.labels as Partial<Record<L, string | number>>, v.value);
    },
  });
}
