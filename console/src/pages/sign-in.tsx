import { useEffect, useRef, useState } from 'preact/hooks';
import { api, ApiError, ok } from '../api/client';
import { session } from '../session';
import { ErrorBox } from '../components/ui';

export function SignIn({ notice }: { notice: string | null }) {
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  const field = useRef<HTMLInputElement>(null);
  useEffect(() => {
    document.title = 'Sign in · Brigade operations';
    field.current?.focus();
  }, []);
  return (
    <main class="sign-in" id="main">
      <form
        aria-labelledby="sign-in-title"
        onSubmit={async (e) => {
          e.preventDefault();
          setBusy(true);
          setError(null);
          try {
            const { token } = await ok(api.POST('/ops/api/login', { body: { email, password } }));
            setPassword('');
            session.signedIn(token);
          } catch (err) {
            setError(err as ApiError);
          } finally {
            setBusy(false);
          }
        }}
      >
        <h1 id="sign-in-title">Brigade operations</h1>
        <p class="muted">For Brigade's platform operators. Business accounts sign in to their own apps.</p>
        {notice ? (
          <p class="notice" role="status">
            {notice}
          </p>
        ) : null}
        <label for="email">E-mail</label>
        <input id="email" ref={field} type="email" autocomplete="username" required value={email} onInput={(e) => setEmail(e.currentTarget.value)} />
        <label for="password">Password</label>
        <input id="password" type="password" autocomplete="current-password" required value={password} onInput={(e) => setPassword(e.currentTarget.value)} />
        {error ? <ErrorBox error={error} /> : null}
        <button type="submit" class="primary" disabled={busy}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
    </main>
  );
}
