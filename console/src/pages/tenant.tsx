import { useState } from 'preact/hooks';
import { api, ok } from '../api/client';
import { fixed, useLive } from '../lib/live';
import { Link, setQuery, useLocation } from '../router';
import { count, ms, percent, shortId, words } from '../lib/format';
import { Badge, Empty, ErrorBox, LiveView, PageHeader, Time, Updated, UsageAgainstPlan } from '../components/ui';
import { DataTable } from '../components/table';
import { HealthCharts, rangeQuery, ranges, type RangeName } from '../components/health';
import { AlertList } from './alerts';
import { limitsOf, planName, usePlans } from '../lib/plans';

type JobState = 'dead' | 'failed' | 'completed' | 'waiting' | 'active' | 'delayed';
const jobStates: JobState[] = ['dead', 'failed', 'waiting', 'active', 'delayed', 'completed'];

/**
 * One business as an operator needs it on call: its subscription and how it got there, invoices,
 * usage against the plan, health beside its own baseline, its alerts, jobs, webhook events and
 * divergences. Members and the audit log only under a support grant from its owner; each such
 * read is written into the business's own audit log.
 */
export function Tenant({ params }: { params: Record<string, string> }) {
  const id = params.id!;
  const { query } = useLocation();
  const range = ((Object.keys(ranges) as RangeName[]).find((r) => r === query.get('range')) ?? '24h') as RangeName;
  const tenant = useLive(() => ok(api.GET('/ops/api/tenants/{tenantId}', { params: { path: { tenantId: id } } })), `tenant:${id}`, 15000);
  const health = useLive(
    () => ok(api.GET('/ops/api/tenants/{tenantId}/health', { params: { path: { tenantId: id }, query: rangeQuery(range) } })),
    `health:${id}:${range}`,
    60000,
  );
  const plans = usePlans();

  if (tenant.data === undefined) {
    return (
      <>
        <PageHeader title="Business">
          <code>{id}</code>
        </PageHeader>
        <LiveView live={tenant} what="the business">
          {() => null}
        </LiveView>
      </>
    );
  }
  const t = tenant.data;
  const sub = t.subscription;
  const limits = limitsOf(plans.data, t.plan);
  return (
    <>
      <PageHeader title={t.name}>
        <Updated live={tenant} />
      </PageHeader>
      {tenant.error ? <ErrorBox error={tenant.error} retry={tenant.refresh} /> : null}
      <dl class="facts">
        <dt>Slug and id</dt>
        <dd>
          <code>{t.slug}</code> · <code>{t.id}</code>
        </dd>
        <dt>Plan</dt>
        <dd>{planName(plans.data, t.plan)}</dd>
        <dt>Status</dt>
        <dd>
          {t.status ? <Badge value={t.status} label={words(t.status)} /> : '—'}
          {sub ? (
            <>
              {' '}
              since <Time at={sub.statusChangedAt} />
            </>
          ) : null}
        </dd>
        <TimeFact label="Trial ends" at={sub?.trialEndsAt} />
        {sub?.currentPeriodEnd ? (
          <>
            <dt>{t.status === 'trialing' ? 'Trial period' : 'Paid period'}</dt>
            <dd>
              <Time at={sub.currentPeriodStart} /> to <Time at={sub.currentPeriodEnd} />
              {sub.cancelAtPeriodEnd ? <strong> (cancels at its end)</strong> : null}
            </dd>
          </>
        ) : null}
        <TimeFact label="Grace ends" at={sub?.graceEndsAt} />
        <TimeFact label="Data kept until" at={sub?.retainUntil} />
        {sub ? (
          <>
            <dt>Payment provider</dt>
            <dd>
              {sub.provider ?? 'none'}
              {sub.providerSyncedAt ? (
                <>
                  , in step <Time at={sub.providerSyncedAt} />
                </>
              ) : null}
            </dd>
          </>
        ) : null}
        <dt>Usage</dt>
        <dd>
          <UsageAgainstPlan usage={t.usage} limits={limits} />
        </dd>
        <dt>Last hour</dt>
        <dd>
          {count(t.health.requests)} requests, {percent(t.health.errorRate)} 5xx ({count(t.health.errors5xx)}), p95 {ms(t.health.p95Ms)}, {count(t.health.jobFailures)} job
          failures of {count(t.health.jobRuns)}
          {t.baseline ? (
            <span class="muted">
              {' '}
              · usually {t.baseline.requestsPerMinute === null ? '—' : count(Math.round(t.baseline.requestsPerMinute * 60))} requests an hour, {percent(t.baseline.errorRate)} 5xx, p95{' '}
              {ms(t.baseline.p95Ms)} ({t.baseline.source} baseline, {count(t.baseline.historyHours)} h of history)
            </span>
          ) : null}
        </dd>
      </dl>

      <section aria-labelledby="alerts-title">
        <h2 id="alerts-title">Alerts</h2>
        <AlertList tenantId={id} compact />
      </section>

      <section aria-labelledby="health-title">
        <div class="section-head">
          <h2 id="health-title">Health beside its baseline</h2>
          <div class="inline" role="group" aria-label="Time range">
            {(Object.keys(ranges) as RangeName[]).map((r) => (
              <button key={r} type="button" class="secondary" aria-pressed={r === range} onClick={() => setQuery({ range: r === '24h' ? null : r })}>
                {r}
              </button>
            ))}
          </div>
        </div>
        <LiveView live={health} what="health">
          {(h) => (h.series.length === 0 ? <Empty>No signals in this range.</Empty> : <HealthCharts data={h} who={t.name} />)}
        </LiveView>
      </section>

      <section aria-labelledby="transitions-title">
        <h2 id="transitions-title">Subscription history</h2>
        <DataTable
          live={fixed({ data: sub?.transitions ?? [] })}
          what="subscription history"
          caption="Status changes of the subscription, newest first"
          rowKey={(x) => x.at + x.to}
          empty="No subscription changes recorded."
          columns={[
            { label: 'When', rowHeader: true, cell: (x) => <Time at={x.at} /> },
            { label: 'From', cell: (x) => (x.from ? <Badge value={x.from} label={words(x.from)} /> : <span class="muted">new</span>) },
            { label: 'To', cell: (x) => <Badge value={x.to} label={words(x.to)} /> },
            { label: 'Why', cell: (x) => x.reason },
            { label: 'Source', cell: (x) => x.source },
          ]}
        />
      </section>

      <Invoices tenantId={id} />
      <TenantJobs tenantId={id} />
      <WebhookEvents tenantId={id} />
      <Divergences tenantId={id} />
      <SupportData tenantId={id} />
    </>
  );
}

