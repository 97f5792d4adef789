import { useState } from 'preact/hooks';
import { api, ok } from '../api/client';
import { useLive } from '../lib/live';
import { Link } from '../router';
import { actor, duration, shortId } from '../lib/format';
import { Badge, Empty, LiveView, PageHeader, ReasonForm, TenantRef, Time, Updated } from '../components/ui';

const terminal = new Set(['completed', 'dead', 'replayed', 'discarded']);

function jobHref(queue: string, id: string) {
  return `/jobs/${encodeURIComponent(queue)}/${encodeURIComponent(id)}`;
}

/** One job: what it carries, every attempt with its error laid out, the replays around it, and what to do. */
export function Job({ params }: { params: Record<string, string> }) {
  const queue = params.queue!;
  const id = params.id!;
  const job = useLive(() => ok(api.GET('/ops/api/jobs/{queue}/{id}', { params: { path: { queue, id } } })), `${queue}/${id}`, 3000);
  const [acting, setActing] = useState<'replay' | 'discard' | null>(null);
  const [replayed, setReplayed] = useState<{ queue: string; id: string } | null>(null);

  return (
    <LiveView live={job} what="the job">
      {(j) => (
        <>
          <PageHeader
            title={
              <>
                {j.type} <Badge value={j.state} />
              </>
            }
          >
            <Updated live={job} />
          </PageHeader>
          <dl class="facts">
            <dt>Job</dt>
            <dd>
              <code>{j.id}</code> in queue <code>{j.queue}</code>
            </dd>
            <dt>Business</dt>
            <dd>
              <TenantRef id={j.tenantId} name={j.tenantName} />
            </dd>
            <dt>Attempts</dt>
            <dd>{j.attempts}</dd>
            <dt>Created</dt>
            <dd>
              <Time at={j.createdAt} />
            </dd>
            <dt>Finished</dt>
            <dd>
              <Time at={j.finishedAt} />
            </dd>
            {j.runAt ? (
              <>
                <dt>Runs at</dt>
                <dd>
                  <Time at={j.runAt} />
                </dd>
              </>
            ) : null}
            {j.failedReason ? (
              <>
                <dt>Reason</dt>
                <dd class="reason-strong">{j.failedReason}</dd>
              </>
            ) : null}
          </dl>

          <section class="actions" aria-label="Actions">
            {replayed ? <FollowReplay queue={replayed.queue} id={replayed.id} /> : null}
            {acting === 'replay' ? (
              <ReasonForm
                label="Replay this job"
                action="Replay"
                onCancel={() => setActing(null)}
                onSubmit={async (reason) => {
                  const r = await ok(api.POST('/ops/api/jobs/{queue}/{id}/replay', { params: { path: { queue, id } }, body: { reason } }));
                  setActing(null);
                  setReplayed({ queue: r.queue, id: r.id });
                  job.refresh();
                }}
              >
                <p>It runs again as a new job with the same data, linked to this one.</p>
              </ReasonForm>
            ) : acting === 'discard' ? (
              <ReasonForm
                label="Discard this job"
                action="Discard"
                danger
                onCancel={() => setActing(null)}
                onSubmit={async (reason) => {
                  await ok(api.POST('/ops/api/jobs/{queue}/{id}/discard', { params: { path: { queue, id } }, body: { reason } }));
                  setActing(null);
                  job.refresh();
                }}
              >
                <p>It leaves the dead list for good; its record stays.</p>
              </ReasonForm>
            ) : (
              <div class="form-actions">
                {['dead', 'replayed', 'discarded', 'completed'].includes(j.state) ? (
                  <button type="button" class="primary" onClick={() => setActing('replay')}>
                    Replay…
                  </button>
                ) : null}
                {j.state === 'dead' ? (
                  <button type="button" class="danger" onClick={() => setActing('discard')}>
                    Discard…
                  </button>
                ) : null}
              </div>
            )}
          </section>

          <section aria-labelledby="chain-title">
            <h2 id="chain-title">Replays</h2>
            {j.ancestors.length === 0 && j.replays.length === 0 ? (
              <Empty>This job is not a replay and has not been replayed.</Empty>
            ) : (
              <ol class="chain">
                {j.ancestors.map((a) => (
                  <li key={a.id}>
                    <Link href={jobHref(a.queue, a.id)}>
                      <code>{shortId(a.id)}</code>
                    </Link>{' '}
                    <Badge value={a.state} /> <span class="muted">replayed by {actor(a.replayedBy)}</span> <Time at={a.replayedAt} />
                    {a.reason ? <q>{a.reason}</q> : null}
                  </li>
                ))}
                <li aria-current="true">
                  <strong>
                    <code>{shortId(j.id)}</code> this job
                  </strong>{' '}
                  <Badge value={j.state} />
                </li>
                {j.replays.map((r) => (
                  <li key={r.id}>
                    <span class="muted">replayed as</span>{' '}
                    <Link href={jobHref(r.queue, r.id)}>
                      <code>{shortId(r.id)}</code>
                    </Link>{' '}
                    <Badge value={r.state} /> <span class="muted">by {actor(r.replayedBy)}</span> <Time at={r.replayedAt} />
                    {r.reason ? <q>{r.reason}</q> : null}
                  </li>
                ))}
              </ol>
            )}
          </section>

          <section aria-labelledby="attempts-title">
            <h2 id="attempts-title">Attempts</h2>
            {j.history.length === 0 ? (
              <Empty>No attempt has finished yet.</Empty>
            ) : (
              <ol class="attempts">
                {j.history.map((h, i) => (
                  <li key={h.attempt + ':' + i} class={`attempt attempt-${h.state}`}>
                    <div class="attempt-head">
                      <strong>Attempt {h.attempt}</strong> <Badge value={h.state === 'stalled' ? 'failed' : h.state} label={h.state} /> <Time at={h.finishedAt} />
                      {h.startedAt ? <span class="muted"> took {duration(new Date(h.finishedAt).getTime() - new Date(h.startedAt).getTime())}</span> : null}
                      {h.worker ? <span class="muted"> on {h.worker}</span> : null}
                    </div>
                    {h.error ? <p class="error-line">{h.error}</p> : null}
                    {h.stacktrace ? (
                      <details open={i === j.history.length - 1}>
                        <summary>Stack trace</summary>
                        <pre class="stack">
                          {h.stacktrace.split('\n').map((line, n) => (
                            <span key={n} class={/node_modules|node:internal/.test(line) ? 'frame-lib' : /^\s+at /.test(line) ? 'frame-own' : 'frame-msg'}>
                              {line + '\n'}
                            </span>
                          ))}
                        </pre>
                      </details>
                    ) : null}
                  </li>
                ))}
              </ol>
            )}
          </section>

          <section aria-labelledby="data-title">
            <h2 id="data-title">Data</h2>
            <pre class="json">{JSON.stringify(j.data, null, 2)}</pre>
          </section>

          {j.operations.length ? (
            <section aria-labelledby="ops-title">
              <h2 id="ops-title">Operator actions</h2>
              <ul class="plain-list">
                {j.operations.map((o, i) => (
                  <li key={i}>
                    <strong>{o.action}</strong> by {actor(o.actor)} <Time at={o.at} /> {o.reason ? <q>{o.reason}</q> : null}
                  </li>
                ))}
              </ul>
            </section>
          ) : null}
        </>
      )}
    </LiveView>
  );
}

/** The replay just made, followed until it ends. */
function FollowReplay({ queue, id }: { queue: string; id: string }) {
  const live = useLive(() => ok(api.GET('/ops/api/jobs/{queue}/{id}', { params: { path: { queue, id } } })), `follow:${queue}/${id}`, 1500);
  const state = live.data?.state ?? 'waiting';
  return (
    <p class="outcome" role="status" aria-live="polite">
      Replayed as{' '}
      <Link href={jobHref(queue, id)}>
        <code>{shortId(id)}</code>
      </Link>
      : <Badge value={state} /> {terminal.has(state) ? (state === 'completed' ? 'It worked.' : live.data?.failedReason ?? '') : 'following it…'}
    </p>
  );
}
