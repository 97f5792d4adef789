import { api, ok } from '../api/client';
import { useLive } from '../lib/live';
import { Link } from '../router';
import { Empty, ErrorBox, LiveView, PageHeader, Time } from '../components/ui';

/**
 * One business. This wave shows what operators may see under its owner's support grant (members
 * and audit events, each read recorded in its audit log) and links to its jobs and billing; its
 * subscription, usage, health charts and alerts join on the tenant-aware ops API.
 */
export function Tenant({ params }: { params: Record<string, string> }) {
  const id = params.id!;
  const grants = useLive(() => ok(api.GET('/ops/api/support-grants')), 'grants', 0);
  const members = useLive(() => ok(api.GET('/ops/api/tenants/{tenantId}/members', { params: { path: { tenantId: id }, query: { limit: 50 } } })), `members:${id}`, 0);
  const audit = useLive(() => ok(api.GET('/ops/api/tenants/{tenantId}/audit-events', { params: { path: { tenantId: id }, query: { limit: 20 } } })), `audit:${id}`, 0);
  const grant = grants.data?.data.find((g) => g.tenant.id === id);
  return (
    <>
      <PageHeader title={grant ? grant.tenant.name : 'Business'}>
        <code>{id}</code>
      </PageHeader>
      <p>
        <Link href={`/jobs?tenantId=${id}&state=dead`}>Dead jobs</Link> · <Link href={`/jobs?tenantId=${id}&state=completed`}>Completed jobs</Link> ·{' '}
        <Link href={`/billing`}>Billing</Link>
      </p>
      <section aria-labelledby="grant-title">
        <h2 id="grant-title">Support access</h2>
        {grant ? (
          <p class="notice" role="note">
            Granted <Time at={grant.createdAt} /> until <Time at={grant.expiresAt} />: <q>{grant.reason}</q>. Each read below is recorded in this business's audit log.
          </p>
        ) : grants.data ? (
          <p class="notice" role="note">
            This business has not granted support access. Its members and audit log stay hidden; its owner can grant access from their account.
          </p>
        ) : null}
      </section>
      <section aria-labelledby="members-title">
        <h2 id="members-title">Members</h2>
        {members.error?.problem.code === 'support_grant_required' ? (
          <ErrorBox error={members.error} />
        ) : (
          <LiveView live={members} what="members">
            {(page) =>
              page.data.length === 0 ? (
                <Empty>No members.</Empty>
              ) : (
                <div class="table-wrap">
                  <table>
                    <thead>
                      <tr>
                        <th scope="col">Name</th>
                        <th scope="col">E-mail</th>
                        <th scope="col">Roles</th>
                        <th scope="col">Status</th>
                      </tr>
                    </thead>
                    <tbody>
                      {page.data.map((m) => (
                        <tr key={m.id}>
                          <td>{m.name}</td>
                          <td>{m.email}</td>
                          <td>{m.roles.map((r) => r.role + (r.branchId ? ' (branch)' : '')).join(', ')}</td>
                          <td>{m.status}</td>
                        </tr>
                      ))}
                    </tbody>
                  </table>
                </div>
              )
            }
          </LiveView>
        )}
      </section>
      <section aria-labelledby="audit-title">
        <h2 id="audit-title">Audit log</h2>
        {audit.error?.problem.code === 'support_grant_required' ? (
          <ErrorBox error={audit.error} />
        ) : (
          <LiveView live={audit} what="audit events">
            {(page) =>
              page.data.length === 0 ? (
                <Empty>No audit events.</Empty>
              ) : (
                <ul class="plain-list">
                  {page.data.map((e) => (
                    <li key={e.id}>
                      <Time at={e.at} /> <code>{e.action}</code> by {e.actor.name ?? e.actor.userId ?? 'system'}
                    </li>
                  ))}
                </ul>
              )
            }
          </LiveView>
        )}
      </section>
    </>
  );
}
