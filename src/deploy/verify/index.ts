// Release verification: health checks (HTTP, TCP, command) and metric checks (PromQL against a real
// Prometheus) run after a release goes live; the deploy job rolls back on 'failed'. The semantics are
// documented at the top of verify.ts.
export type {
  Check,
  CommandCheck,
  CompareOp,
  Condition,
  HttpCheck,
  NoData,
  PrometheusCheck,
  TcpCheck,
  VerifyOptions,
  VerifyResult,
} from './types.js';
export { DEFAULT_FAILURES, DEFAULT_INTERVAL_MS, parseBake, parseChecks, parseDurationMs } from './parse.js';
export { verifyRelease } from './verify.js';
