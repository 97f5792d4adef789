import { useMemo } from 'preact/hooks';
import { api, ok } from '../api/client';
import { useLive } from '../lib/live';
import { Link } from '../router';
import { count, duration, ms, percent } from '../lib/format';
import { Badge, Empty, LiveView, PageHeader, TenantRef, Time, Updated } from '../components/ui';
import { TimeChart } from '../components/chart';
import { activeAlerts } from './alerts';

const HOUR = 3_600_000;
type Severity = 'critical' | 'warning' | 'info';

/** Open and acknowledged alerts by severity, and the newest open ones. */
async function openAlerts() {
  const { data, more } = await activeAlerts();
  const bySeverity: Record<Severity, { open: number; acknowledged: number }> = { critical: { open: 0, acknowledged: 0 }, warning: { open: 0, acknowledged: 0 }, info: { open: 0, acknowledged: 0 } };
  for (const a of data) bySeverity[a.severity][a.state === 'open' ? 'open' : 'acknowledged']++;
  return { bySeverity, more, newest: data.filter((a) => a.state === 'open').slice(0, 5) };
}

/** The platform over the last hour against its baseline: requests per minute, 5xx rate, p95. */
function lastHour(h: { series: { requests: number; errors5xx: number; p95Ms: number | null }[]; baseline: { requests: number | null; errorRate: number; p95Ms: number | null }[] }) {
  const requests = h.series.reduce((n, p) => n + p.requests, 0);
  const errors = h.series.reduce((n, p) => n + p.errors5xx, 0);
  const p95s = h.series.map((p) => p.p95Ms).filter((v): v is number => v !== null);
  const expected = h.baseline.map((b) => b.requests).filter((v): v is number => v !== null);
  const expectedP95 = h.baseline.map((b) => b.p95Ms).filter((v): v is number => v !== null);
  const minutes = Math.max(1, h.series.length);
  const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : null);
  return {
    rate: requests / minutes,
    usualRate: mean(expected),
    errorRate: requests ? errors / requests : 0,
    usualErrorRate: mean(h.baseline.map((b) => b.errorRate)),
    // The worst minute's p95 of the hour: a slow spell shows.
    p95: p95s.length ? Math.max(...p95s) : null,
    usualP95: mean(expectedP95),
  };
}

/**
 * "What is wrong now": open alerts by severity, the platform's request rate, error rate and p95
 * against its baseline, queues with their backlog and dead jobs, the outbox's lag, and the last
 * hour of job attempts.
 */
