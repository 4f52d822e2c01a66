// Which page answers which path. Each area's pages load on first visit (their own chunk), so the
// first paint carries only the shell.
import { lazy, type ComponentType } from 'react';

export interface PageRoute {
  pattern: string;
  /** Rendered with the pattern's named parts as props. */
  page: ComponentType<Record<string, string>>;
  /** Only instance administrators see it (the server enforces this anyway). */
  admin?: boolean;
}

type PageModule = Record<string, ComponentType<Record<string, string>>>;
/** A page component named `name` from a lazily loaded module. */
const page = (load: () => Promise<PageModule>, name: string) => lazy(async () => ({ default: (await load())[name] }));

const dashboard = () => import('./pages/dashboard.js') as Promise<PageModule>;

export const ROUTES: PageRoute[] = [{ pattern: '/', page: page(dashboard, 'Dashboard') }];
