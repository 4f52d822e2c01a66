export * from './types.js';
export { compilePipeline } from './compile.js';
export {
  compileIsolated,
  DEFAULT_ISOLATION,
  keepSpareCompileWorker,
  releaseSpareCompileWorkers,
  type IsolatedContext,
  type IsolationLimits,
} from './isolated-compile.js';
export { serveCompileRequest, type CompileChecks } from './compile-worker.js';
export { formatDiagnostic } from './diagnostics.js';
export { scrubShownText } from './shown-text.js';
export { lintFile, type LintOptions, type LintResult } from './lint.js';
export { pipelineJsonSchema } from './schema.js';
export { evaluateExpression, parseExpression, ExpressionError } from './expression.js';
export { expandVariables, resolveVariables, escapeVariableValue, inheritedGlobals } from './variables.js';
export { parseDuration } from './duration.js';
export {
  predefinedVariables,
  jobVariables,
  slugify,
  environmentSlug,
  guessTier,
  type PipelineVariablesInput,
  type JobVariablesInput,
} from './predefined.js';

export { nearest } from './diagnostics.js';
export { globMatcher } from './glob.js';
export { compiledJob } from './jobs.js';
export { RegexSyntaxError, compileUntrustedRegex } from './untrusted-regex.js';
export { COVERAGE_SCAN_CHARS, extractCoverage } from './coverage.js';
export { FAILING_LINE_MAX_CHARS, failingLogLine, type FailingLine } from './failing-line.js';
export { asksToSkipCi, parseRawCommit, commitTitle, commitDescription, type CommitInfo } from './commit.js';
export { STORED_REPORT_NOTE, STORED_REPORT_TYPES, type StoredReportType } from './reports.js';
