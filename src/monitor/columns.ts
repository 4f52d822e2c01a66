// Readers of the monitoring tables' JSON columns (alerts, silences, SLO evaluations, the leader's
// remembered state): one validated parser per column, naming table, column and row when it fails.
import { z } from 'zod';
import { jsonColumn, type Alert, type AlertingStateTable, type Silence, type SloEvaluationTable } from '../store/index.js';
import { matcherSchema, type Labels, type Matcher } from './alerting/labels.js';
import type { Remembered } from './alerting/self-alerts.js';
import { SLI_WINDOWS, SLO_PERIODS, type SloEvaluation } from './burn.js';

const labels = z.record(z.string(), z.string());

const windowBurn = z.looseObject({
  errors: z.number(),
  total: z.number(),
  errorRatio: z.number().nullable(),
  burnRate: z.number().nullable(),
});
const severity = z.enum(['page', 'ticket']);
const window = z.enum(SLI_WINDOWS);

const sloEvaluation: z.ZodType<SloEvaluation> = z.looseObject({
  objective: z.number(),
  period: z.enum(SLO_PERIODS),
  errorBudget: z.number(),
  windows: z.record(window, windowBurn),
  budget: windowBurn.extend({ consumed: z.number(), remaining: z.number() }),
  alerts: z.array(z.looseObject({ severity, factor: z.number(), long: window, short: window, threshold: z.number(), firing: z.boolean() })),
  firing: severity.nullable(),
});

const remembered: z.ZodType<Remembered> = z.looseObject({
  value: z.string(),
  previous: z.string().nullable(),
  changedAt: z.number(),
});

const alertLabels = jsonColumn('alerts', 'labels', labels);
const alertAnnotations = jsonColumn('alerts', 'annotations', labels);
const silenceMatchers = jsonColumn('silences', 'matchers', z.array(matcherSchema));
const sloEvaluations = jsonColumn('slo_evaluations', 'evaluation', sloEvaluation);
const alertingState = jsonColumn('alerting_state', 'value', remembered);

export const readAlertLabels = (a: Pick<Alert, 'id' | 'labels'>): Labels => alertLabels(a.labels, a.id);
export const readAlertAnnotations = (a: Pick<Alert, 'id' | 'annotations'>): Labels => alertAnnotations(a.annotations, a.id);
export const readSilenceMatchers = (s: Pick<Silence, 'id' | 'matchers'>): Matcher[] => silenceMatchers(s.matchers, s.id);
/** The last evaluation of a declared SLO that worked; null when none did. */
export const readSloEvaluation = (row: Pick<SloEvaluationTable, 'slo' | 'evaluation'>): SloEvaluation | null =>
  row.evaluation === null ? null : sloEvaluations(row.evaluation, row.slo);
/** A change the leader remembers between evaluations, under its key. */
export const readRemembered = (row: Pick<AlertingStateTable, 'key' | 'value'>): Remembered => alertingState(row.value, row.key);
