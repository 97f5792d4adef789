import { useEffect, useRef, useState } from 'preact/hooks';
import type { ComponentType } from 'preact';
import { session } from './session';
import { api, ok } from './api/client';
import { Link, match, useLocation } from './router';
import { SignIn } from './pages/sign-in';
import { Overview } from './pages/overview';
import { Jobs } from './pages/jobs';
import { Job } from './pages/job';
import { Billing } from './pages/billing';
import { Mail } from './pages/mail';
import { Activity } from './pages/activity';
import { Support } from './pages/support';
import { Tenant } from './pages/tenant';
import { Tenants } from './pages/tenants';
import { Alerts, AlertPage } from './pages/alerts';
import { NotFound } from './pages/not-found';
import { operatorZone } from './lib/format';

type Page = ComponentType<{ params: Record<string, string> }>;

/** The pages, each at its own URL (an incident note can link to any of them). */
const routes: { pattern: string; page: Page; title: string }[] = [
  { pattern: '/', page: Overview, title: 'Overview' },
  { pattern: '/jobs', page: Jobs, title: 'Jobs' },
  { pattern: '/jobs/:queue/:id', page: Job, title: 'Job' },
  { pattern: '/billing', page: Billing, title: 'Billing' },
  { pattern: '/mail', page: Mail, title: 'Mail' },
  { pattern: '/support', page: Support, title: 'Support access' },
  { pattern: '/tenants', page: Tenants, title: 'Tenants' },
  { pattern: '/tenants/:id', page: Tenant, title: 'Business' },
  { pattern: '/alerts', page: Alerts, title: 'Alerts' },
  { pattern: '/alerts/:id', page: AlertPage, title: 'Alert' },
  { pattern: '/activity', page: Activity, title: 'Activity' },
];

const nav = [
  { href: '/', label: 'Overview' },
  { href: '/alerts', label: 'Alerts' },
  { href: '/tenants', label: 'Tenants' },
  { href: '/jobs', label: 'Jobs' },
  { href: '/billing', label: 'Billing' },
  { href: '/mail', label: 'Mail' },
  { href: '/support', label: 'Support access' },
  { href: '/activity', label: 'Activity' },
];

function useSession() {
  const [state, setState] = useState(session.get());
  useEffect(() => session.subscribe(() => setState(session.get())), []);
  return state;
}

export function App() {
  const { token, notice } = useSession();
  // Signed out: nothing but the sign-in form is rendered, so no row of the last session survives.
  if (!token) return <SignIn notice={notice} />;
  return <Shell key={token} />;
}

function Shell() {
  const loc = useLocation();
  const [me, setMe] = useState<{ email: string; name: string } | null>(null);
  const main = useRef<HTMLElement>(null);
  useEffect(() => {
    ok(api.GET('/ops/api/me')).then((m) => setMe(m.operator), () => undefined);
  }, []);

  let found: { page: Page; params: Record<string, string>; title: string } | null = null;
  for (const r of routes) {
    const params = match(r.pattern, loc.path);
    if (params) {
      found = { page: r.page, params, title: r.title };
      break;
    }
  }
  const title = found?.title ?? 'Not found';
  useEffect(() => {
    document.title = `${title} · Brigade operations`;
  }, [title]);
  // After navigation, focus moves to the page's heading, as a screen reader user expects.
  const first = useRef(true);
  useEffect(() => {
    if (first.current) {
      first.current = false;
      return;
    }
    main.current?.querySelector<HTMLElement>('h1')?.focus();
  }, [loc.path]);

  const Page = found?.page ?? NotFound;
  const section = '/' + (loc.path.split('/')[1] ?? '');
  return (
    <div class="shell">
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="topbar">
        <Link href="/" class="brand">
          Brigade <span>operations</span>
        </Link>
        <nav aria-label="Sections" class="nav">
          {nav.map((n) => (
            <Link key={n.href} href={n.href} aria-current={(n.href === '/' ? loc.path === '/' : section === n.href) ? 'page' : undefined}>
              {n.label}
            </Link>
          ))}
        </nav>
        <div class="who">
          <span title={`Times are shown in ${operatorZone}`}>{me ? me.name || me.email : ''}</span>
          <button
            type="button"
            class="secondary"
            onClick={async () => {
              // Revoke the token first; whatever the answer, nothing of this session stays on screen.
              await api.POST('/ops/api/logout').catch(() => undefined);
              session.signedOut('You have signed out.');
            }}
          >
            Sign out
          </button>
        </div>
      </header>
      <main id="main" ref={main}>
        <Page key={loc.path} params={found?.params ?? {}} />
      </main>
    </div>
  );
}
