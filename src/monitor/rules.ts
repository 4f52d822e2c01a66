// A Prometheus rule file for SLOs, as Sloth and Pyrra make them: per SLO, recording rules for the
// error ratio over each window of the burn-rate table (and over the SLO period, for the budget),
// and one alerting rule per severity in that table.
import { stringify } from 'yaml';
import {
  BURN_ALERTS,
  SLI_WINDOWS,
  burnThreshold,
  errorBudget,
  objectiveRatio,
  type Severity,
  type SliWindow,
  type SloPeriod,
} from './burn.js';
import { errorRatioQuery, type Slo } from './slo.js';

export const ALERT_NAME = 'TandemErrorBudgetBurn';
/** Fires while the SLO's budget over its period is spent; an SLO with freezeDeploys freezes its environment's deploys meanwhile. */
export const BUDGET_EXHAUSTED_ALERT = 'TandemErrorBudgetExhausted';

/** The recorded error ratio of every SLO over `window`. */
export function ratioRecord(window: SliWindow | SloPeriod): string {
  return `tandem_slo:sli_error:ratio_rate${window}`;
}
export const OBJECTIVE_RECORD = 'tandem_slo:objective:ratio';
export const BUDGET_REMAINING_RECORD = 'tandem_slo:error_budget_remaining:ratio';

interface RecordingRule {
  record: string;
  expr: string;
  labels: Record<string, string>;
}
interface AlertingRule {
  alert: string;
  expr: string;
  for?: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}
export interface RuleGroup {
  name: string;
  rules: (RecordingRule | AlertingRule)[];
}

export interface RuleOptions {
  /** Where SLOs without their own runbookUrl point: this page (docs/slo.md by default), at the SLO's section. */
  runbookBase?: string;
}

export function sloLabels(slo: Slo): Record<string, string> {
  return { slo: slo.name, ...(slo.repo ? { repo: slo.repo } : {}), ...(slo.environment ? { environment: slo.environment } : {}) };
}

/** `docs/slo.md#api-availability` for built-ins; the budget policy for declared SLOs. */
function runbook(slo: Slo, base: string): string {
  return slo.runbookUrl ?? `${base}#${slo.builtin ? slo.name : 'error-budget-policy'}`;
}

const SPEED: Record<Severity, string> = { page: 'fast', ticket: 'steadily' };

/** The summary, description and runbook of an SLO's burn-rate alert: the rules' and Tandem's own evaluator's. */
export function burnAnnotations(slo: Slo, severity: Severity, options: RuleOptions = {}): Record<string, string> {
  const rows = BURN_ALERTS.filter((a) => a.severity === severity);
  const windows = rows.map((a) => `${a.factor}x the budget over ${a.long} and ${a.short}`).join(' or ');
  return {
    summary: `SLO ${slo.name} is burning its error budget ${SPEED[severity]}`,
    description: `${slo.description}: objective ${slo.objective}% over ${slo.period}, an error budget of ${errorBudget(slo.objective)}; the error ratio is above ${windows}.`,
    runbook_url: runbook(slo, options.runbookBase ?? 'docs/slo.md'),
  };
}

/** The annotations of an SLO's budget-exhausted alert. */
export function exhaustedAnnotations(slo: Slo, options: RuleOptions = {}): Record<string, string> {
  const policy = slo.freezeDeploys
    ? ` Deploys to ${slo.repo}/${slo.environment} wait for a maintainer until the budget is positive again.`
    : '';
  return {
    summary: `SLO ${slo.name} has spent its error budget`,
    description: `${slo.description}: more than the ${errorBudget(slo.objective)} error budget of ${slo.period} is spent.${policy}`,
    runbook_url: `${options.runbookBase ?? 'docs/slo.md'}#error-budget-policy`,
  };
}

export function sloRuleGroup(slo: Slo, options: RuleOptions = {}): RuleGroup {
  const labels = sloLabels(slo);
  const match = `{slo=${JSON.stringify(slo.name)}}`;
  const rules: RuleGroup['rules'] = [...SLI_WINDOWS, slo.period].map((w) => ({
    record: ratioRecord(w),
    expr: errorRatioQuery(slo.sli, w),
    labels,
  }));
  const budget = errorBudget(slo.objective);
  rules.push({ record: OBJECTIVE_RECORD, expr: `vector(${objectiveRatio(slo.objective)})`, labels });
  rules.push({ record: BUDGET_REMAINING_RECORD, expr: `1 - ${ratioRecord(slo.period)}${match} / ${budget}`, labels });
  for (const severity of ['page', 'ticket'] as const) {
    const rows = BURN_ALERTS.filter((a) => a.severity === severity);
    if (rows.length === 0) continue;
    const expr = rows
      .map((a) => {
        const t = burnThreshold(a, slo.objective);
        return `(${ratioRecord(a.long)}${match} > ${t} and ${ratioRecord(a.short)}${match} > ${t})`;
      })
      .join(' or ');
    rules.push({ alert: ALERT_NAME, expr, labels: { severity, ...labels }, annotations: burnAnnotations(slo, severity, options) });
  }
  rules.push({
    alert: BUDGET_EXHAUSTED_ALERT,
    expr: `${BUDGET_REMAINING_RECORD}${match} <= 0`,
    labels: { severity: 'ticket', ...labels },
    annotations: exhaustedAnnotations(slo, options),
  });
  return { name: `tandem-slo-${slo.name}`, rules };
}

/** The rule file (YAML) for these SLOs. */
export function sloRuleFile(slos: readonly Slo[], options: RuleOptions = {}): string {
  const body = stringify({ groups: slos.map((s) => sloRuleGroup(s, options)) }, { lineWidth: 0, aliasDuplicateObjects: false });
  return `# Generated by \`tandem slo rules\`: regenerate it when the SLOs change rather than editing it.\n${body}`;
}
