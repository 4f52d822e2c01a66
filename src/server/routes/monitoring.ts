// Monitoring API: SLOs with their error budgets (the built-in ones evaluated from Tandem's own
// counts), and DORA metrics of a repository from its release history.
import type { SloEvaluation } from '../../monitor/burn.js';
import { doraForRepo } from '../../monitor/dora.js';
import { evaluateBuiltinSlos, sloSummary } from '../../monitor/sli-recorder.js';
import { allSlos } from '../../monitor/slo.js';
import type { ServerContext } from '../context.js';
import { ApiError, type RouteTable } from '../http.js';
import { findRepo } from './repos.js';

const MAX_DORA_DAYS = 365;

export function registerMonitoringRoutes(routes: RouteTable, ctx: ServerContext): void {
  routes.add({
    method: 'GET',
    url: '/api/v1/slos',
    summary: "SLOs: Tandem's own with burn rates, alerts and error budget left (from its own counts), and those of tandem.yml as last measured through Prometheus (prometheusUrl)",
    tag: 'monitoring',
    access: 'user',
    async handler() {
      // This replica's latest counts count too; other replicas' arrive within their flush interval.
      await ctx.sli.flush();
      const now = ctx.clock.now();
      const builtin = await evaluateBuiltinSlos(ctx.store.db, now, { scale: ctx.config.sloWindowScale });
      // Declared SLOs as the leader last measured them through Prometheus (prometheusUrl), if it did.
      const measured = new Map((await ctx.store.db.selectFrom('slo_evaluations').selectAll().execute()).map((r) => [r.slo, r]));
      const declared = allSlos(ctx.config.slos, { builtin: false }).map((s) => {
        const row = measured.get(s.name);
        return {
          ...sloSummary(s),
          evaluation: row?.evaluation ? (JSON.parse(row.evaluation) as SloEvaluation) : null,
          ...(row ? { evaluatedAt: new Date(row.evaluated_at).toISOString(), ...(row.error ? { error: row.error } : {}) } : {}),
        };
      });
      return { evaluatedAt: new Date(now).toISOString(), slos: [...builtin, ...declared] };
    },
  });

  routes.add({
    method: 'GET',
    url: '/api/v1/repos/:name/dora',
    summary: 'DORA metrics per environment (deployment frequency, lead time, change failure rate, time to restore) over ?days= (default 30), or of ?environment= only',
    tag: 'monitoring',
    access: 'user',
    async handler({ params, query }) {
      const repo = await findRepo(ctx, params.name!);
      const days = query.days === undefined ? 30 : Number(query.days);
      if (!Number.isInteger(days) || days < 1 || days > MAX_DORA_DAYS) throw new ApiError(400, `days: expected a whole number of days from 1 to ${MAX_DORA_DAYS}, got "${query.days}"`);
      const environment = query.environment || undefined;
      const now = ctx.clock.now();
      const environments = await doraForRepo(ctx.store.db, repo.id, { environment, days, now });
      if (environment !== undefined && environments.length === 0) throw new ApiError(404, `repository ${repo.name} has no environment "${environment}"`);
      return {
        repo: repo.name,
        days,
        since: new Date(now - days * 86_400_000).toISOString(),
        until: new Date(now).toISOString(),
        commitTime: 'the first pipeline of the commit (Tandem does not store commit times)',
        environments,
      };
    },
  });
}
