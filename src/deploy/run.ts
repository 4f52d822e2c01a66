// runDeployment: the agent's deployment of a release after the deploy job's script, with its
// strategies and rollback. Behaviour: docs/pipeline-reference.md#how-a-deployment-runs.
import { runBlueGreen } from './blue-green.js';
import { runKubernetesCanary } from './kube-canary.js';
import { CheckSetupError, instantiateChecks } from './checks.js';
import {
  Deployment,
  eachLimited,
  failed,
  Halt,
  message,
  names,
  type DeploymentInput,
  type DeploymentResult,
  type Host,
} from './deployment.js';
import { createTarget, StaleFencingTokenError, type DeployTarget } from './targets/index.js';
import { formatMs } from './verify/probes.js';

function hostsOf(input: DeploymentInput, target: DeployTarget): Host[] {
  const spec = input.spec.target;
  return target.hosts.map((host, i): Host => {
    switch (spec.kind) {
      case 'ssh':
        return { target: host, name: host.name, dir: spec.hosts[i].dir, address: spec.hosts[i].host };
      case 'local':
        return { target: host, name: host.name, dir: spec.dir, address: '127.0.0.1' };
      case 'script':
        return { target: host, name: host.name, dir: null, address: '127.0.0.1' };
      case 'kubernetes':
        return { target: host, name: host.name, dir: null, address: spec.namespace };
      case 'container':
        return { target: host, name: host.name, dir: spec.hosts[i].dir, address: spec.hosts[i].address };
    }
  });
}

function chunk<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** Uploads the release to `batch`, then activates it there; `switched` gets each host as its activation begins. */
async function deployBatch(d: Deployment, batch: readonly Host[], maxUnavailable: number, switched: Host[]): Promise<void> {
  const { target, release, input } = d;
  await eachLimited(batch, d.parallel, (host) => target.upload(host.target, release, input.log));
  await eachLimited(batch, Math.min(maxUnavailable, d.parallel), async (host) => {
    input.signal.throwIfAborted();
    const started = performance.now();
    switched.push(host);
    d.switched = true;
    await d.activate(host, release);
    d.log(`[${host.name}] release ${release.id} active in ${formatMs(performance.now() - started)}`);
  });
}

async function rollOut(d: Deployment): Promise<DeploymentResult> {
  const strategy = d.spec.strategy;
  if (strategy.kind === 'blue-green') throw new Error('rollOut: blue-green has its own runner');
  const canary = strategy.kind === 'canary';
  const batches = canary
    ? [d.hosts.slice(0, strategy.first), ...chunk(d.hosts.slice(strategy.first), strategy.batch)]
    : chunk(d.hosts, strategy.batch);
  const switched: Host[] = [];
  let switchedAt = Date.now();
  for (const [i, batch] of batches.entries()) {
    d.input.signal.throwIfAborted();
    const isCanary = canary && i === 0;
    const last = i === batches.length - 1;
    const label = `batch ${i + 1}/${batches.length}${isCanary ? ' (canary)' : ''} [${names(batch)}]`;
    await d.phase('deploying', label);
    d.log(`${label}: deploying release ${d.release.id}`);
    try {
      await deployBatch(d, batch, strategy.maxUnavailable, switched);
    } catch (err) {
      d.rethrowFatal(err);
      return d.afterFailure({ reason: `${label}: ${message(err)}`, detectedAt: Date.now() }, switched, switchedAt);
    }
    switchedAt = Date.now();
    if (isCanary) {
      const verdict = await d.verify(batch, strategy.pauseMs ?? 0, `${label}: canary analysis`, {
        holdForDecision: strategy.pauseMs === null,
      });
      if (!verdict.ok) return d.afterFailure(verdict, switched, switchedAt);
      d.log(`${label}: canary passed${last ? '' : `: promoting release ${d.release.id} to the other hosts`}`);
    }
    if (!isCanary || last) {
      const verdict = last
        ? await d.verify(d.hosts, d.spec.bakeMs, batches.length > 1 ? `${label}: all hosts` : label)
        : await d.verify(batch, 0, label);
      if (!verdict.ok) return d.afterFailure(verdict, switched, switchedAt);
    }
  }
  await d.prune();
  return d.live();
}

/** mode 'rollback' on any target but blue-green: the release back on every host at once, no verification. */
async function rollBackTo(d: Deployment): Promise<DeploymentResult> {
  const { target, release, input } = d;
  await d.phase('rolling_back', `release ${release.id} on ${names(d.hosts)}`);
  d.log(`making release ${release.id} live again on ${names(d.hosts)} (no verification)`);
  try {
    await eachLimited(d.hosts, d.parallel, async (host) => {
      const started = performance.now();
      d.switched = true;
      if (target.kind === 'script') {
        if (!(await target.runScript('rollback', release, input.log))) await target.activate(host.target, release, input.log);
      } else {
        await target.upload(host.target, release, input.log);
        await target.activate(host.target, release, input.log);
      }
      d.serving(host, release.id);
      d.log(`[${host.name}] release ${release.id} active in ${formatMs(performance.now() - started)}`);
    });
  } catch (err) {
    d.rethrowFatal(err);
    d.log(`FAILED: the rollback to release ${release.id} failed: ${message(err)}`);
    return failed(`the rollback to release ${release.id} failed: ${message(err)}`, true);
  }
  return d.live();
}

/** Deploys (or rolls back to) a release per the job's `deploy` spec; see the comment at the top. */
export async function runDeployment(input: DeploymentInput): Promise<DeploymentResult> {
  input.signal.throwIfAborted();
  const { spec } = input;
  const target = createTarget(spec.target, { workDir: input.workDir, env: input.env, cwd: input.cwd, service: spec.service });
  const d = new Deployment(input, target, hostsOf(input, target));
  try {
    const kind = spec.strategy.kind;
    d.log(
      `${input.mode === 'rollback' ? 'rollback to' : 'deploying'} release ${input.release.id} to ${spec.target.kind} target (${names(d.hosts)}), strategy ${kind}, fencing token ${input.release.fencingToken}`,
    );
    if (input.mode === 'deploy') {
      // A check that cannot run (a variable not set) fails the deployment before anything is touched.
      const slot = kind === 'blue-green' ? { TANDEM_SLOT: '', TANDEM_OTHER_SLOT: '', ...spec.strategy.slots[0].vars } : {};
      instantiateChecks(
        spec.verify,
        d.vars(slot),
        d.hosts.map((h) => d.checkHost(h, kind === 'blue-green' ? { TANDEM_SLOT_DIR: '' } : {})),
      );
    }
    if (kind === 'blue-green') return await runBlueGreen(d, spec.strategy);
    if (kind === 'canary' && input.mode === 'deploy' && spec.target.kind === 'kubernetes')
      return await runKubernetesCanary(d, spec.strategy);
    return await (input.mode === 'rollback' ? rollBackTo(d) : rollOut(d));
  } catch (err) {
    if (err instanceof Halt) {
      d.log(`STOPPED: ${err.message}`);
      return err.result;
    }
    if (err instanceof StaleFencingTokenError) {
      const reason = `stale fencing token: ${err.message}; a newer deployment of this environment has taken over, so this one stops without rolling back`;
      d.log(`STOPPED: ${reason}`);
      return failed(reason, d.switched);
    }
    if (err instanceof CheckSetupError) {
      d.log(`FAILED: ${err.message}`);
      return failed(err.message, d.switched);
    }
    throw err;
  } finally {
    await target.close();
  }
}
