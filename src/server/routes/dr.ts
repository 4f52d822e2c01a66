// Disaster-recovery records: the backups made (scheduled or by `tandem backup create`) and the
// drills run, newest first, as the metrics see them. The backups themselves are listed from their
// destination by `tandem backup list`.
import { listBackupRecords, listDrillRecords } from '../../dr/index.js';
import type { ServerContext } from '../context.js';
import type { RouteTable } from '../http.js';
import { integerParam } from '../query.js';
import { backupView, drillView } from '../presenters.js';

const limitOf = (query: Record<string, string | undefined>) => integerParam(query, 'limit', { min: 1, max: 500, fallback: 50 });

export function registerDrRoutes(routes: RouteTable, ctx: ServerContext): void {
  routes.add({
    method: 'GET',
    url: '/api/v1/backups',
    summary: 'Backups made of this instance, newest first (?limit=, default 50): status, snapshot time, sizes, who made them',
    tag: 'disaster recovery',
    access: 'user',
    async handler({ query }) {
      const rows = await listBackupRecords(ctx.store.db, limitOf(query));
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
      const rows = await listDrillRecords(ctx.store.db, limitOf(query));
      return rows.map(drillView);
    },
  });
}
