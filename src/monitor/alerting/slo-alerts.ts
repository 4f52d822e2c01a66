// SLO alerts from Tandem's own evaluation: the burn-rate table's alerts with the labels and
// annotations of the generated rules, the budget-exhausted alert (which freezes deploys when the
// SLO's policy says so), and for declared SLOs the counts per window from Prometheus, by instant
// queries of the same PromQL the rules record.
import { SLI_WINDOWS, evaluateBurn, type Counts, type SloEvaluation, type SliWindow } from '../burn.js';
import { ALERT_NAME, BUDGET_EXHAUSTED_ALERT, burnAnnotations, exhaustedAnnotations, sloLabels } from '../rules.js';
import { promRange, sliQueries, type Slo } from '../slo.js';
import type { AlertCondition } from './state.js';

export interface SloAlertOptions {
  runbookBase: string;
  /** Burning SLOs of an environment roll it back (within the window after a deploy). */
  rollback: boolean;
}

export function sloConditions(slo: Slo, evaluation: SloEvaluation, options: SloAlertOptions): AlertCondition[] {
  const labels = sloLabels(slo);
  const environment = slo.repo !== null && slo.environment !== null ? { repo: slo.repo, environment: slo.environment } : null;
  const out: AlertCondition[] = [];
  for (const severity of ['page', 'ticket'] as const) {
    const firing = evaluation.alerts.filter((a) => a.severity === severity && a.firing);
    if (firing.length === 0) continue;
    out.push({
      name: ALERT_NAME,
      severity,
      labels,
      annotations: burnAnnotations(slo, severity, { runbookBase: options.runbookBase }),
      value: Math.max(...firing.map((a) => evaluation.windows[a.short].burnRate ?? 0)),
      ...(environment && options.rollback ? { rollback: environment } : {}),
    });
  }
  if (evaluation.budget.total > 0 && evaluation.budget.remaining <= 0) {
    out.push({
      name: BUDGET_EXHAUSTED_ALERT,
      severity: 'ticket',
      labels,
      annotations: exhaustedAnnotations(slo, { runbookBase: options.runbookBase }),
      value: evaluation.budget.remaining,
      ...(environment && slo.freezeDeploys ? { freeze: { ...environment, slo: slo.name } } : {}),
    });
  }
  return out;
}

/** One instant query's single value; null when the result is empty (no series matched). */
export async function instantQuery(baseUrl: string, promql: string, timeoutMs = 10_000): Promise<number | null> {
  const url = `${baseUrl.replace(/\/+$/, '')}/api/v1/query?query=${encodeURIComponent(promql)}`;
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  } catch (err) {
    const e = err as Error & { cause?: { message?: string } };
    throw new Error(`Prometheus ${new URL(baseUrl).origin}: ${e.cause?.message ?? e.message}`);
  }
  const text = await res.text();
  let body: { status?: string; error?: string; data?: { resultType: string; result: unknown } };
  try {
    body = JSON.parse(text) as typeof body;
  } catch {
    throw new Error(`Prometheus ${new URL(baseUrl).origin} answered ${res.status}, not JSON: ${text.slice(0, 200)}`);
  }
  if (body.status !== 'success' || !body.data)
    throw new Error(`Prometheus ${new URL(baseUrl).origin}: query ${promql} failed: ${body.error ?? res.status}`);
  const { resultType, result } = body.data;
  if (resultType === 'scalar') return Number((result as [number, string])[1]);
  const vector = result as { value: [number, string] }[];
  if (vector.length === 0) return null;
  if (vector.length > 1)
    throw new Error(`Prometheus: query ${promql} returned ${vector.length} series; an SLI query must aggregate to one (sum(...))`);
  return Number(vector[0].value[1]);
}

/** Bad and all events per second over each window and the period, from Prometheus (no series: 0). */
export async function prometheusCounts(
  baseUrl: string,
  slo: Slo,
  scale = 1,
): Promise<{ windows: Record<SliWindow, Counts>; period: Counts }> {
  const spans = [...SLI_WINDOWS, slo.period] as const;
  const counts = await Promise.all(
    spans.map(async (w) => {
      const q = sliQueries(slo.sli, promRange(w, scale));
      const [errors, total] = await Promise.all([instantQuery(baseUrl, q.errors), instantQuery(baseUrl, q.total)]);
      const clean = (v: number | null) => (v === null || Number.isNaN(v) ? 0 : v);
      return { errors: clean(errors), total: clean(total) };
    }),
  );
  return {
    windows: Object.fromEntries(SLI_WINDOWS.map((w, i) => [w, counts[i]])) as Record<SliWindow, Counts>,
    period: counts[SLI_WINDOWS.length],
  };
}

export async function evaluateWithPrometheus(baseUrl: string, slo: Slo, scale = 1): Promise<SloEvaluation> {
  return evaluateBurn(slo.objective, slo.period, await prometheusCounts(baseUrl, slo, scale));
}
