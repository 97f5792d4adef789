import type { ComponentChildren } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { Link } from '../router';
import { age, count, formatTime, shortId } from '../lib/format';
import type { ApiError } from '../api/client';
import type { Live } from '../lib/live';

/** A time in the operator's zone with its age; the exact UTC instant on hover. */
export function Time({ at }: { at: string | null | undefined }) {
  if (!at) return <span class="muted">—</span>;
  return (
    <time dateTime={at} title={`${at} (UTC)`}>
      {formatTime(at)} <span class="age">{age(at)}</span>
    </time>
  );
}

/** A business by name, its id beside (names are what people say; ids are what tools take). */
export function TenantRef({ id, name }: { id: string | null | undefined; name?: string | null }) {
  if (!id) return <span class="muted">platform</span>;
  return (
    <Link href={`/tenants/${id}`} class="tenant-ref" title={id}>
      <span>{name ?? 'Unknown business'}</span> <code class="id">{shortId(id)}</code>
    </Link>
  );
}

const tone: Record<string, string> = {
  completed: 'ok',
  applied: 'ok',
  active: 'info',
  waiting: 'info',
  delayed: 'info',
  pending: 'info',
  failed: 'warn',
  unmatched: 'warn',
  ignored: 'neutral',
  dead: 'bad',
  replayed: 'neutral',
  discarded: 'neutral',
  done: 'ok',
  refused: 'warn',
  trialing: 'info',
  past_due: 'warn',
  grace: 'warn',
  suspended: 'bad',
  canceled: 'neutral',
  expired: 'neutral',
  open: 'bad',
  acknowledged: 'warn',
  resolved: 'ok',
  critical: 'bad',
  warning: 'warn',
  info: 'info',
  paid: 'ok',
  uncollectible: 'bad',
  void: 'neutral',
  draft: 'neutral',
};

export function Badge({ value, label }: { value: string; label?: string }) {
  return <span class={`badge badge-${tone[value] ?? 'neutral'}`}>{label ?? value}</span>;
}

export function Loading({ what }: { what: string }) {
  return (
    <p class="state" role="status" aria-live="polite">
      <span class="spinner" aria-hidden="true" /> Loading {what}…
    </p>
  );
}

export function Empty({ children }: { children: ComponentChildren }) {
  return <p class="state empty">{children}</p>;
}

export function ErrorBox({ error, retry }: { error: ApiError; retry?: () => void }) {
  return (
    <div class="error-box" role="alert">
      <strong>{error.problem.title}</strong>
      <p>{error.problem.detail}</p>
      {error.problem.errors?.length ? (
        <ul>
          {error.problem.errors.map((e) => (
            <li key={e.path}>
              <code>{e.path}</code> {e.message}
            </li>
          ))}
        </ul>
      ) : null}
      {retry ? (
        <button type="button" class="secondary" onClick={retry}>
          Try again
        </button>
      ) : null}
    </div>
  );
}

/** Loading, error or the content, for one live query; a failed refresh keeps the data and says so. */
export function LiveView<T>({ live, what, children }: { live: Live<T>; what: string; children: (data: T) => ComponentChildren }) {
  if (live.data === undefined) {
    if (live.error) return <ErrorBox error={live.error} retry={live.refresh} />;
    return <Loading what={what} />;
  }
  return (
    <>
      {live.error ? <ErrorBox error={live.error} retry={live.refresh} /> : null}
      {children(live.data)}
    </>
  );
}

export function Updated({ live }: { live: Live<unknown> }) {
  const [, tick] = useState(0);
  useEffect(() => {
    const t = setInterval(() => tick((n) => n + 1), 5000);
    return () => clearInterval(t);
  }, []);
  return (
    <span class="updated" aria-live="off">
      {live.refreshing ? 'Refreshing…' : live.updatedAt ? `Updated ${age(new Date(live.updatedAt).toISOString())}` : ''}
      <button type="button" class="link" onClick={live.refresh}>
        Refresh
      </button>
    </span>
  );
}

export function PageHeader({ title, children }: { title: ComponentChildren; children?: ComponentChildren }) {
  const heading = useRef<HTMLHeadingElement>(null);
  return (
    <header class="page-header">
      <h1 ref={heading} tabIndex={-1}>
        {title}
      </h1>
      <div class="page-actions">{children}</div>
    </header>
  );
}

