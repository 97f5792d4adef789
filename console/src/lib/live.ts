import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { ApiError } from '../api/client';

export interface Live<T> {
  data: T | undefined;
  error: ApiError | null;
  /** True only while nothing has been shown yet for the current query. */
  loading: boolean;
  /** A refresh is under way with the last answer still on screen. */
  refreshing: boolean;
  /** The data shown is the answer to the previous query (`keep`), while this one is fetched. */
  stale: boolean;
  updatedAt: number | null;
  refresh(): void;
}

/**
 * Data that stays current without moving the operator: the last answer stays on screen while
 * the next is fetched (no flash, scroll and focus kept), refreshes pause while the tab is
 * hidden, and a changed query (`key`) starts afresh. A refresh that fails keeps the data and
 * shows the error beside it.
 *
 * `keep`: a changed query (another sort, filter or page of the same list) keeps the previous
 * answer on screen, marked stale, until the new one arrives, so the table and the control the
 * operator just used stay where they are (focus is not lost to a loading state).
 */
export function useLive<T>(fetch: () => Promise<T>, key: string, intervalMs = 5000, opts: { keep?: boolean } = {}): Live<T> {
  const [state, setState] = useState<{ key: string; data?: T; error: ApiError | null; updatedAt: number | null }>({ key, error: null, updatedAt: null });
  const [refreshing, setRefreshing] = useState(false);
  const fetchRef = useRef(fetch);
  fetchRef.current = fetch;
  const generation = useRef(0);

  const run = useCallback(() => {
    const mine = ++generation.current;
    setRefreshing(true);
    fetchRef.current().then(
      (data) => mine === generation.current && setState({ key, data, error: null, updatedAt: Date.now() }),
      (err: unknown) =>
        mine === generation.current &&
        setState((s) => ({ ...s, key, error: err instanceof ApiError ? err : new ApiError({ type: 'about:blank', title: 'Error', status: 0, code: 'client_error', detail: String(err) }, 0) })),
    ).finally(() => mine === generation.current && setRefreshing(false));
  }, [key]);

  useEffect(() => {
    run();
    if (intervalMs <= 0) return;
    const timer = setInterval(() => {
      if (!document.hidden) run();
    }, intervalMs);
    const visible = () => !document.hidden && run();
    document.addEventListener('visibilitychange', visible);
    return () => {
      clearInterval(timer);
      document.removeEventListener('visibilitychange', visible);
      generation.current++;
    };
  }, [run, intervalMs]);

  const current = state.key === key;
  const stale = !current && opts.keep === true && state.data !== undefined;
  return {
    data: current || stale ? state.data : undefined,
    error: current ? state.error : null,
    loading: !current || (state.data === undefined && state.error === null),
    refreshing: refreshing || stale,
    stale,
    updatedAt: current ? state.updatedAt : null,
    refresh: run,
  };
}

/** Data that came with something else (a business's transitions with the business), shown like a live query's. */
export function fixed<T>(data: T): Live<T> {
  return { data, error: null, loading: false, refreshing: false, stale: false, updatedAt: null, refresh: () => undefined };
}
