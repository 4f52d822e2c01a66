import { KubectlError, Kubectl } from './kubectl.js';
import { canaryObjects, manifestStream, renderManifests, rollouts, slotObjects, slotServices, type KubeObject } from './kube-manifests.js';
import {
  StaleFencingTokenError,
  TargetError,
  type KubernetesTarget,
  type KubernetesTargetSpec,
  type ReleaseInput,
  type TargetHost,
  type TargetLog,
  type TargetOptions,
} from './types.js';

/** The ConfigMap holding the namespace's fence (an annotation) and its records (`current`, the slots). */
export const FENCE_CONFIGMAP = 'tandem-fence';
export const FENCE_ANNOTATION = 'tandem.dev/fencing-token';
/** kubectl's grace beyond a rollout's own --timeout before it is killed. */
const KILL_GRACE_MS = 15_000;
/** Compare-and-swap rounds lost to other writers before giving up. */
const FENCE_ATTEMPTS = 5;

interface FenceMap {
  metadata: { resourceVersion?: string; annotations?: Record<string, string>; labels?: Record<string, string> };
  data?: Record<string, string>;
}

/**
 * The `kubernetes` target: one namespace of a cluster, reached with kubectl. See KubernetesTarget
 * for what each step does, and docs/pipeline-reference.md#kubernetes-target.
 */
export class KubernetesDeployTarget implements KubernetesTarget {
  readonly kind = 'kubernetes' as const;
  readonly hosts: readonly TargetHost[];
  private readonly host: TargetHost;
  private readonly kubectl: Kubectl;
  /** Rendered by upload, per release id: what activate, a switch or a canary applies. */
  private readonly rendered = new Map<number, KubeObject[]>();

  constructor(
    private readonly spec: KubernetesTargetSpec,
    opts: TargetOptions,
  ) {
    this.host = { name: `${spec.context ?? 'kubernetes'}/${spec.namespace}` };
    this.hosts = [this.host];
    this.kubectl = new Kubectl(this.host.name, spec, opts.workDir, opts.env ?? process.env, opts.cwd ?? process.cwd());
  }

  private checkHost(host: TargetHost): void {
    if (host !== this.host && host.name !== this.host.name) throw new Error(`the kubernetes target has no host "${host.name}"`);
  }

  /**
   * What upload rendered, or the release rendered now: a blue-green rollback to the release still in
   * the idle slot switches the Services without an upload.
   */
  private async objectsOf(release: ReleaseInput): Promise<KubeObject[]> {
    const objects = this.rendered.get(release.id);
    if (objects) return objects;
    if (release.sourceDir === '') throw new Error(`release ${release.id} was not rendered (upload it first)`);
    return this.render(release);
  }

  private async render(release: ReleaseInput): Promise<KubeObject[]> {
    const objects = await renderManifests(release, this.spec.namespace, this.spec.helmRelease ?? this.spec.namespace, this.kubectl);
    this.rendered.set(release.id, objects);
    return objects;
  }

  private async readFence(): Promise<FenceMap | null> {
    const text = await this.kubectl.run(['get', 'configmap', FENCE_CONFIGMAP, '-o', 'json', '--ignore-not-found'], { capture: true });
    return text.trim() === '' ? null : (JSON.parse(text) as FenceMap);
  }

