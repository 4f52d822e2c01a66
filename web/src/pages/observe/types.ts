// The monitoring API's shapes as the observe pages read them. Those defined in modules free of
// server-only imports are shared with the server; the rest mirror its views (named beside each).
import type { SloEvaluation } from '../../../../src/monitor/burn.js';

export type { ClusterView } from '../../../../src/server/cluster.js';
export type { DoraMetrics, DoraSlot } from '../../../../src/monitor/dora.js';
export type { SloEvaluation } from '../../../../src/monitor/burn.js';

/** src/monitor/sli-recorder.ts BudgetPoint. */
export interface BudgetPoint {
  at: string;
  errors: number;
  total: number;
  remaining: number;
}

/** GET /api/v1/slos?history=1: src/monitor/sli-recorder.ts SloStatus, and for declared SLOs when they were measured. */
export interface SloStatus {
  name: string;
  description: string;
  objective: number;
  period: string;
  repo: string | null;
  environment: string | null;
  builtin: boolean;
  evaluation: SloEvaluation | null;
  history?: BudgetPoint[];
  evaluatedAt?: string;
  error?: string;
}

export interface SloList {
  evaluatedAt: string;
  slos: SloStatus[];
}

/** src/monitor/alerting/notifiers.ts AlertView. */
export interface AlertView {
  id: number;
  name: string;
  state: 'pending' | 'firing' | 'resolved';
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

/** src/server/routes/alerts.ts SilenceView. */
export interface SilenceView {
  id: number;
  match: string[];
  startsAt: string;
  endsAt: string;
  comment: string;
  createdBy: string;
  createdAt: string;
  state: 'pending' | 'active' | 'expired';
}

/** src/server/freezes.ts FreezeView. */
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
