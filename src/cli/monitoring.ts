// Commands for SLOs and DORA metrics: slo rules (a Prometheus rule file), slo status (error budgets
// from the server's own evaluation), dora (delivery performance of a repository).
import type { DoraMetrics, SloList } from '../api/index.js';
import { loadConfig } from '../config/index.js';
import { sloRuleFile } from '../monitor/index.js';
import { allSlos } from '../monitor/index.js';
import { ApiClient, type ApiOptions } from './api-client.js';
import { printJson, printTable } from './output.js';

export async function sloRules(opts: { config?: string; builtin?: boolean; runbookBase?: string }) {
  const config = loadConfig({ config: opts.config });
  process.stdout.write(sloRuleFile(allSlos(config.slos, { builtin: opts.builtin }), { runbookBase: opts.runbookBase }));
}

type Listing = ApiOptions & { json?: boolean };

const percent = (ratio: number | null, digits = 1) => (ratio === null ? '-' : `${(ratio * 100).toFixed(digits)}%`);
const burn = (rate: number | null) => (rate === null ? '-' : `${rate.toFixed(rate < 10 ? 2 : 0)}x`);

export async function sloStatus(opts: Listing) {
  const result = await ApiClient.fromOptions(opts).json<SloList>('GET', '/api/v1/slos');
  if (opts.json) return printJson(result);
  printTable(
    result.slos.map((s) => {
      const e = s.evaluation;
      return {
        name: s.name,
        objective: `${s.objective}% / ${s.period}`,
        budgetLeft: e ? percent(e.budget.remaining) : '(Prometheus)',
        errors: e ? `${e.budget.errors}/${e.budget.total}` : '',
        burn1h: e ? burn(e.windows['1h'].burnRate) : '',
        burn6h: e ? burn(e.windows['6h'].burnRate) : '',
        burn3d: e ? burn(e.windows['3d'].burnRate) : '',
        alert: e?.firing ?? '',
        scope: s.repo ? `${s.repo}${s.environment ? `/${s.environment}` : ''}` : 'tandem',
      };
    }),
    ['name', 'scope', 'objective', 'budgetLeft', 'errors', 'burn1h', 'burn6h', 'burn3d', 'alert'],
  );
}

const duration = (seconds: number | null) => {
  if (seconds === null) return '-';
  if (seconds < 120) return `${Math.round(seconds)}s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)}m`;
  if (seconds < 172_800) return `${(seconds / 3600).toFixed(1)}h`;
  return `${(seconds / 86_400).toFixed(1)}d`;
};

export async function dora(repo: string, opts: Listing & { environment?: string; days?: string }) {
  const params = new URLSearchParams({ days: opts.days ?? '30', ...(opts.environment ? { environment: opts.environment } : {}) });
  const result = await ApiClient.fromOptions(opts).json<{ repo: string; days: number; environments: DoraMetrics[] }>(
    'GET',
    `/api/v1/repos/${encodeURIComponent(repo)}/dora?${params}`,
  );
  if (opts.json) return printJson(result);
  console.log(`${result.repo}, last ${result.days} days (lead time from each commit's first pipeline)`);
  printTable(
    result.environments.map((e) => ({
      environment: e.environment,
      deploys: `${e.deployments.live}/${e.deployments.total}`,
      perDay: e.deploymentFrequency.toFixed(2),
      leadTimeP50: duration(e.leadTime.p50Seconds),
      changeFailureRate: percent(e.changeFailureRate),
      restoreP50: duration(e.timeToRestore.p50Seconds),
      unrestored: e.timeToRestore.unrestored,
    })),
    ['environment', 'deploys', 'perDay', 'leadTimeP50', 'changeFailureRate', 'restoreP50', 'unrestored'],
  );
}
