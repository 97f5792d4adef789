import { api, ok } from '../api/client';
import { useLive } from '../lib/live';
import { Empty, LiveView, PageHeader, TenantRef, Time, Updated } from '../components/ui';

/** Businesses whose owner has granted support access now: where an operator may read their data. */
export function Support() {
  const live = useLive(() => ok(api.GET('/ops/api/support-grants')), 'grants', 15000);
  return (
    <>
      <PageHeader title="Support access">
        <Updated live={live} />
      </PageHeader>
      <p class="muted">Operators see a business's members and audit log only while its owner grants support access. Every read is written into that business's audit log.</p>
      <LiveView live={live} what="support grants">
        {(page) =>
          page.data.length === 0 ? (
            <Empty>No business has granted support access at the moment.</Empty>
          ) : (
            <div class="table-wrap">
              <table>
                <thead>
                  <tr>
                    <th scope="col">Business</th>
                    <th scope="col">Reason given</th>
                    <th scope="col">Granted</th>
                    <th scope="col">Ends</th>
                  </tr>
                </thead>
                <tbody>
                  {page.data.map((g) => (
                    <tr key={g.id}>
                      <td>
                        <TenantRef id={g.tenant.id} name={g.tenant.name} />
                      </td>
                      <td>{g.reason}</td>
                      <td>
                        <Time at={g.createdAt} />
                      </td>
                      <td>
                        <Time at={g.expiresAt} />
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )
        }
      </LiveView>
    </>
  );
}
