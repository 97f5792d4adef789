import { useEffect, useState } from 'preact/hooks';
import { api, ok } from '../api/client';
import { useLive, type Live } from '../lib/live';
import { Link, setQuery, useLocation } from '../router';
import { actor, count, duration, ms, percent, words } from '../lib/format';
import { Badge, Empty, LiveView, PageHeader, Pager, ReasonForm, TenantRef, Time, Updated } from '../components/ui';
import { HealthCharts, measureOfRule } from '../components/health';

type Alert = Awaited<ReturnType<typeof listAlerts>>['data'][number];
type Severity = 'critical' | 'warning' | 'info';
type View = 'active' | 'resolved' | 'all';
const severities: Severity[] = ['critical', 'warning', 'info'];

function listAlerts(query: { state?: 'open' | 'acknowledged' | 'resolved'; tenantId?: string; severity?: Severity; cursor?: string; limit?: number }) {
  return ok(api.GET('/ops/api/alerts', { params: { query: { limit: 50, ...query } } }));
}

/**
 * Open and acknowledged alerts (both not resolved), newest first, in one list: up to 200 of each
 * (`more` says there were more).
 */
export async function activeAlerts(filter: { tenantId?: string; severity?: Severity } = {}) {
  const [open, acked] = await Promise.all([listAlerts({ ...filter, state: 'open', limit: 200 }), listAlerts({ ...filter, state: 'acknowledged', limit: 200 })]);
  const data = [...open.data, ...acked.data].sort((a, b) => b.startedAt.localeCompare(a.startedAt));
  return { data, nextCursor: null as string | null, more: Boolean(open.nextCursor || acked.nextCursor) };
}

/** An alert's measure in its unit: a ratio as a percentage, milliseconds, seconds or a count. */
function measured(value: number | null, unit: string | null): string {
  if (value === null) return '—';
  if (unit === 'ratio' || unit === 'share') return percent(value);
  if (unit === 'ms') return ms(value);
  if (unit === 'seconds') return duration(value * 1000);
  return count(Math.round(value * 100) / 100);
}

