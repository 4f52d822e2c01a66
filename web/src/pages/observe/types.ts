// The monitoring API's shapes as the observe pages read them: the server's own types (modules free
// of server-only imports), so the pages cannot drift from what the server sends.
export type { AlertView, BudgetPoint, FreezeView, SilenceView, SloList, SloReport, SloStatus } from '../../../../src/monitor/api-views.js';
export type { SloEvaluation } from '../../../../src/monitor/burn.js';
export type { ClusterJson as ClusterView } from '../../../../src/api/views.js';
export type { DoraMetrics, DoraSlot } from '../../../../src/monitor/dora.js';
