import { api, ok } from '../api/client';
import { useLive } from '../lib/live';
import { Link, setQuery, useLocation } from '../router';
import { Badge, Empty, LiveView, PageHeader, Pager, TenantRef, Time, Updated } from '../components/ui';

function targetLink(route: string, target: Record<string, string>) {
  if (target.queue && target.id) return <Link href={`/jobs/${target.queue}/${target.id}`}>job {target.id.slice(0, 8)}…</Link>;
  if (route.startsWith('/ops/api/billing')) return <Link href="/billing">billing</Link>;
  return null;
}

/** What operators did, newest first: from the activity log every operator action writes. */
export function Activity() {
  const { query } = useLocation();
  const cursor = query.get('cursor');
  const action = query.get('action');
  const live = useLive(() => ok(api.GET('/ops/api/activity', { params: { query: { limit: 50, ...(action ? { action } : {}), ...(cursor ? { cursor } : {}) } } })), `activity:${action}:${cursor}`);
  return (
    <>
      <PageHeader title="Activity">
        <Updated live={live} />
      </PageHeader>
      <label for="act-action">Action</label>
      <select id="act-action" value={action ?? ''} onChange={(e) => setQuery({ action: e.currentTarget.value || null, cursor: null })}>
        <option value="">Any</option>
        {['jobs.replay', 'jobs.bulk_replay', 'jobs.discard', 'jobs.bulk_discard', 'billing.reconcile', 'billing.alerts.resolve', 'support.read_members', 'support.read_audit_events', 'logout'].map((a) => (
          <option key={a} value={a}>
            {a}
          </option>
        ))}
      </select>
      <LiveView live={live} what="activity">
        {(page) =>
          page.data.length === 0 ? (
            <Empty>No operator has done anything yet.</Empty>
          ) : (
            <>
              <div class="table-wrap">
                <table>
                  <thead>
                    <tr>
                      <th scope="col">When</th>
                      <th scope="col">Operator</th>
                      <th scope="col">Action</th>
                      <th scope="col">On</th>
                      <th scope="col">Business</th>
                      <th scope="col">Reason</th>
                      <th scope="col">Outcome</th>
                    </tr>
                  </thead>
                  <tbody>
                    {page.data.map((a) => (
                      <tr key={a.id}>
                        <td>
                          <Time at={a.at} />
                        </td>
                        <td>{a.operator.email}</td>
                        <td>
                          <code>{a.action}</code>
                        </td>
                        <td>{targetLink(a.route, a.target)}</td>
                        <td>{a.tenantId ? <TenantRef id={a.tenantId} name={a.tenantName} /> : ''}</td>
                        <td>{a.reason ?? ''}</td>
                        <td>
                          <Badge value={a.outcome} label={`${a.outcome} (${a.status})`} />
                          {a.outcome !== 'done' && a.result?.detail ? <span class="reason"> {String(a.result.detail)}</span> : null}
                        </td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
              <Pager cursor={cursor} nextCursor={page.nextCursor} onPage={(c) => setQuery({ cursor: c }, { push: true })} />
            </>
          )
        }
      </LiveView>
    </>
  );
}
