/**
 * The operator's session: one token, kept in sessionStorage (this tab only, gone when it
 * closes). Signing out or an expired token clears it and every cache, so the next render is
 * the sign-in page with nothing of the last session left on screen.
 */
const KEY = 'brigade.ops.token';
type Listener = () => void;

export interface SessionState {
  token: string | null;
  /** Why the operator is looking at the sign-in page, when it is not their own doing. */
  notice: string | null;
}

let state: SessionState = { token: sessionStorage.getItem(KEY), notice: null };
const listeners = new Set<Listener>();
const resets = new Set<() => void>();

function set(next: SessionState) {
  state = next;
  if (next.token) sessionStorage.setItem(KEY, next.token);
  else sessionStorage.removeItem(KEY);
  for (const l of listeners) l();
}

export const session = {
  get: () => state,
  token: () => state.token,
  subscribe(l: Listener): () => void {
    listeners.add(l);
    return () => listeners.delete(l);
  },
  /** Something that holds data of a session (a cache) registers how to forget it. */
  onReset(fn: () => void) {
    resets.add(fn);
  },
  signedIn(token: string) {
    set({ token, notice: null });
  },
  signedOut(notice: string | null = null) {
    for (const fn of resets) fn();
    set({ token: null, notice });
  },
};