/** A dated fact of the subscription, left out when it does not apply. */
function TimeFact({ label, at }: { label: string; at: string | null | undefined }) {
  if (!at) return null;
  return (
    <>
      <dt>{label}</dt>
      <dd>
        <Time at={at} />
      </dd>
    </>
  );
}

const money = (minor: number, currency: string) => new Intl.NumberFormat(undefined, { style: 'currency', currency: currency.toUpperCase() }).format(minor / 100);

function Invoices({ tenantId }: { tenantId: string }) {
  const live = useLive(() => ok(api.GET('/ops/api/billing/invoices', { params: { query: { tenantId, limit: 20 } } })), `invoices:${tenantId}`, 0);
  return (
    <section aria-labelledby="invoices-title">
      <h2 id="invoices-title">Invoices</h2>
      <DataTable
        live={live}
        what="invoices"
        caption="Invoices, newest first"
        rowKey={(i) => i.id}
        empty="No invoice yet."
        columns={[
          { label: 'Number', rowHeader: true, cell: (i) => (i.hostedInvoiceUrl ? <a href={i.hostedInvoiceUrl}>{i.number ?? shortId(i.providerInvoiceId)}</a> : (i.number ?? shortId(i.providerInvoiceId))) },
          { label: 'Status', cell: (i) => <Badge value={i.status} /> },
          { label: 'Due', num: true, cell: (i) => money(i.amountDueMinor, i.currency) },
          { label: 'Paid', num: true, cell: (i) => money(i.amountPaidMinor, i.currency) },
          { label: 'Attempts', num: true, cell: (i) => i.attemptCount },
          { label: 'Issued', cell: (i) => <Time at={i.issuedAt} /> },
          { label: 'Paid at', cell: (i) => <Time at={i.paidAt} /> },
        ]}
      />
    </section>
  );
}

