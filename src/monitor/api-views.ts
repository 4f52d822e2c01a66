// The monitoring API's answers: alerts, silences, deploy freezes and SLOs. Types only, free of
// server-only imports, so the server that builds them, the CLI and the web UI that read them share
// one definition.
import type { AlertStateValue } from '../store/schema.js';
import type { SloEvaluation } from './burn.js';

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
