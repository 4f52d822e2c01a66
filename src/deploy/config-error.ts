/** A problem in a deploy block, at its exact place (`deploy.verify[1].prometheus.pass`), which lint maps back to a line. */
export class DeployConfigError extends Error {
  constructor(
    readonly path: string,
    detail: string,
  ) {
    super(`${path}: ${detail}`);
    this.name = 'DeployConfigError';
  }
}

/** A value as an error message shows it: strings quoted, structures by their kind. */
export function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (typeof value === 'string') return JSON.stringify(value);
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a map';
  return `${typeof value} ${String(value)}`;
}

/** A YAML map (not a list, not a scalar): what `describeValue` calls "a map". */
export function isMapping(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
