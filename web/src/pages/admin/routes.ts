// Administration: users, agents, the audit log, backups and drills (administrators only), and each
// user's own access tokens and notifications.
import { lazyPage, type PageRoute } from '../../routes.js';

export const ADMIN_ROUTES: PageRoute[] = [
  { pattern: '/admin/users', page: lazyPage(() => import('./users.js'), 'UsersPage'), admin: true },
  { pattern: '/admin/agents', page: lazyPage(() => import('./agents.js'), 'AgentsPage'), admin: true },
  { pattern: '/admin/audit', page: lazyPage(() => import('./audit.js'), 'AuditPage'), admin: true },
  { pattern: '/admin/backups', page: lazyPage(() => import('./backups.js'), 'BackupsPage'), admin: true },
  { pattern: '/profile/tokens', page: lazyPage(() => import('./tokens.js'), 'TokensPage') },
  { pattern: '/profile/notifications', page: lazyPage(() => import('./notifications.js'), 'MyNotificationsPage') },
];
