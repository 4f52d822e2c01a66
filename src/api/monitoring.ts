// The monitoring API's answers: alerts, silences, deploy freezes, SLOs with Tandem's own burn-rate
// evaluation, and DORA metrics; with the vocabulary they are written in (windows, periods,
// severities). The server that builds them (src/monitor), the CLI and the web UI share them.

export type AlertStateValue = 'pending' | 'firing' | 'resolved';

/** The windows whose error ratios are recorded (the workbook's). */
export const SLI_WINDOWS = ['5m', '30m', '1h', '2h', '6h', '1d', '3d'] as const;
export type SliWindow = (typeof SLI_WINDOWS)[number];

/** The period an objective holds over. */
export const SLO_PERIODS = ['28d', '30d'] as const;
export type SloPeriod = (typeof SLO_PERIODS)[number];

export type Severity = 'page' | 'ticket';

export interface BurnAlert {
  severity: Severity;
  /** Fires when the error ratio is above factor × budget over both windows. */
  factor: number;
  /** The long window shows the burn is significant; the short one that it is still going on. */
  long: SliWindow;
  short: SliWindow;
}

export interface Counts {
  errors: number;
  total: number;
}

export interface WindowBurn extends Counts {
  /** errors ÷ total; null without traffic (no traffic burns no budget, as in PromQL where 0/0 fires nothing). */
  errorRatio: number | null;
  burnRate: number | null;
}

export interface AlertState extends BurnAlert {
  threshold: number;
  firing: boolean;
}

export interface SloEvaluation {
  objective: number;
  period: SloPeriod;
  errorBudget: number;
  windows: Record<SliWindow, WindowBurn>;
  budget: WindowBurn & {
    /** Share of the period's budget spent (1 = all of it; above 1 = overspent). */
    consumed: number;
    /** 1 − consumed: below 0 once the budget is overspent. */
    remaining: number;
  };
  alerts: AlertState[];
  /** The most severe alert firing, if any. */
  firing: Severity | null;
}

export interface AlertView {
  id: number;
  name: string;
  state: AlertStateValue;
  severity: string;
  fingerprint: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  value: number | null;
  activeAt: string;
  firedAt: string | null;
  resolvedAt: string | null;
  silencedBy: number | null;
}

/** One of a silence's matchers, as Alertmanager writes them. */
export interface MatcherView {
  name: string;
  value: string;
  isRegex: boolean;
  isEqual: boolean;
}

export interface SilenceView {
  id: number;
  matchers: MatcherView[];
  /** The matchers as `tandem silence add` takes them. */
  match: string[];
  startsAt: string;
  endsAt: string;
  comment: string;
  createdBy: string;
  createdAt: string;
  state: 'pending' | 'active' | 'expired';
}

export interface FreezeView {
  id: number;
  repo: string;
  environment: string;
  slo: string;
  alertId: number | null;
  startedAt: string;
  liftedAt: string | null;
  overrides: { jobId: number; actor: string; at: string }[];
}

export interface SloStatus {
  name: string;
  description: string;
  objective: number;
  period: string;
  repo: string | null;
  environment: string | null;
  builtin: boolean;
  /** Tandem's own evaluation for built-in SLOs; null for declared ones, which only Prometheus can measure. */
  evaluation: SloEvaluation | null;
}

/** One slot of an SLO's budget history: its counts, and the budget left at its end (a burn-down over the period). */
export interface BudgetPoint {
  /** End of the slot. */
  at: string;
  errors: number;
  total: number;
  /** 1 − errors so far ÷ (error budget × all events of the period): 1 at the period's start, the evaluation's `remaining` at its end. */
  remaining: number;
}

/** An SLO as GET /api/v1/slos lists it. */
export interface SloReport extends SloStatus {
  /** Built-in SLOs with ?history=1. */
  history?: BudgetPoint[];
  /** Declared SLOs: when the leader last measured them through Prometheus, and its error if that failed. */
  evaluatedAt?: string;
  error?: string;
}

export interface SloList {
  evaluatedAt: string;
  slos: SloReport[];
}

export interface DoraMetrics {
  environment: string;
  /** Deploys (not rollbacks) that ended in the window. */
  deployments: { total: number; live: number; failed: number };
  /** Deploys that went live, per day of the window. */
  deploymentFrequency: number;
  /** Commit (its first pipeline) to live, over the deploys that went live. */
  leadTime: { p50Seconds: number | null; samples: number };
  /** Deploys that failed, were rolled back automatically, or were rolled back later (by a person or an alert), over all deploys. */
  changeFailureRate: number | null;
  /** From a failure being known (the deploy failing, or the rollback being asked for) to the next release going live. */
  timeToRestore: { p50Seconds: number | null; samples: number; unrestored: number };
  /** With `slots`: the same metrics over equal consecutive slots of the window, oldest first (for charts). */
  series?: DoraSlot[];
}

export type DoraSlot = Omit<DoraMetrics, 'environment' | 'series'> & { since: string; until: string };
