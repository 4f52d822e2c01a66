// Disaster-recovery records: the backups made (scheduled or by `tandem backup create`) and the
// drills run, newest first, as the metrics see them. The backups themselves are listed from their
// destination by `tandem backup list`.
import type { ServerContext } from '../context.js';
import { ApiError, type RouteTable } from '../http.js';
import { backupView, drillView } from './views.js';

function limitOf(value: string | undefined): number {
  if (value === undefined) return 50;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 500) throw new ApiError(400, `limit: expected a whole number from 1 to 500, got "${value}"`);
  return n;
}

export function registerDrRoutes(routes: RouteTable, ctx: ServerContext): void {
  routes.add({
    method: 'GET',
    url: '/api/v1/backups',
    summary: 'Backups made of this instance, newest first (?limit=, default 50): status, snapshot time, sizes, who made them',
    tag: 'disaster recovery',
    access: 'user',
    async handler({ query }) {
      const rows = await ctx.store.db.selectFrom('backups').selectAll().orderBy('started_at', 'desc').limit(limitOf(query.limit)).execute();
      return rows.map(backupView);
    },
  });

  routes.add({
    method: 'GET',
    url: '/api/v1/dr/drills',
    summary: 'Disaster-recovery drills, newest first (?limit=, default 50): result, RTO, RPO and each step',
    tag: 'disaster recovery',
    access: 'user',
    async handler({ query }) {
      const rows = await ctx.store.db.selectFrom('dr_drills').selectAll().orderBy('id', 'desc').limit(limitOf(query.limit)).execute();
      return rows.map(drillView);
    },
  });
}
