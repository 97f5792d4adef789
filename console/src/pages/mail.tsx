import { api, ok } from '../api/client';
import { useLive } from '../lib/live';
import { setQuery, useLocation, Link } from '../router';
import { Empty, LiveView, PageHeader, Pager, TenantRef, Time, Updated } from '../components/ui';
import { shortId } from '../lib/format';

/** The mails the built-in catcher kept, with their text; a clear word when mail goes out by SMTP. */
export function Mail() {
  const { query } = useLocation();
  const cursor = query.get('cursor');
  const open = query.get('id');
  const me = useLive(() => ok(api.GET('/ops/api/me')), 'me', 0);
  const mails = useLive(() => ok(api.GET('/ops/api/mails', { params: { query: { limit: 50, ...(cursor ? { cursor } : {}) } } })), `mails:${cursor}`);
  const smtp = me.data?.mail.transport === 'smtp';
  return (
    <>
      <PageHeader title="Mail">
        <Updated live={mails} />
      </PageHeader>
      {smtp ? (
        <p class="notice" role="note">
          Mail is sent through the SMTP server <code>{me.data?.mail.smtpServer}</code> (SMTP_URL is set): new mails are not kept here. Mail jobs that fail are in{' '}
          <Link href="/jobs?state=dead&queue=mail">dead mail jobs</Link>. Below are mails caught before SMTP was configured, if any.
        </p>
      ) : me.data ? (
        <p class="notice" role="note">
          No SMTP server is configured (SMTP_URL is unset): Brigade keeps every mail here instead of sending it.
        </p>
      ) : null}
      <LiveView live={mails} what="mails">
        {(page) =>
          page.data.length === 0 ? (
            <Empty>No mail has been caught.</Empty>
          ) : (
            <>
              <ul class="mails">
                {page.data.map((m) => (
                  <li key={m.id}>
                    <details open={open === m.id} onToggle={(e) => (e.currentTarget.open ? setQuery({ id: m.id }) : open === m.id && setQuery({ id: null }))}>
                      <summary>
                        <strong>{m.subject}</strong> <span class="muted">to</span> {m.to} <Time at={m.createdAt} />
                      </summary>
                      <dl class="facts">
                        <dt>From</dt>
                        <dd>{m.from}</dd>
                        <dt>Business</dt>
                        <dd>
                          <TenantRef id={m.tenantId} name={m.tenantName} />
                        </dd>
                        {m.jobId ? (
                          <>
                            <dt>Sent by job</dt>
                            <dd>
                              <Link href={`/jobs/mail/${m.jobId}`}>
                                <code>{shortId(m.jobId)}</code>
                              </Link>
                            </dd>
                          </>
                        ) : null}
                      </dl>
                      <pre class="mail-text">{m.text}</pre>
                    </details>
                  </li>
                ))}
              </ul>
              <Pager cursor={cursor} nextCursor={page.nextCursor} onPage={(c) => setQuery({ cursor: c }, { push: true })} />
            </>
          )
        }
      </LiveView>
    </>
  );
}
