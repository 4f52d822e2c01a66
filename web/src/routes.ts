// Which page answers which path. Each area's pages load on first visit (their own chunk), so the
// first paint carries only the shell. Every area lists its pages in its own `routes.ts`.
import type { ComponentType } from 'react';
import { lazy } from 'react';
import { ADMIN_ROUTES } from './pages/admin/routes.js';
import { OBSERVE_ROUTES } from './pages/observe/routes.js';
import { REPO_ROUTES } from './pages/repos/routes.js';
import { PIPELINE_ROUTES } from './pages/pipelines/routes.js';

export interface PageRoute {
  pattern: string;
  /** Rendered with the pattern's named parts as props. */
  page: ComponentType<Record<string, string>>;
  /** Only instance administrators see it (the server enforces this anyway). */
  admin?: boolean;
}

type PageModule = Record<string, unknown>;

/** The page component `name` of a lazily loaded module (its own chunk, loaded on first visit). */
export function lazyPage(load: () => Promise<PageModule>, name: string): ComponentType<Record<string, string>> {
  return lazy(async () => ({ default: (await load())[name] as ComponentType<Record<string, string>> }));
}

const dashboard = () => import('./pages/dashboard.js');

export const ROUTES: PageRoute[] = [
  { pattern: '/', page: lazyPage(dashboard, 'Dashboard') },
  ...OBSERVE_ROUTES,
  ...ADMIN_ROUTES,
  ...REPO_ROUTES,
  ...PIPELINE_ROUTES,
];
