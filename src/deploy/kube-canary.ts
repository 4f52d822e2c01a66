// The canary strategy on a kubernetes target: the release runs first as `<name>-canary` Deployments
// beside the live ones, taking a share of the traffic by its share of the pods, while the checks
// analyse it; then it replaces the live Deployments. Behaviour: docs/pipeline-reference.md#kubernetes-target.
import { failed, message, type Deployment, type DeploymentResult, type Failure } from './deployment.js';
import type { StrategySpec } from './spec.js';
import type { KubernetesTarget } from './targets/index.js';
import { formatMs } from './verify/probes.js';

/** The live Deployments were never touched: removing the canary leaves the previous release serving alone. */
async function retireCanary(d: Deployment, target: KubernetesTarget, failure: Failure, switchedAt: number): Promise<DeploymentResult> {
  const { reason } = failure;
  const release = d.release.id;
  if (!d.switched) {
    d.log(`FAILED: ${reason}; no canary of release ${release} was started`);
    return failed(`${reason}; no canary of release ${release} was started`, false);
  }
  if (d.spec.rollback === 'manual') {
    d.log(`FAILED: ${reason}; rollback: manual leaves the canary of release ${release} running`);
    return failed(`${reason}; rollback: manual leaves the canary of release ${release} running`, true);
  }
  await d.phase('rolling_back', reason);
  try {
    await target.stopCanary(d.hosts[0].target, d.release, d.input.log);
  } catch (err) {
    d.rethrowFatal(err);
    d.log(`FAILED: ${reason}; removing the canary failed: ${message(err)}`);
    return failed(`${reason}; removing the canary failed: ${message(err)}`, true);
  }
  d.switched = false;
  const restoredAt = Date.now();
  const previous = d.input.previous;
  if (!previous) {
    d.log(`FAILED: ${reason}; the canary was removed, and there was no previous release`);
    return failed(`${reason}; the canary was removed, and there was no previous release`, false);
  }
  d.log(
    `ROLLED BACK: the canary of release ${release} is removed and release ${previous.id} serves alone again, ${formatMs(restoredAt - failure.detectedAt)} after the failure was detected`,
  );
  return { status: 'rolled_back', reason, switchedAtMs: switchedAt, detectedAtMs: failure.detectedAt, restoredAtMs: restoredAt };
}

export async function runKubernetesCanary(d: Deployment, strategy: Extract<StrategySpec, { kind: 'canary' }>): Promise<DeploymentResult> {
  if (d.target.kind !== 'kubernetes') throw new Error('runKubernetesCanary needs a kubernetes target');
  const target = d.target;
  const { release, input } = d;
  const host = d.hosts[0];
  const { weight } = strategy;
  if (weight === undefined) throw new Error('runKubernetesCanary needs the canary weight parseDeploySpec gives a kubernetes target');
  const label = `canary (${weight}% of the replicas) [${host.name}]`;
  await d.phase('deploying', label);
  d.log(`${label}: deploying release ${release.id}`);
  let switchedAt = Date.now();
  try {
    await target.upload(host.target, release, input.log);
    d.switched = true;
    await target.startCanary(host.target, release, weight, input.log);
  } catch (err) {
    d.rethrowFatal(err);
    return retireCanary(d, target, { reason: `${label}: ${message(err)}`, detectedAt: Date.now() }, switchedAt);
  }
  switchedAt = Date.now();
  const verdict = await d.verify([host], strategy.pauseMs ?? 0, `${label}: canary analysis`, {
    holdForDecision: strategy.pauseMs === null,
  });
  if (!verdict.ok) return retireCanary(d, target, verdict, switchedAt);

  const promote = `release ${release.id} [${host.name}]`;
  d.log(`${label}: canary passed: promoting release ${release.id}`);
  await d.phase('deploying', promote);
  try {
    await d.activate(host, release);
  } catch (err) {
    d.rethrowFatal(err);
    return d.afterFailure({ reason: `${promote}: ${message(err)}`, detectedAt: Date.now() }, [host], switchedAt);
  } finally {
    // Once the live Deployments run the release (or are back on the previous one), the canary only adds pods.
    await target.stopCanary(host.target, release, input.log).catch((err: unknown) => {
      d.rethrowFatal(err);
      d.log(`warning: removing the canary failed: ${message(err)}`);
    });
  }
  switchedAt = Date.now();
  const all = await d.verify([host], d.spec.bakeMs, promote);
  if (!all.ok) return d.afterFailure(all, [host], switchedAt);
  return d.live();
}
