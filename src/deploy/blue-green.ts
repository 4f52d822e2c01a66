// The blue-green strategy (local, ssh, container and kubernetes targets): two slots per host and a traffic switch.
// Behaviour: docs/pipeline-reference.md#blue-green-step-by-step.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import {
  eachLimited,
  failed,
  Halt,
  message,
  names,
  type Deployment,
  type DeploymentResult,
  type Failure,
  type Host,
} from './deployment.js';
import type { BlueGreenSlot, StrategySpec } from './spec.js';
import { StaleFencingTokenError, type KubernetesTarget, type ReleaseInput, type SlotTarget } from './targets/index.js';
import { formatMs } from './verify/probes.js';

interface HostSlots {
  host: Host;
  current: number | null;
  /** The release in each slot. */
  slots: [number | null, number | null];
}

function slotVars(slot: BlueGreenSlot, other: BlueGreenSlot): Record<string, string> {
  return { ...slot.vars, TANDEM_SLOT: slot.name, TANDEM_OTHER_SLOT: other.name };
}

function slotDir(host: Host, slot: BlueGreenSlot): Record<string, string> {
  return host.dir === null ? {} : { TANDEM_SLOT_DIR: `${host.dir}/${slot.name}` };
}

/** The user's switch command; it is never cut short, since stopping it halfway leaves traffic nowhere. */
async function runSwitch(d: Deployment, command: string, env: Record<string, string>): Promise<void> {
  const started = performance.now();
  d.log(`switch: ${command} (TANDEM_SLOT=${env.TANDEM_SLOT})`);
  const child = spawn('sh', ['-c', command], { cwd: d.input.cwd, env: { ...d.input.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let last = '';
  for (const stream of [child.stdout, child.stderr]) {
    createInterface({ input: stream }).on('line', (line) => {
      last = line;
      d.input.log(`  switch | ${line}`);
    });
  }
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', (err) => reject(new Error(`the switch command could not start: ${err.message}`)));
    child.once('close', resolve);
  });
  if (code !== 0) throw new Error(`the switch command (${command}) exited with code ${code}${last ? `: ${last}` : ''}`);
  d.log(`switch: traffic on slot ${env.TANDEM_SLOT} in ${formatMs(performance.now() - started)}`);
}

/**
 * Moves the traffic to the slot in env.TANDEM_SLOT: the kubernetes target points its Services at
 * it, other targets run the user's switch command.
 */
async function switchTo(d: Deployment, command: string | null, release: ReleaseInput, env: Record<string, string>): Promise<void> {
  if (d.target.kind !== 'kubernetes') {
    if (command === null) throw new Error(`blue-green on a ${d.target.kind} target needs a switch command`);
    return runSwitch(d, command, env);
  }
  const started = performance.now();
  await eachLimited(d.hosts, d.parallel, (host) =>
    (d.target as KubernetesTarget).switchTraffic(host.target, release, env.TANDEM_SLOT, d.input.log),
  );
  d.log(`switch: the Services select slot ${env.TANDEM_SLOT} in ${formatMs(performance.now() - started)}`);
}

async function readSlots(target: SlotTarget, hosts: readonly Host[], slots: [BlueGreenSlot, BlueGreenSlot]): Promise<HostSlots[]> {
  return Promise.all(
    hosts.map(async (host) => {
      const [current, a, b] = await Promise.all([
        target.current(host.target),
        target.current(host.target, slots[0].name),
        target.current(host.target, slots[1].name),
      ]);
      return { host, current, slots: [a, b] };
    }),
  );
}

/** Index of the live slot on every host, or null when none is live yet; hosts that disagree stop the deployment. */
function liveSlot(states: readonly HostSlots[], slots: [BlueGreenSlot, BlueGreenSlot]): 0 | 1 | null {
  const seen = states.map((s): 0 | 1 | null => {
    if (s.current === null) return null;
    const live = ([0, 1] as const).filter((i) => s.slots[i] === s.current);
    if (live.length === 2) {
      throw new Halt(
        failed(
          `${s.host.name}: both slots ${slots[0].name} and ${slots[1].name} hold the live release ${s.current}, so neither is idle; point one of them elsewhere`,
          false,
        ),
      );
    }
    return live[0] ?? null;
  });
  const live = [...new Set(seen.filter((i) => i !== null))];
  if (live.length > 1) {
    const which = states.map((s, i) => `${s.host.name}: ${seen[i] === null ? 'none' : slots[seen[i] as 0 | 1].name}`).join(', ');
    throw new Halt(failed(`the hosts disagree on the live slot (${which}); make them agree before deploying`, false));
  }
  return live[0] ?? null;
}

export async function runBlueGreen(d: Deployment, strategy: Extract<StrategySpec, { kind: 'blue-green' }>): Promise<DeploymentResult> {
  const { target, release, input } = d;
  if (target.kind === 'script') throw new Error('blue-green needs a local, ssh, container or kubernetes target');
  const { slots } = strategy;
  const states = await readSlots(target, d.hosts, slots);
  const liveIndex = liveSlot(states, slots);
  const live = liveIndex === null ? null : slots[liveIndex];
  const idleIndex = liveIndex === 0 ? 1 : 0;
  const idle = slots[idleIndex];
  const idleVars = slotVars(idle, slots[1 - idleIndex]);
  const rollback = input.mode === 'rollback';
  d.log(
    `slots: ${live ? `${live.name} is live (release ${states[0].current})` : 'none live yet'}, ${idle.name} is idle${states[0].slots[idleIndex] === null ? '' : ` (release ${states[0].slots[idleIndex]})`}`,
  );

  if (states.every((s) => s.current === release.id)) {
    d.log(`release ${release.id} is already live in slot ${live?.name ?? '(none)'}: nothing to do`);
    return d.live();
  }

  const keep = live ? `traffic stays on slot ${live.name}` : 'no slot was live';
  const label = `slot ${idle.name} [${names(d.hosts)}]`;
  await d.phase(rollback ? 'rolling_back' : 'deploying', `${label}: release ${release.id}`);
  if (rollback && states.every((s) => s.slots[idleIndex] === release.id)) {
    d.log(`${label}: release ${release.id} is still there: switching back to it`);
  } else {
    d.log(`${label}: deploying release ${release.id}`);
    try {
      await eachLimited(d.hosts, d.parallel, (host) => target.upload(host.target, release, input.log));
      await eachLimited(d.hosts, d.parallel, async (host) => {
        const started = performance.now();
        const env = { ...release.env, ...idleVars, ...slotDir(host, idle) };
        await target.activate(host.target, { ...release, env }, input.log, idle.name);
        d.log(`[${host.name}] release ${release.id} active in slot ${idle.name} in ${formatMs(performance.now() - started)}`);
      });
    } catch (err) {
      d.rethrowFatal(err);
      d.log(`FAILED: ${label}: ${message(err)}; ${keep}`);
      return failed(`${label}: ${message(err)}; ${keep}`, false);
    }
  }

  const hostVars = (host: Host) => slotDir(host, idle);
  if (!rollback) {
    const verdict = await d.verify(d.hosts, 0, `${label} before the switch`, { vars: idleVars, hostVars });
    if (!verdict.ok) {
      const reason = `${verdict.reason}; ${keep}; release ${release.id} keeps running in slot ${idle.name} for inspection`;
      d.log(`FAILED: ${reason}`);
      return failed(reason, false);
    }
  }

  input.signal.throwIfAborted();
  await d.phase(rollback ? 'rolling_back' : 'deploying', `switch traffic to slot ${idle.name}`);
  d.switched = true;
  try {
    await switchTo(d, strategy.switch, release, { ...release.env, ...idleVars });
  } catch (err) {
    return switchBack(d, strategy, states, liveIndex, { reason: message(err), detectedAt: Date.now() }, Date.now());
  }
  const switchedAt = Date.now();
  try {
    await eachLimited(d.hosts, d.parallel, async (host) => {
      await target.relink(host.target, release, 'current', input.log);
      d.serving(host, release.id);
    });
  } catch (err) {
    d.rethrowFatal(err);
    return switchBack(
      d,
      strategy,
      states,
      liveIndex,
      { reason: `recording the live release failed: ${message(err)}`, detectedAt: Date.now() },
      switchedAt,
    );
  }
  if (rollback) return d.live();

  const verdict = await d.verify(d.hosts, d.spec.bakeMs, `${label} after the switch`, { vars: idleVars, hostVars });
  if (!verdict.ok) return switchBack(d, strategy, states, liveIndex, verdict, switchedAt);
  await d.prune();
  return d.live();
}

/** After traffic moved to the new slot and something failed: back to the old slot, per `rollback`. */
async function switchBack(
  d: Deployment,
  strategy: Extract<StrategySpec, { kind: 'blue-green' }>,
  states: readonly HostSlots[],
  liveIndex: 0 | 1 | null,
  failure: Failure,
  switchedAt: number,
): Promise<DeploymentResult> {
  const { reason } = failure;
  const target = d.target as SlotTarget;
  const newSlot = strategy.slots[liveIndex === 0 ? 1 : 0].name;
  if (d.spec.rollback === 'manual' && d.input.mode === 'deploy') {
    d.log(`FAILED: ${reason}; rollback: manual leaves the traffic on slot ${newSlot}`);
    return failed(`${reason}; rollback: manual leaves the traffic on slot ${newSlot}`, true);
  }
  if (liveIndex === null) {
    d.log(`FAILED: ${reason}; no slot was live before, so there is none to switch back to`);
    return failed(`${reason}; no slot was live before, so there is none to switch back to`, true);
  }
  const old = strategy.slots[liveIndex];
  await d.phase('rolling_back', reason);
  d.log(`switching traffic back to slot ${old.name}: ${reason}`);
  let restoredAt: number;
  try {
    const env = d.input.previous?.env ?? d.release.env;
    await switchTo(d, strategy.switch, d.release, { ...env, ...slotVars(old, strategy.slots[1 - liveIndex]) });
    restoredAt = Date.now();
  } catch (err) {
    d.log(`FAILED: switching back to slot ${old.name} failed: ${message(err)}`);
    return failed(`${reason}; switching back to slot ${old.name} failed: ${message(err)}`, true);
  }
  d.switched = false;
  try {
    await eachLimited(states, d.parallel, async (s) => {
      const id = s.slots[liveIndex];
      // activate reads no files: the release is in the old slot.
      if (id === null) return;
      await target.relink(s.host.target, { ...d.release, id, sourceDir: '' }, 'current', d.input.log);
      d.serving(s.host, id);
    });
  } catch (err) {
    if (err instanceof Halt || err instanceof StaleFencingTokenError) throw err;
    // A wrong `current` would make the next deployment take the live slot for the idle one.
    d.log(`FAILED: traffic is on slot ${old.name} again, but pointing current back failed: ${message(err)}`);
    return failed(`${reason}; traffic is on slot ${old.name} again, but pointing current back failed: ${message(err)}`, false);
  }
  d.log(`ROLLED BACK: traffic on slot ${old.name} again, ${formatMs(restoredAt - failure.detectedAt)} after the failure was detected`);
  return { status: 'rolled_back', reason, switchedAtMs: switchedAt, detectedAtMs: failure.detectedAt, restoredAtMs: restoredAt };
}
