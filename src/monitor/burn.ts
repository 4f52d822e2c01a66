// Multi-window, multi-burn-rate alerting (the Google SRE workbook, chapter 5) in one table, read by
// both the Prometheus rules Tandem generates and its own evaluator: a threshold changed here changes
// both. A burn rate is the error ratio over a window divided by the error budget (1 − objective): 1
// spends the budget exactly over the SLO period, 14.4 spends 2% of a 30-day budget in one hour.
import {
  SLI_WINDOWS,
  type BurnAlert,
  type Counts,
  type SliWindow,
  type SloEvaluation,
  type SloPeriod,
  type WindowBurn,
} from '../api/index.js';

// The vocabulary is the API's (src/api/monitoring.ts): the evaluation is what GET /api/v1/slos shows.
export {
  SLI_WINDOWS,
  SLO_PERIODS,
  type AlertState,
  type BurnAlert,
  type Counts,
  type Severity,
  type SliWindow,
  type SloEvaluation,
  type SloPeriod,
  type WindowBurn,
} from '../api/index.js';

export const BURN_ALERTS: readonly BurnAlert[] = [
  { severity: 'page', factor: 14.4, long: '1h', short: '5m' },
  { severity: 'page', factor: 6, long: '6h', short: '30m' },
  { severity: 'ticket', factor: 1, long: '3d', short: '6h' },
];

const UNIT_MS = { m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** Length of a window or period such as '30m' or '28d'. */
export function windowMs(window: SliWindow | SloPeriod): number {
  const m = /^(\d+)([mhd])$/.exec(window);
  if (!m) throw new Error(`window "${window}": expected a number and m, h or d`);
  return Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS];
}

/**
 * A window's length when every window is divided by `scale`: 1 in production (the workbook's
 * windows); a larger scale (the `sloWindowScale` setting) lets a demonstration or a test see an
 * hour's burn in a minute. The thresholds and the table stay the same.
 */
export function scaledWindowMs(window: SliWindow | SloPeriod, scale = 1): number {
  return windowMs(window) / scale;
}

/** Rounds away binary noise (1 − 0.999 is 0.0010000000000000009) so rules and evaluator print and compare the same number. */
function clean(n: number): number {
  return Number(n.toPrecision(12));
}

/** The objective as a ratio: 0.999 for 99.9 (%). */
export function objectiveRatio(objectivePercent: number): number {
  return clean(objectivePercent / 100);
}

/** The error ratio the objective allows: 0.001 for 99.9 (%). */
export function errorBudget(objectivePercent: number): number {
  return clean(1 - objectivePercent / 100);
}

/** The error ratio above which an alert's window counts as burning. */
export function burnThreshold(alert: BurnAlert, objectivePercent: number): number {
  return clean(alert.factor * errorBudget(objectivePercent));
}

function burn(counts: Counts, budget: number): WindowBurn {
  const errorRatio = counts.total > 0 ? counts.errors / counts.total : null;
  return { ...counts, errorRatio, burnRate: errorRatio === null ? null : errorRatio / budget };
}

/**
 * Burn rates per window, which alerts fire and the budget left, from error and total counts per
 * window and over the period: the same comparisons as the generated rules (ratio > threshold over
 * the long window and the short one).
 */
export function evaluateBurn(
  objectivePercent: number,
  period: SloPeriod,
  counts: { windows: Record<SliWindow, Counts>; period: Counts },
): SloEvaluation {
  const budget = errorBudget(objectivePercent);
  const windows = Object.fromEntries(SLI_WINDOWS.map((w) => [w, burn(counts.windows[w], budget)])) as Record<SliWindow, WindowBurn>;
  const alerts = BURN_ALERTS.map((alert) => {
    const threshold = burnThreshold(alert, objectivePercent);
    const over = (w: SliWindow) => (windows[w].errorRatio ?? 0) > threshold;
    return { ...alert, threshold, firing: over(alert.long) && over(alert.short) };
  });
  const overall = burn(counts.period, budget);
  const consumed = overall.burnRate ?? 0;
  const firing = alerts.find((a) => a.firing && a.severity === 'page') ? 'page' : alerts.some((a) => a.firing) ? 'ticket' : null;
  return {
    objective: objectivePercent,
    period,
    errorBudget: budget,
    windows,
    budget: { ...overall, consumed, remaining: 1 - consumed },
    alerts,
    firing,
  };
}
