import { api, ok } from '../api/client';
import { useLive } from '../lib/live';
import { Link, navigate, setQuery, useLocation } from '../router';
import { count, ms, percent, words } from '../lib/format';
import { limitsOf, planName, usePlans } from '../lib/plans';
import { Badge, PageHeader, Pager, Time, Updated, UsageAgainstPlan } from '../components/ui';
import { DataTable, type Column } from '../components/table';

type TenantRow = NonNullable<Awaited<ReturnType<typeof listTenants>>>['data'][number];
type Sort = 'name' | 'created' | 'requests' | 'errors' | 'errorRate' | 'p95' | 'jobFailures' | 'apiTime';
type Status = 'trialing' | 'active' | 'past_due' | 'grace' | 'suspended' | 'canceled' | 'expired';
const statuses: Status[] = ['trialing', 'active', 'past_due', 'grace', 'suspended', 'canceled', 'expired'];
const sorts: Sort[] = ['name', 'created', 'requests', 'errors', 'errorRate', 'p95', 'jobFailures', 'apiTime'];

function listTenants(query: { q?: string; plan?: string; status?: Status; hasOpenAlert?: boolean; sort: Sort; cursor?: string }) {
  return ok(api.GET('/ops/api/tenants', { params: { query: { ...query, limit: 50 } } }));
}

/**
 * Every business, its plan and subscription, its usage against the plan's limits and its last
 * hour of health; searched, filtered and sorted by the server and paged by cursor (100,000
 * businesses are as quick as 10). Filters, sort and page live in the URL.
 */
export function Tenants() {
  const { query } = useLocation();
  const sort = (sorts.find((s) => s === query.get('sort')) ?? 'name') as Sort;
  const status = statuses.find((s) => s === query.get('status'));
  const alert = query.get('alert');
  const filter = {
    ...(query.get('q') ? { q: query.get('q')! } : {}),
    ...(query.get('plan') ? { plan: query.get('plan')! } : {}),
    ...(status ? { status } : {}),
    ...(alert === 'open' ? { hasOpenAlert: true } : alert === 'none' ? { hasOpenAlert: false } : {}),
  };
  const cursor = query.get('cursor');
  const live = useLive(() => listTenants({ ...filter, sort, ...(cursor ? { cursor } : {}) }), JSON.stringify({ filter, sort, cursor }), 15000, { keep: true });
  const plans = usePlans();

  const columns: Column<TenantRow>[] = [
    {
      label: 'Business',
      sort: 'name',
      direction: 'ascending',
      rowHeader: true,
      cell: (t) => (
        <>
          <Link href={`/tenants/${t.id}`}>{t.name}</Link> <code class="id">{t.slug}</code>
        </>
      ),
    },
    { label: 'Plan', cell: (t) => planName(plans.data, t.plan) },
    { label: 'Status', cell: (t) => (t.status ? <Badge value={t.status} label={words(t.status)} /> : <span class="muted">none</span>) },
    {
      label: 'Trial or period end',
      cell: (t) => (t.status === 'trialing' ? <Time at={t.trialEndsAt} /> : <Time at={t.currentPeriodEnd} />),
    },
    {
      label: 'Usage',
      title: 'Branches, members and orders this period, against the plan\'s limits',
      cell: (t) => <UsageAgainstPlan usage={t.usage} limits={limitsOf(plans.data, t.plan)} />,
    },
    { label: 'Requests', num: true, sort: 'requests', title: 'Requests in the last hour', cell: (t) => count(t.health.requests) },
    {
      label: 'Error rate',
      num: true,
      sort: 'errorRate',
      title: 'Share of the last hour\'s requests answered with a 5xx',
      cell: (t) => <span class={t.health.errorRate >= 0.05 ? 'bad-text' : undefined}>{percent(t.health.errorRate)}</span>,
    },
    { label: 'p95', num: true, sort: 'p95', title: '95th percentile response time, last hour', cell: (t) => ms(t.health.p95Ms) },
    {
      label: 'Open alerts',
      num: true,
      cell: (t) =>
        t.openAlerts > 0 ? (
          <Link href={`/alerts?tenantId=${t.id}`} class="bad-text">
            {count(t.openAlerts)}
          </Link>
        ) : (
          '0'
        ),
    },
  ];

  return (
    <>
      <PageHeader title="Tenants">
        <Updated live={live} />
      </PageHeader>
      <form
        class="filters"
        aria-label="Find businesses"
        onSubmit={(e) => {
          e.preventDefault();
          const f = new FormData(e.currentTarget);
          const get = (k: string) => String(f.get(k) ?? '').trim() || null;
          setQuery({ q: get('q'), plan: get('plan'), status: get('status'), alert: get('alert'), cursor: null }, { push: true });
        }}
      >
        <div>
          <label for="t-q">Name, slug or id</label>
          <input id="t-q" name="q" type="search" maxLength={100} value={query.get('q') ?? ''} />
        </div>
        <div>
          <label for="t-plan">Plan</label>
          <select id="t-plan" name="plan" value={query.get('plan') ?? ''}>
            <option value="">Every plan</option>
            {(plans.data?.data ?? []).map((p) => (
              <option key={p.key} value={p.key}>
                {p.name}
              </option>
            ))}
          </select>
        </div>
        <div>
          <label for="t-status">Status</label>
          <select id="t-status" name="status" value={status ?? ''}>
            <option value="">Every status</option>
            {statuses.map((s) => (
              <option key={s} value={s}>
                {words(s)}
              </option>
            ))}
          </select>
        </div>
        <div>
          <label for="t-alert">Open alerts</label>
          <select id="t-alert" name="alert" value={alert ?? ''}>
            <option value="">With or without</option>
            <option value="open">With an open alert</option>
            <option value="none">Without open alerts</option>
          </select>
        </div>
        <div class="filter-actions">
          <button type="submit" class="primary">
            Show
          </button>
          <button type="button" class="secondary" onClick={() => navigate(sort === 'name' ? '/tenants' : `/tenants?sort=${sort}`)}>
            Clear
          </button>
        </div>
      </form>
      <div class="inline sort-by">
        <label for="t-sort">Sort by</label>
        <select id="t-sort" value={sort} onChange={(e) => setQuery({ sort: e.currentTarget.value === 'name' ? null : e.currentTarget.value, cursor: null }, { push: true })}>
          <option value="name">Name</option>
          <option value="created">Newest first</option>
          <option value="requests">Most requests</option>
          <option value="errors">Most 5xx errors</option>
          <option value="errorRate">Highest error rate</option>
          <option value="p95">Slowest (p95)</option>
          <option value="jobFailures">Most job failures</option>
          <option value="apiTime">Share of API time</option>
        </select>
      </div>
      <DataTable
        live={live}
        what="businesses"
        caption={`Businesses, sorted by ${sort}`}
        columns={columns}
        rowKey={(t) => t.id}
        rowClass={(t) => (t.openAlerts > 0 ? 'row-alert' : undefined)}
        sort={sort}
        onSort={(s) => setQuery({ sort: s === 'name' ? null : s, cursor: null }, { push: true })}
        empty={Object.keys(filter).length ? 'No business matches these filters.' : 'No business has signed up yet.'}
      />
      <Pager cursor={cursor} nextCursor={live.data?.nextCursor ?? null} onPage={(c) => setQuery({ cursor: c }, { push: true })} first="← First page" next="Next page →" />
    </>
  );
}
