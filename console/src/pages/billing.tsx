import { useState } from 'preact/hooks';
import { api, ApiError, ok } from '../api/client';
import { useLive } from '../lib/live';
import { setQuery, useLocation } from '../router';
import { count, duration, shortId } from '../lib/format';
import { Badge, Empty, ErrorBox, LiveView, PageHeader, Pager, TenantRef, Time, Updated } from '../components/ui';

const outcomes = ['pending', 'applied', 'ignored', 'unmatched', 'failed'] as const;
type Outcome = (typeof outcomes)[number];
const plural = (n: number, word: string) => `${count(n)} ${word}${n === 1 ? '' : 's'}`;
const show = (v: unknown) => (v === null || v === undefined ? '—' : typeof v === 'string' ? v : JSON.stringify(v));

/** Reconciliation runs and what they found, the webhook inbox, and a run started from here. */
export function Billing() {
  const { query } = useLocation();
  const view = query.get('view') === 'events' ? 'events' : 'runs';
  return (
    <>
      <PageHeader title="Billing" />
      <Reconcile />
      <div class="tabs" role="tablist" aria-label="Billing views">
        <button type="button" role="tab" aria-selected={view === 'runs'} onClick={() => setQuery({ view: null, cursor: null, runId: null }, { push: true })}>
          Reconciliation
        </button>
        <button type="button" role="tab" aria-selected={view === 'events'} onClick={() => setQuery({ view: 'events', cursor: null, runId: null }, { push: true })}>
          Webhook events
        </button>
      </div>
      {view === 'runs' ? <Runs /> : <Events />}
    </>
  );
}

function Reconcile() {
  const [tenantId, setTenantId] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  const [result, setResult] = useState<Awaited<ReturnType<typeof start>> | null>(null);
  function start() {
    return ok(api.POST('/ops/api/billing/reconcile', { body: tenantId.trim() ? { tenantId: tenantId.trim() } : {} }));
  }
  return (
    <form
      class="reconcile"
      aria-label="Reconcile now"
      onSubmit={async (e) => {
        e.preventDefault();
        setBusy(true);
        setError(null);
        try {
          const r = await start();
          setResult(r);
          setQuery({ view: null, cursor: null, runId: r.runId }, { push: true });
        } catch (err) {
          setError(err as ApiError);
        } finally {
          setBusy(false);
        }
      }}
    >
      <h2>Reconcile with the payment provider</h2>
      <p class="muted">Compares each subscription with the provider, repairs Brigade's copy from it and records every difference.</p>
      <label for="rec-tenant">One business (id), or empty for every business</label>
      <div class="inline">
        <input id="rec-tenant" value={tenantId} placeholder="All businesses" onInput={(e) => setTenantId(e.currentTarget.value)} />
        <button type="submit" class="primary" disabled={busy}>
          {busy ? 'Reconciling…' : 'Reconcile now'}
        </button>
      </div>
      {error ? <ErrorBox error={error} /> : null}
      {result ? (
        <p class="outcome" role="status">
          Run <code>{shortId(result.runId)}</code>: {count(result.tenantsChecked)} checked, <strong>{plural(result.divergences, 'divergence')}</strong>, {count(result.repaired)} repaired,{' '}
          {count(result.errors)} errors, in {duration(result.durationMs)}.
        </p>
      ) : null}
    </form>
  );
}

