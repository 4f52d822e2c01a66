// Checks are plain JSON data (no RegExp, no functions) so a deploy job can carry them from the pipeline
// file to the agent that verifies the release, and a release record can store what it was verified with.

export type CompareOp = '<' | '<=' | '>' | '>=' | '==' | '!=';

export interface Condition {
  op: CompareOp;
  value: number;
}

/** What a metric query that returns nothing (or only NaN) means: a failure, a pass, or "stop and ask a human". */
export type NoData = 'fail' | 'pass' | 'pause';

interface CheckCommon {
  /** Unique within a list of checks; names the check in logs and results. */
  name: string;
  intervalMs: number;
  /** Consecutive failures that fail the release. */
  failures: number;
  timeoutMs: number;
}

export interface HttpCheck extends CheckCommon {
  kind: 'http';
  url: string;
  /** Accepted statuses; null accepts any 2xx. */
  expectStatus: number[] | null;
  /** A regular expression (source text) the body must match, or null. */
  body: string | null;
  maxLatencyMs: number | null;
}

export interface TcpCheck extends CheckCommon {
  kind: 'tcp';
  host: string;
  port: number;
}

export interface CommandCheck extends CheckCommon {
  kind: 'command';
  /** Run with `sh -c`. */
  command: string;
}

export interface PrometheusCheck extends CheckCommon {
  kind: 'prometheus';
  /** Prometheus' base URL, e.g. http://127.0.0.1:9090 */
  url: string;
  query: string;
  condition: Condition;
  noData: NoData;
}

export type Check = HttpCheck | TcpCheck | CommandCheck | PrometheusCheck;

export interface VerifyOptions {
  /** How long the release must keep passing before it is verified; 0 = every check passes once. */
  bakeMs: number;
  /** Aborting ends verification quickly: probes are cancelled and verifyRelease rejects with the signal's reason. */
  signal: AbortSignal;
  log(line: string): void;
  /** The whole environment of command checks (merge process.env in yourself if commands need PATH). */
  env: Record<string, string>;
  /** Working directory of command checks. */
  cwd: string;
}

export type VerifyResult =
  | { status: 'passed'; durationMs: number }
  | { status: 'failed'; check: string; reason: string; durationMs: number }
  | { status: 'paused'; check: string; reason: string; durationMs: number };