export function Overview() {
  const alerts = useLive(openAlerts, 'open-alerts', 10000);
  const platform = useLive(() => ok(api.GET('/ops/api/health', { params: { query: { from: new Date(Date.now() - HOUR).toISOString(), step: 'minute' } } })), 'platform-health', 30000);
  const queues = useLive(() => ok(api.GET('/ops/api/queues')), 'queues');
  const throughput = useLive(() => ok(api.GET('/ops/api/jobs/throughput', { params: { query: { minutes: 60 } } })), 'throughput', 15000);
  const dead = useLive(() => ok(api.GET('/ops/api/jobs', { params: { query: { state: 'dead', limit: 5 } } })), 'recent-dead');

  const chart = useMemo(() => {
    const rows = throughput.data?.data ?? [];
    return {
      times: rows.map((r) => new Date(r.at).getTime()),
      series: [
        { label: 'completed', values: rows.map((r) => r.completed), color: '#047857' },
        { label: 'failed', values: rows.map((r) => r.failed), color: '#b91c1c' },
      ],
    };
  }, [throughput.data]);

  return (
    <>
      <PageHeader title="Overview">
        <Updated live={queues} />
      </PageHeader>
      <section aria-labelledby="alerts-title">
        <h2 id="alerts-title">
          <Link href="/alerts">Open alerts</Link>
        </h2>
        <LiveView live={alerts} what="alerts">
          {(a) => (
            <>
              <div class="cards">
                {(['critical', 'warning', 'info'] as const).map((sev) => {
                  const n = a.bySeverity[sev];
                  const total = n.open + n.acknowledged;
                  return (
                    <div key={sev} class={`card ${total > 0 && sev === 'critical' ? 'card-bad' : total > 0 && sev === 'warning' ? 'card-warn' : ''}`}>
                      <span class="card-label">{sev[0]!.toUpperCase() + sev.slice(1)}</span>
                      <span class="card-value">{count(total)}{a.more ? '+' : ''}</span>
                      <span class="muted">
                        {count(n.open)} open, {count(n.acknowledged)} acknowledged
                      </span>
                      {total > 0 ? <Link href={`/alerts?severity=${sev}`}>See {sev} alerts</Link> : null}
                    </div>
                  );
                })}
              </div>
              {a.newest.length ? (
                <ul class="plain-list">
                  {a.newest.map((x) => (
                    <li key={x.id}>
                      <Badge value={x.severity} /> <Link href={`/alerts/${x.id}`}>{x.title}</Link> {x.tenantId ? <TenantRef id={x.tenantId} name={x.tenantName} /> : null} <Time at={x.startedAt} />
                    </li>
                  ))}
                </ul>
              ) : null}
            </>
          )}
        </LiveView>
      </section>
      <section aria-labelledby="platform-title">
        <h2 id="platform-title">Platform, last hour</h2>
        <LiveView live={platform} what="platform health">
          {(h) => {
            const f = lastHour(h);
            const worse = (v: number | null, usual: number | null, factor: number) => v !== null && usual !== null && usual > 0 && v > usual * factor;
            return (
              <div class="cards">
                <div class="card">
                  <span class="card-label">Requests per minute</span>
                  <span class="card-value">{count(Math.round(f.rate))}</span>
                  <span class="muted">usually {f.usualRate === null ? '—' : count(Math.round(f.usualRate))}</span>
                </div>
                <div class={`card ${worse(f.errorRate, f.usualErrorRate, 3) && f.errorRate > 0.01 ? 'card-bad' : ''}`}>
                  <span class="card-label">Error rate (5xx)</span>
                  <span class="card-value">{percent(f.errorRate)}</span>
                  <span class="muted">usually {percent(f.usualErrorRate)}</span>
                </div>
                <div class={`card ${worse(f.p95, f.usualP95, 2) ? 'card-warn' : ''}`}>
                  <span class="card-label">p95 latency (worst minute)</span>
                  <span class="card-value">{ms(f.p95)}</span>
                  <span class="muted">usually {ms(f.usualP95)}</span>
                </div>
              </div>
            );
          }}
        </LiveView>
      </section>
      <LiveView live={queues} what="queues">
        {(q) => {
          const deadTotal = q.data.reduce((n, x) => n + x.counts.dead, 0);
          return (
            <>
              <section class="cards" aria-label="Summary">
                <div class={`card ${deadTotal > 0 ? 'card-bad' : ''}`}>
                  <span class="card-label">Dead jobs</span>
                  <span class="card-value">{count(deadTotal)}</span>
                  <Link href="/jobs?state=dead">See dead jobs</Link>
                </div>
                <div class={`card ${q.outbox.lagSeconds > 60 ? 'card-warn' : ''}`}>
                  <span class="card-label">Outbox lag</span>
                  <span class="card-value">{duration(q.outbox.lagSeconds * 1000)}</span>
                  <span class="muted">
                    {count(q.outbox.due)} due of {count(q.outbox.pending)} pending{q.outbox.oldestDueAt ? ', oldest ' : ''}
                    {q.outbox.oldestDueAt ? <Time at={q.outbox.oldestDueAt} /> : null}
                  </span>
                </div>
              </section>
              <section aria-labelledby="queues-title">
                <h2 id="queues-title">Queues</h2>
                <div class="table-wrap">
                  <table>
                    <thead>
                      <tr>
                        <th scope="col">Queue</th>
                        <th scope="col" class="num" title="In the outbox, waiting for its business's turn">Backlog</th>
                        <th scope="col" class="num">Waiting</th>
                        <th scope="col" class="num">Active</th>
                        <th scope="col" class="num">Delayed</th>
                        <th scope="col" class="num" title="Failed, waiting for a retry">Retrying</th>
                        <th scope="col" class="num">Dead</th>
                        <th scope="col" class="num">Completed</th>
                      </tr>
                    </thead>
                    <tbody>
                      {q.data.map((row) => (
                        <tr key={row.name}>
                          <th scope="row">
                            <Link href={`/jobs?queue=${encodeURIComponent(row.name)}&state=waiting`}>{row.name}</Link>
                          </th>
                          <td class="num">{count(row.counts.backlog)}</td>
                          <td class="num">{count(row.counts.waiting)}</td>
                          <td class="num">{count(row.counts.active)}</td>
                          <td class="num">{count(row.counts.delayed)}</td>
                          <td class="num">{count(row.counts.failed)}</td>
                          <td class="num">
                            {row.counts.dead > 0 ? (
                              <Link href={`/jobs?queue=${encodeURIComponent(row.name)}&state=dead`} class="bad-text">
                                {count(row.counts.dead)}
                              </Link>
                            ) : (
                              '0'
                            )}
                          </td>
                          <td class="num">{count(row.counts.completed)}</td>
                        </tr>
                      ))}
                    </tbody>
                  </table>
                </div>
              </section>
            </>
          );
        }}
      </LiveView>
      <section aria-labelledby="throughput-title">
        <h2 id="throughput-title">Job attempts, last hour</h2>
        <LiveView live={throughput} what="job attempts">
          {() => <TimeChart times={chart.times} series={chart.series} label="Job attempts per minute over the last hour, completed and failed" />}
        </LiveView>
      </section>
      <section aria-labelledby="dead-title">
        <h2 id="dead-title">Latest dead jobs</h2>
        <LiveView live={dead} what="dead jobs">
          {(page) =>
            page.data.length === 0 ? (
              <Empty>No dead jobs. Every job that ran out of attempts has been replayed or discarded.</Empty>
            ) : (
              <ul class="plain-list">
                {page.data.map((j) => (
                  <li key={`${j.queue}/${j.id}`}>
                    <Link href={`/jobs/${j.queue}/${j.id}`}>{j.type}</Link> <Badge value={j.state} /> <TenantRef id={j.tenantId} name={j.tenantName} /> <span class="reason">{j.failedReason}</span>{' '}
                    <Time at={j.finishedAt} />
                  </li>
                ))}
              </ul>
            )
          }
        </LiveView>
      </section>
    </>
  );
}
