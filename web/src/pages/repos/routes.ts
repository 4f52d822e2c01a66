// The repositories area: the list, a repository's settings, its environments and their releases,
// its pipeline schedules, its tests' history.
import { lazyPage, type PageRoute } from '../../routes.js';

const list = () => import('./repo-list.js');
const settings = () => import('./settings.js');
const environments = () => import('./environments.js');
const environment = () => import('./environment.js');
const schedules = () => import('./schedules.js');
const coverage = () => import('./coverage.js');
const tests = () => import('./tests.js');

export const REPO_ROUTES: PageRoute[] = [
  { pattern: '/repos', page: lazyPage(list, 'RepoList') },
  { pattern: '/repos/:name/settings', page: lazyPage(settings, 'RepoSettings') },
  { pattern: '/repos/:name/environments', page: lazyPage(environments, 'EnvironmentList') },
  { pattern: '/repos/:name/environments/:env', page: lazyPage(environment, 'EnvironmentPage') },
  { pattern: '/repos/:name/schedules', page: lazyPage(schedules, 'SchedulesPage') },
  { pattern: '/repos/:name/coverage', page: lazyPage(coverage, 'CoveragePage') },
  { pattern: '/repos/:name/tests', page: lazyPage(tests, 'TestsPage') },
];
