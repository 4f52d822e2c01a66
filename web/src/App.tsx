// The shell: sign-in when signed out, otherwise the sidebar and the page of the current path.
import { Component, Suspense, useState, type ReactNode } from 'react';
import { Loading, Page } from './components/common.js';
import { SignIn } from './pages/sign-in.js';
import { Link, matchPath, useLocation } from './router.js';
import { ROUTES } from './routes.js';
import { useSession } from './session.js';
import { applyTheme, storedTheme, type Theme } from './theme.js';

interface NavItem {
  to: string;
  label: string;
  admin?: boolean;
  /** The user's own pages: listed with the account controls (theme, sign out), not the main nav. */
  account?: boolean;
}

const NAV: NavItem[] = [
  { to: '/', label: 'Dashboard' },
  { to: '/repos', label: 'Repositories' },
  { to: '/alerts', label: 'Alerts' },
  { to: '/slos', label: 'SLOs' },
  { to: '/profile/tokens', label: 'Access tokens', account: true },
  { to: '/profile/notifications', label: 'My notifications', account: true },
  { to: '/admin/users', label: 'Users', admin: true },
  { to: '/admin/agents', label: 'Agents', admin: true },
  { to: '/admin/audit', label: 'Audit log', admin: true },
  { to: '/admin/backups', label: 'Backups & drills', admin: true },
];

/** Pages reached from a repository belong to Repositories in the sidebar. */
const REPO_PAGES = ['/pipelines/', '/jobs/'];

/** The nav entry a path belongs to: the longest prefix. */
function currentNav(path: string): string {
  if (REPO_PAGES.some((prefix) => path.startsWith(prefix))) return '/repos';
  let best = '/';
  for (const item of NAV)
    if (item.to !== '/' && (path === item.to || path.startsWith(item.to + '/')) && item.to.length > best.length) best = item.to;
  return best;
}

class PageErrorBoundary extends Component<{ children: ReactNode; resetKey: string }, { error: Error | null; key: string }> {
  override state = { error: null as Error | null, key: this.props.resetKey };
  static getDerivedStateFromError(error: Error) {
    return { error };
  }
  static getDerivedStateFromProps(props: { resetKey: string }, state: { key: string }) {
    return props.resetKey !== state.key ? { error: null, key: props.resetKey } : null;
  }
  override render() {
    if (this.state.error)
      return (
        <div role="alert" className="error-box">
          This page failed: {this.state.error.message}
        </div>
      );
    return this.props.children;
  }
}

function ThemeSwitch() {
  const [theme, setTheme] = useState<Theme>(storedTheme);
  return (
    <label className="muted">
      Theme
      <select
        value={theme}
        onChange={(e) => {
          const next = e.target.value as Theme;
          applyTheme(next);
          setTheme(next);
        }}
      >
        <option value="system">System</option>
        <option value="light">Light</option>
        <option value="dark">Dark</option>
      </select>
    </label>
  );
}

export function App() {
  const { session, signOut } = useSession();
  const location = useLocation();
  const [menuOpen, setMenuOpen] = useState(false);
  const path = location.pathname;

  if (session === undefined) return <Loading what="Tandem" />;
  if (session === null) return <SignIn returnTo={path + location.search + location.hash} />;

  const admin = session.user.admin;
  const active = currentNav(path);
  const navLink = (item: NavItem) => (
    <Link key={item.to} to={item.to} aria-current={item.to === active ? 'page' : undefined} onClick={() => setMenuOpen(false)}>
      {item.label}
    </Link>
  );
  let content: ReactNode = (
    <Page title="Not found">
      <p>
        Nothing lives at <code>{path}</code>. <Link to="/">Back to the dashboard</Link>.
      </p>
    </Page>
  );
  for (const route of ROUTES) {
    const params = matchPath(route.pattern, path);
    if (!params) continue;
    const Found = route.page;
    content =
      route.admin && !admin ? (
        <Page title="Administrators only">
          <p>This page is for instance administrators.</p>
        </Page>
      ) : (
        <Found {...params} />
      );
    break;
  }

  return (
    <div className="app">
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <aside className={`sidebar${menuOpen ? ' open' : ''}`}>
        <button
          type="button"
          className="menu-toggle"
          aria-expanded={menuOpen}
          aria-controls="main-nav account-controls"
          onClick={() => setMenuOpen((o) => !o)}
        >
          Menu
        </button>
        <Link to="/" className="brand">
          Tandem
        </Link>
        <nav id="main-nav" aria-label="Main">
          {NAV.filter((item) => !item.account && (!item.admin || admin)).map(navLink)}
        </nav>
        <div className="who">
          <p>
            Signed in as <strong>{session.user.username}</strong>
            {admin ? ' (admin)' : ''}
          </p>
          {/* On a phone these fold into the Menu with the main nav: the page starts at its content. */}
          <div id="account-controls" className="account">
            <nav aria-label="Account">{NAV.filter((item) => item.account).map(navLink)}</nav>
            <ThemeSwitch />
            <button type="button" onClick={() => void signOut()}>
              Sign out
            </button>
          </div>
        </div>
      </aside>
      <main id="main" tabIndex={-1}>
        <PageErrorBoundary resetKey={path}>
          <Suspense fallback={<Loading />}>{content}</Suspense>
        </PageErrorBoundary>
      </main>
    </div>
  );
}