function TenantJobs({ tenantId }: { tenantId: string }) {
  const [state, setState] = useState<JobState>('dead');
  const live = useLive(() => ok(api.GET('/ops/api/jobs', { params: { query: { state, tenantId, limit: 20 } } })), `jobs:${tenantId}:${state}`, 15000);
  return (
    <section aria-labelledby="jobs-title">
      <div class="section-head">
        <h2 id="jobs-title">Jobs</h2>
        <div class="inline">
          <label for="tj-state" class="sr-only">
            Job state
          </label>
          <select id="tj-state" value={state} onChange={(e) => setState(e.currentTarget.value as JobState)}>
            {jobStates.map((s) => (
              <option key={s} value={s}>
                {s === 'failed' ? 'failed, retrying' : s}
              </option>
            ))}
          </select>
          <Link href={`/jobs?state=${state}&tenantId=${tenantId}`}>All {state} jobs of this business</Link>
        </div>
      </div>
      <DataTable
        live={live}
        what="jobs"
        caption={`${state} jobs of this business`}
        rowKey={(j) => `${j.queue}/${j.id}`}
        empty={`No ${state} jobs.`}
        columns={[
          {
            label: 'Job',
            rowHeader: true,
            cell: (j) => (
              <Link href={`/jobs/${encodeURIComponent(j.queue)}/${encodeURIComponent(j.id)}`} title={j.id}>
                {j.type}
              </Link>
            ),
          },
          { label: 'State', cell: (j) => <Badge value={j.state} /> },
          { label: 'Attempts', num: true, cell: (j) => j.attempts },
          { label: 'Reason', cell: (j) => <span class="reason">{j.failedReason ?? ''}</span> },
          { label: 'When', cell: (j) => <Time at={j.finishedAt ?? j.createdAt} /> },
        ]}
      />
    </section>
  );
}

function WebhookEvents({ tenantId }: { tenantId: string }) {
  const live = useLive(() => ok(api.GET('/ops/api/billing/events', { params: { query: { tenantId, limit: 20 } } })), `events:${tenantId}`, 15000);
  return (
    <section aria-labelledby="events-title">
      <h2 id="events-title">Webhook events</h2>
      <DataTable
        live={live}
        what="webhook events"
        caption="Payment provider events about this business, newest first"
        rowKey={(e) => e.id}
        empty="No event from the payment provider about this business."
        columns={[
          { label: 'Type', rowHeader: true, cell: (e) => e.type },
          { label: 'Outcome', cell: (e) => <Badge value={e.outcome} /> },
          { label: 'Via', cell: (e) => (e.via === 'catch_up' ? 'caught up' : 'webhook') },
          { label: 'Attempts', num: true, cell: (e) => e.attempts },
          { label: 'Error', cell: (e) => <span class="reason">{e.lastError ?? ''}</span> },
          { label: 'Received', cell: (e) => <Time at={e.receivedAt} /> },
        ]}
      />
    </section>
  );
}

const show = (v: unknown) => (v === null || v === undefined ? '—' : typeof v === 'string' ? v : JSON.stringify(v));

function Divergences({ tenantId }: { tenantId: string }) {
  const live = useLive(() => ok(api.GET('/ops/api/billing/divergences', { params: { query: { tenantId, limit: 20 } } })), `divergences:${tenantId}`, 15000);
  return (
    <section aria-labelledby="divergences-title">
      <div class="section-head">
        <h2 id="divergences-title">Divergences from the payment provider</h2>
        <Link href="/billing">Reconcile on the Billing page</Link>
      </div>
      <DataTable
        live={live}
        what="divergences"
        caption="Differences reconciliation found, newest first"
        rowKey={(d) => d.id}
        empty="Reconciliation has found no difference for this business."
        columns={[
          { label: 'Field', rowHeader: true, cell: (d) => <code>{d.field}</code> },
          { label: 'Brigade had', cell: (d) => show(d.local) },
          { label: 'Provider says', cell: (d) => show(d.provider) },
          { label: 'Outcome', cell: (d) => (d.repaired ? <Badge value="done" label="repaired" /> : <Badge value="failed" label="not repaired" />) },
          { label: 'Found', cell: (d) => <Time at={d.detectedAt} /> },
        ]}
      />
    </section>
  );
}

function SupportData({ tenantId: id }: { tenantId: string }) {
  const grants = useLive(() => ok(api.GET('/ops/api/support-grants')), 'grants', 0);
  const members = useLive(() => ok(api.GET('/ops/api/tenants/{tenantId}/members', { params: { path: { tenantId: id }, query: { limit: 50 } } })), `members:${id}`, 0);
  const audit = useLive(() => ok(api.GET('/ops/api/tenants/{tenantId}/audit-events', { params: { path: { tenantId: id }, query: { limit: 20 } } })), `audit:${id}`, 0);
  const grant = grants.data?.data.find((g) => g.tenant.id === id);
  return (
    <>
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
          <DataTable
            live={members}
            what="members"
            caption="Members of this business"
            rowKey={(m) => m.id}
            empty="No members."
            columns={[
              { label: 'Name', rowHeader: true, cell: (m) => m.name },
              { label: 'E-mail', cell: (m) => m.email },
              { label: 'Roles', cell: (m) => m.roles.map((r) => r.role + (r.branchId ? ' (branch)' : '')).join(', ') },
              { label: 'Status', cell: (m) => m.status },
            ]}
          />
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
