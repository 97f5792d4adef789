import { useState } from 'preact/hooks';
import { api, ApiError, ok } from '../api/client';
import { useLive } from '../lib/live';
import { Link, navigate, setQuery, useLocation } from '../router';
import { count, isoToLocalInput, localInputToIso, shortId } from '../lib/format';
import { Badge, Empty, ErrorBox, LiveView, PageHeader, Pager, ReasonForm, TenantRef, Time, Updated } from '../components/ui';

type State = 'dead' | 'failed' | 'completed' | 'waiting' | 'active' | 'delayed';
const states: { value: State; label: string }[] = [
  { value: 'dead', label: 'Dead' },
  { value: 'failed', label: 'Failed, retrying' },
  { value: 'waiting', label: 'Waiting' },
  { value: 'active', label: 'Active' },
  { value: 'delayed', label: 'Delayed' },
  { value: 'completed', label: 'Completed' },
];
type BulkResult = Awaited<ReturnType<typeof bulkReplay>>;

function bulkReplay(body: { queue?: string; type?: string; tenantId?: string; from?: string; to?: string; reason: string }) {
  return ok(api.POST('/ops/api/jobs/replay', { body }));
}

/** Every job by state, queue, type, business and time; a job by its id; bulk replay of what is shown. */
export function Jobs() {
  const { query } = useLocation();
  const state = (states.find((s) => s.value === query.get('state'))?.value ?? 'dead') as State;
  const filter = {
    queue: query.get('queue') ?? undefined,
    type: query.get('type') ?? undefined,
    tenantId: query.get('tenantId') ?? undefined,
    from: query.get('from') ?? undefined,
    to: query.get('to') ?? undefined,
  };
  const cursor = query.get('cursor');
  const key = JSON.stringify({ state, filter, cursor });
  const jobs = useLive(() => ok(api.GET('/ops/api/jobs', { params: { query: { state, ...filter, limit: 50, ...(cursor ? { cursor } : {}) } } })), key, 5000, { keep: true });
  const queues = useLive(() => ok(api.GET('/ops/api/queues')), 'queue-names', 0);
  const [bulk, setBulk] = useState(false);
  const [bulkResult, setBulkResult] = useState<BulkResult | null>(null);

  return (
    <>
      <PageHeader title="Jobs">
        <Updated live={jobs} />
      </PageHeader>
      <FindById />
      <form
        class="filters"
        aria-label="Filter jobs"
        onSubmit={(e) => {
          e.preventDefault();
          const f = new FormData(e.currentTarget);
          const get = (k: string) => String(f.get(k) ?? '').trim() || null;
          setQuery(
            { state: get('state'), queue: get('queue'), type: get('type'), tenantId: get('tenantId'), from: localInputToIso(get('from') ?? ''), to: localInputToIso(get('to') ?? ''), cursor: null },
            { push: true },
          );
        }}
      >
        <div>
          <label for="f-state">State</label>
          <select id="f-state" name="state" value={state}>
            {states.map((s) => (
              <option key={s.value} value={s.value}>
                {s.label}
              </option>
            ))}
          </select>
        </div>
        <div>
          <label for="f-queue">Queue</label>
          <select id="f-queue" name="queue" value={filter.queue ?? ''}>
            <option value="">All queues</option>
            {(queues.data?.data ?? []).map((q) => (
              <option key={q.name} value={q.name}>
                {q.name}
              </option>
            ))}
          </select>
        </div>
        <div>
          <label for="f-type">Type</label>
          <input id="f-type" name="type" placeholder="mail.welcome" value={filter.type ?? ''} />
        </div>
        <div>
          <label for="f-tenant">Business id</label>
          <input id="f-tenant" name="tenantId" placeholder="UUID" value={filter.tenantId ?? ''} />
        </div>
        <div>
          <label for="f-from">From</label>
          <input id="f-from" name="from" type="datetime-local" value={isoToLocalInput(filter.from ?? null)} />
        </div>
        <div>
          <label for="f-to">Until</label>
          <input id="f-to" name="to" type="datetime-local" value={isoToLocalInput(filter.to ?? null)} />
        </div>
        <div class="filter-actions">
          <button type="submit" class="primary">
            Show
          </button>
          <button type="button" class="secondary" onClick={() => navigate(`/jobs?state=${state}`)}>
            Clear
          </button>
        </div>
      </form>

      {state === 'dead' ? (
        <div class="bulk">
          {bulkResult ? <BulkOutcome result={bulkResult} onClose={() => setBulkResult(null)} /> : null}
          {bulk ? (
            <ReasonForm
              label="Replay every dead job of this filter"
              action="Replay them"
              onCancel={() => setBulk(false)}
              onSubmit={async (reason) => {
                const result = await bulkReplay({ ...filter, reason });
                setBulk(false);
                setBulkResult(result);
                jobs.refresh();
              }}
            >
              <p>Each dead job matching the filter above (up to 100, oldest first) runs again as a new job linked to it.</p>
            </ReasonForm>
          ) : (
            <button type="button" class="secondary" onClick={() => setBulk(true)} disabled={!jobs.data?.data.length}>
              Replay all dead jobs of this filter…
            </button>
          )}
        </div>
      ) : null}

      <LiveView live={jobs} what="jobs">
        {(page) =>
          page.data.length === 0 ? (
            <Empty>No {states.find((s) => s.value === state)?.label.toLowerCase()} jobs match.</Empty>
          ) : (
            <>
              <div class="table-wrap">
                <table>
                  <caption class="sr-only">{states.find((s) => s.value === state)?.label} jobs</caption>
                  <thead>
                    <tr>
                      <th scope="col">Job</th>
                      <th scope="col">Type</th>
                      <th scope="col">Business</th>
                      <th scope="col">State</th>
                      <th scope="col" class="num">Attempts</th>
                      <th scope="col">Reason</th>
                      <th scope="col">{state === 'dead' || state === 'completed' || state === 'failed' ? 'Finished' : 'Created'}</th>
                    </tr>
                  </thead>
                  <tbody>
                    {page.data.map((j) => (
                      <tr key={`${j.queue}/${j.id}`}>
                        <td>
                          <Link href={`/jobs/${encodeURIComponent(j.queue)}/${encodeURIComponent(j.id)}`} title={j.id}>
                            <code>{shortId(j.id)}</code>
                          </Link>
                          <span class="muted"> {j.queue}</span>
                        </td>
                        <td>{j.type}</td>
                        <td>
                          <TenantRef id={j.tenantId} name={j.tenantName} />
                        </td>
                        <td>
                          <Badge value={j.state} />
                          {j.replayOf ? <span class="muted"> replay</span> : null}
                        </td>
                        <td class="num">{j.attempts}</td>
                        <td class="reason">{j.failedReason ?? ''}</td>
                        <td>
                          <Time at={j.finishedAt ?? j.createdAt} />
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

function FindById() {
  const [id, setId] = useState('');
  const [error, setError] = useState<ApiError | null>(null);
  const [found, setFound] = useState<{ queue: string; id: string; type: string; state: string }[] | null>(null);
  return (
    <form
      class="find"
      role="search"
      onSubmit={async (e) => {
        e.preventDefault();
        setError(null);
        setFound(null);
        try {
          const { data } = await ok(api.GET('/ops/api/jobs/lookup', { params: { query: { id: id.trim() } } }));
          if (data.length === 1) navigate(`/jobs/${encodeURIComponent(data[0]!.queue)}/${encodeURIComponent(data[0]!.id)}`);
          else setFound(data);
        } catch (err) {
          setError(err as ApiError);
        }
      }}
    >
      <label for="find-id">Find a job by id</label>
      <input id="find-id" required value={id} onInput={(e) => setId(e.currentTarget.value)} placeholder="Job id" />
      <button type="submit" class="secondary">
        Find
      </button>
      {error ? <ErrorBox error={error} /> : null}
      {found && found.length === 0 ? <p class="state empty">No job has this id in any queue.</p> : null}
      {found && found.length > 1 ? (
        <ul class="plain-list">
          {found.map((j) => (
            <li key={j.queue}>
              <Link href={`/jobs/${j.queue}/${j.id}`}>
                {j.type} in {j.queue}
              </Link>{' '}
              <Badge value={j.state} />
            </li>
          ))}
        </ul>
      ) : null}
    </form>
  );
}

function BulkOutcome({ result, onClose }: { result: BulkResult; onClose(): void }) {
  return (
    <section class="outcome" role="status" aria-label="Bulk replay outcome">
      <p>
        <strong>{count(result.done)} replayed</strong>, {count(result.skipped)} skipped, {count(result.failed)} failed.
      </p>
      {result.problems.length ? (
        <ul>
          {result.problems.map((p) => (
            <li key={p.id}>
              <Link href={`/jobs/${p.queue}/${p.id}`}>
                <code>{shortId(p.id)}</code>
              </Link>{' '}
              {p.outcome}: {p.detail}
            </li>
          ))}
        </ul>
      ) : null}
      {result.jobs.length ? (
        <details>
          <summary>The new jobs</summary>
          <ul class="plain-list">
            {result.jobs.map((j) => (
              <li key={j.id}>
                <Link href={`/jobs/${j.queue}/${j.id}`}>
                  <code>{shortId(j.id)}</code>
                </Link>{' '}
                replays <code>{shortId(j.replayOf)}</code>
              </li>
            ))}
          </ul>
        </details>
      ) : null}
      <button type="button" class="link" onClick={onClose}>
        Dismiss
      </button>
    </section>
  );
}
