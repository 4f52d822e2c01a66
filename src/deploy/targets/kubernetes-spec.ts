import { parseDurationMs } from '../verify/index.js';
import { fail, mapping, optionalText, text } from './spec.js';
import type { KubernetesTargetSpec } from './types.js';

const DEFAULT_TIMEOUT_MS = 5 * 60_000;
// RFC 1123 label, as Kubernetes names namespaces.
const NAMESPACE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const VARIABLE = /\$\{?(\w+)/;

/**
 * `deploy.target.kubernetes`. The kubeconfig is a path, normally a file variable's (`$KUBECONFIG_PROD`,
 * expanded before this runs): a variable still named here is one the job does not have.
 */
export function kubernetesTarget(value: unknown, where: string): KubernetesTargetSpec {
  const k = mapping(value, where, ['kubeconfig', 'context', 'namespace', 'timeout', 'helm_release']);
  const namespace = text(k.namespace, `${where}.namespace`);
  if (namespace.length > 63 || !NAMESPACE.test(namespace))
    fail(`${where}.namespace`, `"${namespace}" is not a namespace name (lower-case letters, digits and '-', at most 63)`);
  let timeoutMs = DEFAULT_TIMEOUT_MS;
  if (k.timeout !== undefined && k.timeout !== null) {
    const ms = parseDurationMs(k.timeout);
    if (ms === null || ms < 1000)
      fail(`${where}.timeout`, `expected a duration of at least 1s, like "90s" or "5m", got ${JSON.stringify(k.timeout)}`);
    timeoutMs = ms;
  }
  const spec: KubernetesTargetSpec = { kind: 'kubernetes', namespace, timeoutMs };
  const kubeconfig = optionalText(k.kubeconfig, `${where}.kubeconfig`);
  if (kubeconfig !== undefined) {
    const unset = kubeconfig.match(VARIABLE);
    if (unset)
      fail(
        `${where}.kubeconfig`,
        `names $${unset[1]}, which this job does not have: give the repository a file variable of that name holding the kubeconfig`,
      );
    spec.kubeconfig = kubeconfig;
  }
  const context = optionalText(k.context, `${where}.context`);
  if (context !== undefined) spec.context = context;
  const helmRelease = optionalText(k.helm_release, `${where}.helm_release`);
  if (helmRelease !== undefined) {
    // helm's own rule for release names: a DNS label of at most 53 characters.
    if (helmRelease.length > 53 || !NAMESPACE.test(helmRelease))
      fail(`${where}.helm_release`, `"${helmRelease}" is not a Helm release name (lower-case letters, digits and '-', at most 53)`);
    spec.helmRelease = helmRelease;
  }
  return spec;
}
