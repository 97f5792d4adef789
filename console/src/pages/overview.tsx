import { useMemo } from 'preact/hooks';
import { api, ok } from '../api/client';
import { useLive } from '../lib/live';
import { Link } from '../router';
import { count, duration } from '../lib/format';
import { Badge, Empty, LiveView, PageHeader, TenantRef, Time, Updated } from '../components/ui';
import { TimeChart } from '../components/chart';

/**
 * "What is wrong now": queues with their backlog and dead jobs, the outbox's lag, and the last
 * hour of job attempts. Open alerts and platform health against its baseline join here in the
 * next wave (tenant-aware signals), above the queues.
 */
export function Overview() {
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
