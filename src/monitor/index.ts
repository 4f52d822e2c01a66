// The public surface of src/monitor: other folders import these names from here.
export { countAgents } from './agent-counts.js';
export { alertingSchema, emailAddress, routeOf, smtpSchema } from './alerting/config.js';
export type { AlertingConfig } from './alerting/config.js';
export { formatMatcher, matcherSchema, parseMatcher } from './alerting/labels.js';
export { alertView, createNotifier } from './alerting/notifiers.js';
export type { Notifier } from './alerting/notifiers.js';
export { deliverDue, firingToldTo } from './alerting/outbox.js';
export type { DeliveryOutcome } from './alerting/outbox.js';
export { addSilence, alertWithNotifications, expireSilence, listAlerts, listSilences } from './alerting/records.js';
export { SIGNAL_WINDOW_MS, selfConditions, selfRuleFile } from './alerting/self-alerts.js';
export type { Remembered, SelfSignals } from './alerting/self-alerts.js';
export { evaluateWithPrometheus, sloConditions } from './alerting/slo-alerts.js';
export type { SloAlertOptions } from './alerting/slo-alerts.js';
export { ROLLBACK_ACTION, applyEvaluation, pruneAlerts } from './alerting/state.js';
export type { AlertChange, SourceResult } from './alerting/state.js';
export type { SloEvaluation } from './burn.js';
export { readAlertLabels, readRemembered, readSilenceMatchers, readSloEvaluation } from './columns.js';
export { doraForRepo } from './dora.js';
export { USER_FAILURE_REASONS } from './failure-cause.js';
export { Metrics } from './metrics.js';
export { sloRuleFile } from './rules.js';
export { PostRefused, postJson, retryDelayMs, smtpMailer } from './transports.js';
export type { Mailer, SmtpSettings } from './transports.js';
export {
  COUNTED_SIGNALS,
  SliRecorder,
  evaluateBuiltinSlos,
  recordedBudgetHistory,
  recordedIncrease,
  recordedSloEvaluations,
  sloSummary,
} from './sli-recorder.js';
export { BUILTIN_SLOS, allSlos, sloListSchema } from './slo.js';
export type { Slo } from './slo.js';