let formIds = 0;

/**
 * Asks for the reason of an action in the page (never window.prompt) and runs it. The reason
 * is required: it goes into the record next to the operator's name.
 */
export function ReasonForm(props: {
  label: string;
  action: string;
  danger?: boolean;
  /** What the field is called ("Reason", "Note"); it is kept in the record with the operator's name. */
  field?: string;
  onSubmit(reason: string): Promise<void>;
  onCancel(): void;
  children?: ComponentChildren;
}) {
  const [reason, setReason] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  const field = useRef<HTMLTextAreaElement>(null);
  const [fieldId] = useState(() => `reason-${++formIds}`);
  useEffect(() => field.current?.focus(), []);
  return (
    <form
      class="reason-form"
      aria-label={props.label}
      onSubmit={async (e) => {
        e.preventDefault();
        if (!reason.trim()) return;
        setBusy(true);
        setError(null);
        try {
          await props.onSubmit(reason.trim());
        } catch (err) {
          setError(err as ApiError);
        } finally {
          setBusy(false);
        }
      }}
      onKeyDown={(e) => e.key === 'Escape' && props.onCancel()}
    >
      <h2>{props.label}</h2>
      {props.children}
      <label for={fieldId}>{props.field ?? 'Reason'} (kept in the record with your name)</label>
      <textarea id={fieldId} ref={field} required maxLength={1000} rows={2} value={reason} onInput={(e) => setReason(e.currentTarget.value)} />
      {error ? <ErrorBox error={error} /> : null}
      <div class="form-actions">
        <button type="submit" class={props.danger ? 'danger' : 'primary'} disabled={busy || !reason.trim()}>
          {busy ? 'Working…' : props.action}
        </button>
        <button type="button" class="secondary" onClick={props.onCancel} disabled={busy}>
          Cancel
        </button>
      </div>
    </form>
  );
}

/** Newest / older pages by cursor, kept in the URL so a page of results can be linked and refreshed in place. */
export function Pager({ nextCursor, cursor, onPage, first = '← Newest', next = 'Older →' }: { nextCursor: string | null; cursor: string | null; onPage(cursor: string | null): void; first?: string; next?: string }) {
  if (!cursor && !nextCursor) return null;
  return (
    <nav class="pager" aria-label="Pages">
      <button type="button" class="secondary" disabled={!cursor} onClick={() => onPage(null)}>
        {first}
      </button>
      <button type="button" class="secondary" disabled={!nextCursor} onClick={() => onPage(nextCursor)}>
        {next}
      </button>
    </nav>
  );
}

/** A count against its plan limit ("3 of 10"); near or over the limit is marked, in words too. */
export function UsageOf({ used, limit, label }: { used: number; limit: number | null | undefined; label: string }) {
  if (limit === undefined) return <span>{count(used)}</span>;
  if (limit === null) return <span title={`${label}: unlimited on this plan`}>{count(used)} <span class="muted">of ∞</span></span>;
  const over = used > limit;
  const near = !over && limit > 0 && used >= limit * 0.9;
  return (
    <span class={over ? 'bad-text' : near ? 'warn-text' : undefined} title={`${label}: ${count(used)} of ${count(limit)}${over ? ' (over the limit)' : near ? ' (near the limit)' : ''}`}>
      {count(used)} <span class={over || near ? undefined : 'muted'}>of {count(limit)}</span>
      {over ? <span class="sr-only"> (over the limit)</span> : near ? <span class="sr-only"> (near the limit)</span> : null}
    </span>
  );
}

/** A business's usage against its plan's limits: branches, members and orders this period. */
export function UsageAgainstPlan({ usage, limits }: { usage: { branches: number; members: number; ordersThisPeriod: number }; limits: { branches: number | null; members: number | null; ordersPerMonth: number | null } | undefined }) {
  return (
    <span class="usage">
      <span>
        <UsageOf used={usage.branches} limit={limits?.branches} label="Branches" /> branches
      </span>
      <span>
        <UsageOf used={usage.members} limit={limits?.members} label="Members" /> members
      </span>
      <span>
        <UsageOf used={usage.ordersThisPeriod} limit={limits?.ordersPerMonth} label="Orders this period" /> orders this period
      </span>
    </span>
  );
}
