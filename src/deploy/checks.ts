// The checks of `deploy.verify` as a deployment runs them: variables expanded, and a check that
// names a host variable run once per host. Behaviour: docs/pipeline-reference.md#checks-and-variables.
import { shellQuote } from './targets/host-ops.js';
import type { Check } from './verify/index.js';
import { CHECK_VARIABLE } from './verify/parse.js';
import { substituteVariables } from './variables.js';

export const HOST_VARIABLES = ['TANDEM_HOST', 'TANDEM_HOST_ADDRESS', 'TANDEM_DEPLOY_DIR', 'TANDEM_SLOT_DIR'] as const;

/** A host as checks see it: its name and its host variables. */
export interface CheckHost {
  name: string;
  vars: Record<string, string>;
}

/** A check that cannot run as written: a variable not set, or a URL that is not one once expanded. */
export class CheckSetupError extends Error {
  constructor(check: string, detail: string) {
    super(`verify check "${check}": ${detail}`);
    this.name = 'CheckSetupError';
  }
}

function expand(check: Check, text: string, vars: Record<string, string>): string {
  const { text: out, missing } = substituteVariables(text, vars, CHECK_VARIABLE);
  if (missing.length > 0)
    throw new CheckSetupError(check.name, `${missing.map((n) => `$${n}`).join(', ')} ${missing.length === 1 ? 'is' : 'are'} not set`);
  return out;
}

function url(check: Check, text: string, vars: Record<string, string>): string {
  const expanded = expand(check, text, vars);
  let parsed: URL | null = null;
  try {
    parsed = new URL(expanded);
  } catch {
    // reported below
  }
  if (parsed?.protocol !== 'http:' && parsed?.protocol !== 'https:') {
    throw new CheckSetupError(
      check.name,
      `${JSON.stringify(text)} expands to ${JSON.stringify(expanded)}, which is not an http:// or https:// URL`,
    );
  }
  return expanded;
}

/** The texts of a check that may name variables. */
function texts(check: Check): string[] {
  switch (check.kind) {
    case 'http':
      return [check.url];
    case 'tcp':
      return [check.host];
    case 'command':
      return [check.command];
    case 'prometheus':
      return [check.url, check.query];
  }
}

const HOST_REFERENCE = new RegExp(`\\$\\{?(?:${HOST_VARIABLES.join('|')})(?![A-Za-z0-9_])`);

function perHost(check: Check): boolean {
  return texts(check).some((t) => HOST_REFERENCE.test(t));
}

function instance(check: Check, vars: Record<string, string>, host: CheckHost | null): Check {
  const all = host ? { ...vars, ...host.vars } : vars;
  const name = host ? `${check.name} @ ${host.name}` : check.name;
  switch (check.kind) {
    case 'http':
      return { ...check, name, url: url(check, check.url, all) };
    case 'tcp':
      return { ...check, name, host: expand(check, check.host, all) };
    case 'command': {
      if (!host) return check;
      const exports = Object.entries(host.vars).map(([k, v]) => `${k}=${shellQuote(v)}`);
      return { ...check, name, command: `export ${exports.join(' ')}\n${check.command}` };
    }
    case 'prometheus':
      return { ...check, name, url: url(check, check.url, all), query: expand(check, check.query, all) };
  }
}

/** The checks to run over `hosts` with `vars`; throws CheckSetupError. */
export function instantiateChecks(checks: readonly Check[], vars: Record<string, string>, hosts: readonly CheckHost[]): Check[] {
  return checks.flatMap((check) => (perHost(check) ? hosts.map((host) => instance(check, vars, host)) : [instance(check, vars, null)]));
}
