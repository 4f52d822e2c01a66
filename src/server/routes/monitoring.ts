// Monitoring API: SLOs with their error budgets (the built-in ones evaluated from Tandem's own
// counts), and DORA metrics of a repository from its release history.
import { readSloEvaluation } from '../../monitor/index.js';
import { doraForRepo } from '../../monitor/index.js';
import { evaluateBuiltinSlos, recordedBudgetHistory, recordedSloEvaluations, sloSummary } from '../../monitor/index.js';
import { allSlos, BUILTIN_SLOS } from '../../monitor/index.js';
import { requireRepo } from '../../repos/index.js';
import type { ServerContext } from '../context.js';
import { ApiError, type RouteTable } from '../http.js';
import { integerParam } from '../query.js';

const MAX_DORA_DAYS = 365;
/** Slots of an SLO's budget history (?history=1): a day each over a 30-day period. */
const HISTORY_SLOTS = 30;
const MAX_DORA_SLOTS = 52;

export function registerMonitoringRoutes(routes: RouteTable, ctx: ServerContext): void {
  routes.add({
    method: 'GET',
    url: '/api/v1/slos',
    summary:
      "SLOs: Tandem's own with burn rates, alerts and error budget left (from its own counts; ?history=1 adds each one's budget burn-down over its period in 30 slots), and those of tandem.yml as last measured through Prometheus (prometheusUrl)",
    tag: 'monitoring',
    access: 'user',
    async handler({ query }) {
      // This replica's latest counts count too; other replicas' arrive within their flush interval.
      await ctx.sli.flush();
      const now = ctx.clock.now();
      const scale = ctx.config.sloWindowScale;
      const evaluated = await evaluateBuiltinSlos(ctx.store.db, now, { scale });
      const withHistory = query.history === '1' || query.history === 'true';
      const builtin = withHistory
        ? await Promise.all(
            evaluated.map(async (status, i) => ({
              ...status,
              history: await recordedBudgetHistory(ctx.store.db, BUILTIN_SLOS[i], now, { scale, slots: HISTORY_SLOTS }),
            })),
          )
        : evaluated;
      // Declared SLOs as the leader last measured them through Prometheus (prometheusUrl), if it did.
      const measured = await recordedSloEvaluations(ctx.store.db);
      const declared = allSlos(ctx.config.slos, { builtin: false }).map((s) => {
        const row = measured.get(s.name);
        return {
          ...sloSummary(s),
          evaluation: row ? readSloEvaluation(row) : null,
          ...(row ? { evaluatedAt: new Date(row.evaluated_at).toISOString(), ...(row.error ? { error: row.error } : {}) } : {}),
        };
      });
      return { evaluatedAt: new Date(now).toISOString(), slos: [...builtin, ...declared] };
    },
  });

  routes.add({
    method: 'GET',
    url: '/api/v1/repos/:name/dora',
    summary:
      "DORA metrics per environment (deployment frequency, lead time, change failure rate, time to restore) over ?days= (default 30), or of ?environment= only; ?slots=N adds each environment's metrics over N equal consecutive slots of the window (a series for charts)",
    tag: 'monitoring',
    access: 'user',
    async handler({ params, query }) {
      const repo = await requireRepo(ctx.store, params.name!);
      const days = integerParam(query, 'days', { min: 1, max: MAX_DORA_DAYS, fallback: 30 });
      const slots = integerParam(query, 'slots', { min: 1, max: MAX_DORA_SLOTS });
      const environment = query.environment || undefined;
      const now = ctx.clock.now();
      const environments = await doraForRepo(ctx.store.db, repo.id, { environment, days, now, slots });
      if (environment !== undefined && environments.length === 0)
        throw new ApiError(404, `repository ${repo.name} has no environment "${environment}"`);
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