/** Alerts, open and past: acknowledge and resolve with a note in the page. */
export function Alerts() {
  const { query } = useLocation();
  const view = (['active', 'resolved', 'all'] as View[]).find((v) => v === query.get('view')) ?? 'active';
  const severity = severities.find((s) => s === query.get('severity'));
  const tenantId = query.get('tenantId') ?? undefined;
  return (
    <>
      <PageHeader title="Alerts" />
      <div class="filters" role="group" aria-label="Filter alerts">
        <div>
          <label for="a-view">Which alerts</label>
          <select id="a-view" value={view} onChange={(e) => setQuery({ view: e.currentTarget.value === 'active' ? null : e.currentTarget.value, cursor: null }, { push: true })}>
            <option value="active">Open and acknowledged</option>
            <option value="resolved">Resolved (past)</option>
            <option value="all">All</option>
          </select>
        </div>
        <div>
          <label for="a-severity">Severity</label>
          <select id="a-severity" value={severity ?? ''} onChange={(e) => setQuery({ severity: e.currentTarget.value || null, cursor: null }, { push: true })}>
            <option value="">Every severity</option>
            {severities.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </div>
        {tenantId ? <OneBusiness tenantId={tenantId} all={`/alerts${view === 'active' ? '' : `?view=${view}`}`} /> : null}
      </div>
      <AlertList view={view} severity={severity} tenantId={tenantId} />
    </>
  );
}

/** The business the list is narrowed to, by name, with the way back to every business. */
function OneBusiness({ tenantId, all }: { tenantId: string; all: string }) {
  const tenant = useLive(() => ok(api.GET('/ops/api/tenants/{tenantId}', { params: { path: { tenantId } } })), `name:${tenantId}`, 0);
  return (
    <p>
      Only <TenantRef id={tenantId} name={tenant.data?.name ?? (tenant.error ? 'an unknown business' : '…')} /> · <Link href={all}>every business</Link>
    </p>
  );
}

/** A list of alerts with their actions; on the tenant page too (every state, that business only). */
export function AlertList({ view = 'active', severity, tenantId, compact }: { view?: View; severity?: Severity; tenantId?: string; compact?: boolean }) {
  const { query } = useLocation();
  const cursor = compact ? null : query.get('cursor');
  const filter = { ...(tenantId ? { tenantId } : {}), ...(severity ? { severity } : {}) };
  const live = useLive(
    () =>
      compact
        ? listAlerts({ ...filter, limit: 20 })
        : view === 'active'
          ? activeAlerts(filter)
          : listAlerts({ ...filter, ...(view === 'resolved' ? { state: 'resolved' as const } : {}), ...(cursor ? { cursor } : {}) }),
    JSON.stringify({ view, filter, cursor, compact }),
    10000,
    { keep: true },
  );
  return (
    <>
      {compact ? null : (
        <p class="list-head">
          <Updated live={live} />
        </p>
      )}
      <LiveView live={live} what="alerts">
        {(page) =>
          page.data.length === 0 ? (
            <Empty>{view === 'active' ? 'No open alert. Nothing needs attention.' : 'No alert.'}</Empty>
          ) : (
            <>
              <ul class="alerts" aria-label="Alerts">
                {page.data.map((a) => (
                  <AlertItem key={a.id} alert={a} onChange={live.refresh} showTenant={!tenantId} />
                ))}
              </ul>
              {compact ? null : <Pager cursor={cursor} nextCursor={page.nextCursor} onPage={(c) => setQuery({ cursor: c }, { push: true })} />}
            </>
          )
        }
      </LiveView>
    </>
  );
}

function AlertItem({ alert: a, onChange, showTenant }: { alert: Alert; onChange(): void; showTenant: boolean }) {
  return (
    <li class={`alert alert-${a.state} alert-${a.severity}`} aria-labelledby={`alert-${a.id}`}>
      <div class="alert-head">
        <Badge value={a.severity} /> <Badge value={a.state} />{' '}
        <Link href={`/alerts/${a.id}`}>
          <strong id={`alert-${a.id}`}>{a.title}</strong>
        </Link>
        {showTenant && a.tenantId ? (
          <>
            {' '}
            · <TenantRef id={a.tenantId} name={a.tenantName} />
          </>
        ) : null}
      </div>
      <p class="alert-summary">{a.summary}</p>
      <p class="muted alert-meta">
        Since <Time at={a.startedAt} />, last seen <Time at={a.lastSeenAt} />, {count(a.occurrences)} times
        {a.peak !== null ? <>, worst {measured(a.peak, a.unit)}</> : null}
        {a.acknowledgedAt ? (
          <>
            {' '}
            · acknowledged by {actor(a.acknowledgedBy)} <Time at={a.acknowledgedAt} />
          </>
        ) : null}
        {a.resolvedAt ? (
          <>
            {' '}
            · resolved {a.resolution === 'auto' ? 'by itself' : `by ${actor(a.resolvedBy)}`} <Time at={a.resolvedAt} />
          </>
        ) : null}
      </p>
      <p class="alert-links">
        <Link href={`/alerts/${a.id}#evidence`}>Evidence chart</Link> · <a href={a.runbookUrl}>Runbook</a>
        {a.tenantId ? (
          <>
            {' '}
            · <Link href={`/tenants/${a.tenantId}`}>Business</Link>
          </>
        ) : null}
      </p>
      <AlertActions alert={a} onDone={onChange} />
    </li>
  );
}

/** Acknowledge (someone is on it) or resolve, each with a note kept in the alert's history. */
export function AlertActions({ alert: a, onDone }: { alert: { id: string; state: string; title: string }; onDone(): void }) {
  const [acting, setActing] = useState<'acknowledge' | 'resolve' | null>(null);
  if (a.state === 'resolved') return null;
  if (acting) {
    return (
      <ReasonForm
        label={acting === 'acknowledge' ? `Acknowledge: ${a.title}` : `Resolve: ${a.title}`}
        action={acting === 'acknowledge' ? 'Acknowledge' : 'Resolve'}
        field="Note"
        onCancel={() => setActing(null)}
        onSubmit={async (note) => {
          const path = acting === 'acknowledge' ? '/ops/api/alerts/{id}/acknowledge' : '/ops/api/alerts/{id}/resolve';
          await ok(api.POST(path, { params: { path: { id: a.id } }, body: { note } }));
          setActing(null);
          onDone();
        }}
      />
    );
  }
  return (
    <div class="form-actions">
      {a.state === 'open' ? (
        <button type="button" class="secondary" onClick={() => setActing('acknowledge')}>
          Acknowledge…
        </button>
      ) : null}
      <button type="button" class="secondary" onClick={() => setActing('resolve')}>
        Resolve…
      </button>
    </div>
  );
}

/** One alert: what was seen against what was expected, its evidence chart, history and notifications. */
export function AlertPage({ params }: { params: Record<string, string> }) {
  const id = params.id!;
  const live = useLive(() => ok(api.GET('/ops/api/alerts/{id}', { params: { path: { id } } })), `alert:${id}`, 10000);
  const loaded = live.data !== undefined;
  // A link to the evidence (#evidence) lands on the chart once the alert is drawn.
  useEffect(() => {
    if (loaded && location.hash === '#evidence') document.getElementById('evidence')?.focus();
  }, [loaded]);
  return (
    <LiveView live={live} what="the alert">
      {(a) => (
        <>
          <PageHeader title={a.title}>
            <Updated live={live} />
          </PageHeader>
          <p>
            <Badge value={a.severity} /> <Badge value={a.state} /> {a.tenantId ? <TenantRef id={a.tenantId} name={a.tenantName} /> : <span class="muted">{a.subject}</span>} ·{' '}
            <a href={a.runbookUrl}>Runbook: what to do</a>
          </p>
          <p class="alert-summary">{a.summary}</p>
          <dl class="facts">
            <dt>Observed</dt>
            <dd>{measured(a.observed, a.unit)}</dd>
            <dt>Expected</dt>
            <dd>{measured(a.expected, a.unit)}</dd>
            <dt>Worst</dt>
            <dd>{measured(a.peak, a.unit)}</dd>
            <dt>Started</dt>
            <dd>
              <Time at={a.startedAt} />
            </dd>
            <dt>Last seen</dt>
            <dd>
              <Time at={a.lastSeenAt} /> ({count(a.occurrences)} times)
            </dd>
            <dt>Rule</dt>
            <dd>
              <code>{a.rule}</code>
            </dd>
          </dl>
          <AlertActions alert={a} onDone={live.refresh} />
          <section aria-labelledby="evidence">
            <h2 id="evidence" tabIndex={-1}>
              Evidence
            </h2>
            <Evidence alert={a} />
          </section>
          <section aria-labelledby="history-title">
            <h2 id="history-title">History</h2>
            <ol class="chain">
              {a.history.map((h) => (
                <li key={h.at + h.action}>
                  <Time at={h.at} /> <strong>{words(h.action)}</strong> by {actor(h.actor)}
                  {h.note ? <q>{h.note}</q> : null}
                </li>
              ))}
            </ol>
          </section>
          <section aria-labelledby="notifications-title">
            <h2 id="notifications-title">Notifications</h2>
            {a.notifications.length === 0 ? (
              <Empty>No notification channel is configured for this alert.</Empty>
            ) : (
              <ul class="plain-list">
                {a.notifications.map((n) => (
                  <li key={n.id}>
                    {n.event} by {n.channel} to <code>{n.target}</code>: <Badge value={n.state === 'sent' ? 'done' : n.state === 'dead' ? 'dead' : 'pending'} label={n.state} /> after {n.attempts}{' '}
                    attempts {n.lastError ? <span class="reason">{n.lastError}</span> : null}
                  </li>
                ))}
              </ul>
            )}
          </section>
        </>
      )}
    </LiveView>
  );
}

const HOUR = 3_600_000;

/**
 * The signal the alert is about around its time: from two hours before it started until an hour
 * after it ended (or now), per minute for a short alert and per hour for a long one (the server
 * picks the step for the span; at most 31 days).
 */
function Evidence({ alert: a }: { alert: { id: string; rule: string; tenantId: string | null; tenantName: string | null; startedAt: string; resolvedAt: string | null } }) {
  const end = Math.min(a.resolvedAt ? new Date(a.resolvedAt).getTime() + HOUR : Date.now(), Date.now());
  const start = Math.max(new Date(a.startedAt).getTime() - 2 * HOUR, end - 31 * 24 * HOUR + HOUR);
  const from = new Date(start).toISOString();
  const to = new Date(end).toISOString();
  const signal = a.rule.startsWith('tenant.') && !a.rule.endsWith('_share') && a.rule !== 'tenant.dead_letters';
  const live: Live<{ step: string; series: { at: string; requests: number; errorRate: number; p95Ms: number | null }[]; baseline: { at: string; requests: number | null; errorRate: number; p95Ms: number | null }[] } | null> = useLive(
    () =>
      !signal
        ? Promise.resolve(null)
        : a.tenantId
          ? ok(api.GET('/ops/api/tenants/{tenantId}/health', { params: { path: { tenantId: a.tenantId }, query: { from, to } } }))
          : ok(api.GET('/ops/api/health', { params: { query: { from, to } } })),
    `evidence:${a.id}:${a.resolvedAt ?? ''}`,
    a.resolvedAt ? 0 : 60000,
  );
  if (!signal) {
    return (
      <p class="muted">
        This rule is not about a request signal: see its figures above
        {a.rule.includes('dead_letters') ? (
          <>
            {' '}
            and the <Link href={`/jobs?state=dead${a.tenantId ? `&tenantId=${a.tenantId}` : ''}`}>dead jobs</Link>
          </>
        ) : a.rule.startsWith('billing.') ? (
          <>
            {' '}
            and the <Link href="/billing">billing reconciliations</Link>
          </>
        ) : null}
        .
      </p>
    );
  }
  return (
    <LiveView live={live} what="the evidence">
      {(h) => (h && h.series.length ? <HealthCharts data={h} only={measureOfRule(a.rule)} who={a.tenantName ?? 'the platform'} /> : <Empty>No signals recorded around this alert.</Empty>)}
    </LiveView>
  );
}