  /**
   * Refuses a token below the highest the namespace has seen, else records it (and `records`) by a
   * compare-and-swap on the ConfigMap's resourceVersion, so two deploys can never both pass on the
   * same value. Checked before every change to the cluster.
   */
  private async fence(token: number, records: Record<string, string> = {}): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const current = await this.readFence();
      const seen = Number(current?.metadata.annotations?.[FENCE_ANNOTATION] ?? 0);
      if (token < seen) {
        throw new StaleFencingTokenError(
          this.host.name,
          token,
          seen,
          `${this.host.name}: stale fencing token ${token} refused: ConfigMap ${FENCE_CONFIGMAP} in namespace ${this.spec.namespace} has already seen token ${seen}`,
        );
      }
      if (current && token === seen && Object.entries(records).every(([k, v]) => current.data?.[k] === v)) return;
      const metadata = {
        name: FENCE_CONFIGMAP,
        labels: current?.metadata.labels ?? { 'app.kubernetes.io/managed-by': 'tandem' },
        annotations: { ...current?.metadata.annotations, [FENCE_ANNOTATION]: String(token) },
        ...(current ? { resourceVersion: current.metadata.resourceVersion } : {}),
      };
      const body = JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata, data: { ...current?.data, ...records } });
      try {
        await this.kubectl.run([current ? 'replace' : 'create', '-f', '-'], { input: body, capture: true });
        return;
      } catch (err) {
        const lost = err instanceof KubectlError && (err.reason === 'Conflict' || err.reason === 'AlreadyExists');
        if (!lost || attempt >= FENCE_ATTEMPTS) throw err;
      }
    }
  }

  private async apply(objects: readonly KubeObject[], log: TargetLog): Promise<void> {
    await this.kubectl.run(['apply', '--server-side', '--field-manager=tandem', '--force-conflicts', '-f', '-'], {
      input: manifestStream(objects),
      log,
    });
  }

  /** Waits for every Deployment (StatefulSet, DaemonSet) of `objects`, all within the target's timeout. */
  private async waitForRollout(objects: readonly KubeObject[], log: TargetLog): Promise<void> {
    const deadline = performance.now() + this.spec.timeoutMs;
    for (const name of rollouts(objects)) {
      const left = Math.max(1, Math.ceil((deadline - performance.now()) / 1000));
      try {
        await this.kubectl.run(['rollout', 'status', name, `--timeout=${left}s`], { log, timeoutMs: left * 1000 + KILL_GRACE_MS });
      } catch (err) {
        const why = err instanceof Error ? err.message : String(err);
        throw new TargetError(
          this.host.name,
          `${this.host.name}: the rollout of ${name} did not complete within ${this.spec.timeoutMs / 1000} s (deploy.target.kubernetes.timeout): ${why}`,
        );
      }
    }
  }

  async upload(host: TargetHost, release: ReleaseInput, log: TargetLog): Promise<void> {
    this.checkHost(host);
    const objects = await this.render(release);
    log(
      `[${this.host.name}] release ${release.id}: ${objects.length} objects rendered${release.image ? ` with image ${release.image}` : ''}`,
    );
    await this.fence(release.fencingToken);
  }

  /** link 'current': the release's objects as written; any other link is a blue-green slot. */
  async activate(host: TargetHost, release: ReleaseInput, log: TargetLog, link = 'current'): Promise<void> {
    this.checkHost(host);
    const all = await this.objectsOf(release);
    const objects = link === 'current' ? all : slotObjects(all, link);
    await this.fence(release.fencingToken);
    await this.apply(objects, log);
    await this.waitForRollout(objects, log);
    await this.fence(release.fencingToken, { [link]: String(release.id) });
  }

  async relink(host: TargetHost, release: ReleaseInput, link: string): Promise<void> {
    this.checkHost(host);
    await this.fence(release.fencingToken, { [link]: String(release.id) });
  }

  async switchTraffic(host: TargetHost, release: ReleaseInput, slot: string, log: TargetLog): Promise<void> {
    this.checkHost(host);
    const services = slotServices(await this.objectsOf(release), slot);
    if (services.length === 0)
      throw new TargetError(this.host.name, `${this.host.name}: blue-green switches a Service, and the manifests have none`);
    await this.fence(release.fencingToken);
    await this.apply(services, log);
  }

  async startCanary(host: TargetHost, release: ReleaseInput, percent: number, log: TargetLog): Promise<void> {
    this.checkHost(host);
    const canary = canaryObjects(await this.objectsOf(release), percent);
    if (canary.length === 0)
      throw new TargetError(this.host.name, `${this.host.name}: a canary copies Deployments, and the manifests have none`);
    await this.fence(release.fencingToken);
    await this.apply(canary, log);
    await this.waitForRollout(canary, log);
  }

  async stopCanary(host: TargetHost, release: ReleaseInput, log: TargetLog): Promise<void> {
    this.checkHost(host);
    const names = canaryObjects(await this.objectsOf(release), 100).map((o) => o.metadata.name);
    await this.fence(release.fencingToken);
    await this.kubectl.run(['delete', 'deployment', ...names, '--ignore-not-found', '--wait=false'], { log });
  }

  async current(host: TargetHost, link = 'current'): Promise<number | null> {
    this.checkHost(host);
    const id = (await this.readFence())?.data?.[link];
    return id === undefined || !/^\d+$/.test(id) ? null : Number(id);
  }

  async has(host: TargetHost, releaseId: number): Promise<boolean> {
    this.checkHost(host);
    return this.rendered.has(releaseId);
  }

  /** Nothing is kept on the cluster but what is applied; the token still counts. */
  async prune(host: TargetHost, _keep: number, fencingToken: number): Promise<number[]> {
    this.checkHost(host);
    await this.fence(fencingToken);
    return [];
  }

  async close(): Promise<void> {}
}
