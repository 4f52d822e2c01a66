// The monitoring pages: alerts and silences, SLOs, a repository's DORA metrics (the dashboard is
// the shell's own route).
import { lazyPage, type PageRoute } from '../../routes.js';

export const OBSERVE_ROUTES: PageRoute[] = [
  { pattern: '/alerts', page: lazyPage(() => import('./alerts.js'), 'AlertsPage') },
  { pattern: '/slos', page: lazyPage(() => import('./slos.js'), 'SlosPage') },
  { pattern: '/repos/:name/dora', page: lazyPage(() => import('./dora.js'), 'DoraPage') },
];
