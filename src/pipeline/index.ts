export * from './types.js';
export { compilePipeline } from './compile.js';
export { formatDiagnostic } from './diagnostics.js';
export { lintFile, type LintOptions, type LintResult } from './lint.js';
export { pipelineJsonSchema } from './schema.js';
export { evaluateExpression, parseExpression, ExpressionError } from './expression.js';
export { expandVariables, resolveVariables, escapeVariableValue, inheritedGlobals } from './variables.js';
export { parseDuration } from './duration.js';
export { predefinedVariables, jobVariables, slugify, type PipelineVariablesInput, type JobVariablesInput } from './predefined.js';
