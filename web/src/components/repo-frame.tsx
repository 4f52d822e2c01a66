// A repository's pages share one frame: the repository loaded once with the caller's permissions,
// and tabs between its pipelines, environments, schedules, coverage, test history, DORA metrics and
// settings.
import { createContext, useContext, type ReactNode } from 'react';
import { useApi, type Loaded } from '../api.js';
import { Link, seg, useLocation } from '../router.js';
import type { RepoWithAccess } from '../types.js';
import { Await, Page } from './common.js';

const RepoContext = createContext<{ repo: RepoWithAccess; reload: () => void } | null>(null);

const TABS = [
  { path: '', label: 'Pipelines' },
  { path: '/environments', label: 'Environments' },
  { path: '/schedules', label: 'Schedules', needs: 'schedule.read' },
  { path: '/coverage', label: 'Coverage' },
  { path: '/tests', label: 'Test history', needs: 'log.read' },
  { path: '/dora', label: 'DORA metrics' },
  { path: '/settings', label: 'Settings', needs: 'variable.read' },
];

/** Frames a page of repository `name`; `title` is the page's own (the repository's name is in the crumbs). */
export function RepoFrame({
  name,
  title,
  actions,
  children,
}: {
  name: string;
  title: string;
  actions?: (repo: RepoWithAccess) => ReactNode;
  children: ReactNode;
}) {
  const loaded: Loaded<RepoWithAccess> = useApi<RepoWithAccess>(`/api/v1/repos/${seg(name)}`);
  const location = useLocation();
  const base = `/repos/${seg(name)}`;
  return (
    <Await loaded={loaded} what="the repository">
      {(repo) => (
        <Page
          title={title}
          actions={actions?.(repo)}
          crumbs={
            <>
              <Link to="/repos">Repositories</Link> / <Link to={base}>{repo.name}</Link>
            </>
          }
        >
          <nav className="tabs" aria-label="Repository">
            {TABS.filter((t) => !t.needs || repo.you.permissions.includes(t.needs)).map((t) => {
              const to = base + t.path;
              const current = t.path === '' ? location.pathname === base : location.pathname.startsWith(to);
              return (
                <Link key={t.label} to={to} aria-current={current ? 'page' : undefined}>
                  {t.label}
                </Link>
              );
            })}
          </nav>
          <RepoContext.Provider value={{ repo, reload: loaded.reload }}>{children}</RepoContext.Provider>
        </Page>
      )}
    </Await>
  );
}

/** The framed repository and whether the caller holds a permission there (`environment.rollback`...). */
export function useRepo(): { repo: RepoWithAccess; can: (permission: string) => boolean; reload: () => void } {
  const value = useContext(RepoContext);
  if (!value) throw new Error('useRepo outside RepoFrame');
  return { repo: value.repo, reload: value.reload, can: (p) => value.repo.you.permissions.includes(p) };
}
