import { sql } from 'kysely';
import type { Platform } from '../../platform/deps.ts';
import { scrapedGauge } from '../../platform/metrics.ts';

const registered = new WeakSet<object>();

/**
 * Platform-wide gauges an outside Prometheus can alert on, read when it scrapes (cached 10 s):
 * outbox lag and relay backlog, open alerts by rule and severity, tenants by plan and status.
 * They describe shared state, so every process reports the same values: aggregate with max().
 */
export function healthGauges(platform: Platform): void {
  if (registered.has(platform.metrics.registry)) return;
  registered.add(platform.metrics.registry);
  const { tenancy } = platform;
  scrapedGauge(platform.metrics, { name: 'brigade_outbox_lag_seconds', help: 'Age of the oldest due outbox row not yet relayed (0 when none)', labelNames: [] }, async () => {
    const r = await tenancy.withSystem('metrics: outbox lag', (trx) =>
      sql<{ age: number | null }>`SELECT extract(epoch FROM now() - min(greatest(run_at, created_at)))::float8 AS age FROM outbox WHERE relayed_at IS NULL AND run_at <= now()`.execute(trx),
    );
    return [{ labels: {}, value: Math.max(0, r.rows[0]?.age ?? 0) }];
  });
  scrapedGauge(platform.metrics, { name: 'brigade_outbox_pending', help: 'Outbox rows not yet relayed: due (the relay backlog, fair waits included) and scheduled for later', labelNames: ['state'] as const }, async () => {
    const r = await tenancy.withSystem('metrics: relay backlog', (trx) =>
      sql<{ due: string; later: string }>`SELECT count(*) FILTER (WHERE run_at <= now()) AS due, count(*) FILTER (WHERE run_at > now()) AS later FROM outbox WHERE relayed_at IS NULL`.execute(trx),
    );
    return [
      { labels: { state: 'due' }, value: Number(r.rows[0]?.due ?? 0) },
      { labels: { state: 'scheduled' }, value: Number(r.rows[0]?.later ?? 0) },
    ];
  });
  scrapedGauge(platform.metrics, { name: 'brigade_alerts_open', help: 'Alerts not resolved, by rule and severity', labelNames: ['rule', 'severity'] as const }, async () => {
    const rows = await tenancy.withSystem('metrics: open alerts', (trx) =>
      trx.selectFrom('alerts').select(['rule', 'severity', sql<number>`count(*)::int`.as('n')]).where('state', '<>', 'resolved').groupBy(['rule', 'severity']).execute(),
    );
    return rows.map((r) => ({ labels: { rule: r.rule, severity: r.severity }, value: r.n }));
  });
  scrapedGauge(platform.metrics, { name: 'brigade_tenants', help: 'Businesses by plan and subscription status', labelNames: ['plan', 'status'] as const }, async () => {
    const rows = await tenancy.withSystem('metrics: tenants by plan', (trx) =>
      trx.selectFrom('subscriptions').select(['plan', 'status', sql<number>`count(*)::int`.as('n')]).groupBy(['plan', 'status']).execute(),
    );
    return rows.map((r) => ({ labels: { plan: r.plan, status: r.status }, value: r.n }));
  });
}