function Runs() {
  const { query } = useLocation();
  const runId = query.get('runId');
  const cursor = query.get('cursor');
  // Keyed by the selected run too: a run started from this page is listed at once.
  const runs = useLive(() => ok(api.GET('/ops/api/billing/reconciliations', { params: { query: { limit: 20 } } })), `runs:${runId}`);
  const divergences = useLive(
    () => ok(api.GET('/ops/api/billing/divergences', { params: { query: { limit: 50, ...(runId ? { runId } : {}), ...(cursor ? { cursor } : {}) } } })),
    `div:${runId}:${cursor}`,
  );
  return (
    <>
      <section aria-labelledby="runs-title">
        <h2 id="runs-title">
          Runs <Updated live={runs} />
        </h2>
        <LiveView live={runs} what="reconciliation runs">
          {(page) =>
            page.data.length === 0 ? (
              <Empty>No reconciliation has run yet. It runs every hour, or now with the form above.</Empty>
            ) : (
              <div class="table-wrap">
                <table>
                  <thead>
                    <tr>
                      <th scope="col">Started</th>
                      <th scope="col">Trigger</th>
                      <th scope="col">Scope</th>
                      <th scope="col" class="num">Checked</th>
                      <th scope="col" class="num">Divergences</th>
                      <th scope="col" class="num">Repaired</th>
                      <th scope="col" class="num">Errors</th>
                      <th scope="col">Finished</th>
                    </tr>
                  </thead>
                  <tbody>
                    {page.data.map((r) => (
                      <tr key={r.id} aria-selected={r.id === runId}>
                        <td>
                          <button type="button" class="link" onClick={() => setQuery({ runId: r.id === runId ? null : r.id, cursor: null })} aria-pressed={r.id === runId}>
                            <Time at={r.startedAt} />
                          </button>
                        </td>
                        <td>{r.trigger}</td>
                        <td>{r.tenantId ? <TenantRef id={r.tenantId} name={r.tenantName} /> : 'every business'}</td>
                        <td class="num">{count(r.tenantsChecked)}</td>
                        <td class="num">{r.divergences > 0 ? <strong>{count(r.divergences)}</strong> : '0'}</td>
                        <td class="num">{count(r.repaired)}</td>
                        <td class="num">{r.errors > 0 ? <span class="bad-text" title={r.error ?? ''}>{count(r.errors)}</span> : '0'}</td>
                        <td>{r.finishedAt ? <Time at={r.finishedAt} /> : <Badge value="active" label="running" />}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
            )
          }
        </LiveView>
      </section>
      <section aria-labelledby="div-title">
        <h2 id="div-title">{runId ? `Divergences of run ${shortId(runId)}` : 'Divergences, newest first'}</h2>
        <LiveView live={divergences} what="divergences">
          {(page) =>
            page.data.length === 0 ? (
              <Empty>{runId ? 'This run found Brigade and the provider in agreement.' : 'No divergence recorded.'}</Empty>
            ) : (
              <>
                <div class="table-wrap">
                  <table>
                    <thead>
                      <tr>
                        <th scope="col">Business</th>
                        <th scope="col">Field</th>
                        <th scope="col">Brigade had</th>
                        <th scope="col">Provider says</th>
                        <th scope="col">Repaired</th>
                        <th scope="col">Note</th>
                        <th scope="col">Found</th>
                      </tr>
                    </thead>
                    <tbody>
                      {page.data.map((d) => (
                        <tr key={d.id}>
                          <td>
                            <TenantRef id={d.tenantId} name={d.tenantName} />
                          </td>
                          <td>
                            <code>{d.field}</code>
                          </td>
                          <td>
                            <code>{show(d.local)}</code>
                          </td>
                          <td>
                            <code>{show(d.provider)}</code>
                          </td>
                          <td>{d.repaired ? <Badge value="completed" label="repaired" /> : <Badge value="failed" label="not repaired" />}</td>
                          <td>{d.note ?? ''}</td>
                          <td>
                            <Time at={d.detectedAt} />
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
      </section>
    </>
  );
}

function Events() {
  const { query } = useLocation();
  const outcome = outcomes.find((o) => o === query.get('outcome')) as Outcome | undefined;
  const cursor = query.get('cursor');
  const events = useLive(
    () => ok(api.GET('/ops/api/billing/events', { params: { query: { limit: 50, ...(outcome ? { outcome } : {}), ...(cursor ? { cursor } : {}) } } })),
    `events:${outcome}:${cursor}`,
  );
  return (
    <section aria-labelledby="events-title">
      <h2 id="events-title">
        Webhook events <Updated live={events} />
      </h2>
      <label for="ev-outcome">Processing state</label>
      <select id="ev-outcome" value={outcome ?? ''} onChange={(e) => setQuery({ outcome: e.currentTarget.value || null, cursor: null })}>
        <option value="">Any</option>
        {outcomes.map((o) => (
          <option key={o} value={o}>
            {o}
          </option>
        ))}
      </select>
      <LiveView live={events} what="webhook events">
        {(page) =>
          page.data.length === 0 ? (
            <Empty>No webhook event {outcome ? `is ${outcome}` : 'has arrived yet'}.</Empty>
          ) : (
            <>
              <div class="table-wrap">
                <table>
                  <thead>
                    <tr>
                      <th scope="col">Received</th>
                      <th scope="col">Type</th>
                      <th scope="col">Business</th>
                      <th scope="col">State</th>
                      <th scope="col" class="num">Attempts</th>
                      <th scope="col">Last error</th>
                      <th scope="col">Event</th>
                    </tr>
                  </thead>
                  <tbody>
                    {page.data.map((e) => (
                      <tr key={e.id}>
                        <td>
                          <Time at={e.receivedAt} />
                          {e.via === 'catch_up' ? <span class="muted"> (caught up)</span> : null}
                        </td>
                        <td>{e.type}</td>
                        <td>
                          <TenantRef id={e.tenantId} name={e.tenantName} />
                        </td>
                        <td>
                          <Badge value={e.outcome} />
                        </td>
                        <td class="num">{e.attempts}</td>
                        <td class="reason">{e.lastError ?? ''}</td>
                        <td>
                          <code title={e.id}>{shortId(e.id)}</code>
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
    </section>
  );
}
