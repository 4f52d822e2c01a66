// The monitoring API's shapes as the observe pages read them: the server's own contracts (src/api),
// so the pages cannot drift from what the server sends.
export type {
  AlertView,
  BudgetPoint,
  DoraMetrics,
  DoraSlot,
  FreezeView,
  SilenceView,
  SloEvaluation,
  SloList,
  SloReport,
  SloStatus,
} from '../../../../src/api/monitoring.js';
export type { ClusterJson as ClusterView } from '../../../../src/api/views.js';
