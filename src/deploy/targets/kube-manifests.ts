// The manifests of a kubernetes release: the files of its `source` dir (or their `kubectl kustomize`
// output, or `helm template` of a chart) with the release's pinned image put in for the placeholder, then shaped for a strategy.
// Rendering is a pure function of the release's files and image, both kept with the release, so a
// rollback renders the previous release again and needs no history from the cluster.
import { readdir, readFile, stat } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { parseAllDocuments, stringify } from 'yaml';
import { isMapping } from '../config-error.js';
import type { Kubectl } from './kubectl.js';
import type { ReleaseInput } from './types.js';

const IMAGE_PLACEHOLDER = '${TANDEM_RELEASE_IMAGE}';
const SLOT_LABEL = 'tandem.dev/slot';
const TRACK_LABEL = 'tandem.dev/track';
const RELEASE_ANNOTATION = 'tandem.dev/release';

const KUSTOMIZATION = ['kustomization.yaml', 'kustomization.yml', 'Kustomization'];
const MANIFEST = /\.(ya?ml|json)$/;
/** Kinds whose rollout `kubectl rollout status` waits for. */
const ROLLOUT_KINDS = ['Deployment', 'StatefulSet', 'DaemonSet'];

export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [key: string]: unknown;
}

/** Replaces the placeholder in every string of `value`; counts the replacements in `count`. */
function substitute(value: unknown, image: string | null, count: { n: number }): unknown {
  if (typeof value === 'string') {
    if (!value.includes(IMAGE_PLACEHOLDER)) return value;
    count.n++;
    return image === null ? value : value.replaceAll(IMAGE_PLACEHOLDER, image);
  }
  if (Array.isArray(value)) return value.map((item) => substitute(item, image, count));
  if (isMapping(value)) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, substitute(v, image, count)]));
  return value;
}

async function manifestTexts(
  dir: string,
  namespace: string,
  helmRelease: string,
  kubectl: Kubectl,
): Promise<{ name: string; text: string }[]> {
  const entries = await readdir(dir);
  if (entries.includes('Chart.yaml')) {
    const text = await kubectl.helm(['template', helmRelease, dir, '--namespace', namespace], { capture: true });
    return [{ name: 'helm template output', text }];
  }
  if (entries.some((e) => KUSTOMIZATION.includes(e))) {
    return [{ name: 'kubectl kustomize output', text: await kubectl.run(['kustomize', dir], { capture: true }) }];
  }
  const files = (await readdir(dir, { recursive: true })).filter((f) => MANIFEST.test(f)).sort();
  const texts: { name: string; text: string }[] = [];
  for (const file of files) {
    const path = join(dir, file);
    if ((await stat(path)).isFile()) texts.push({ name: relative(dir, path), text: await readFile(path, 'utf8') });
  }
  return texts;
}

/**
 * The release's objects: every document of the manifests, the placeholder replaced by the release's
 * pinned image, each put in `namespace` and annotated with the release id.
 */
export async function renderManifests(
  release: ReleaseInput,
  namespace: string,
  helmRelease: string,
  kubectl: Kubectl,
): Promise<KubeObject[]> {
  const where = `release ${release.id}`;
  if (!(await stat(release.sourceDir).catch(() => null))?.isDirectory())
    throw new Error(`${where}: the manifests dir ${release.sourceDir} is not a directory`);
  const objects: KubeObject[] = [];
  const count = { n: 0 };
  for (const { name, text } of await manifestTexts(release.sourceDir, namespace, helmRelease, kubectl)) {
    parseAllDocuments(text).forEach((doc, i) => {
      const at = `${where}: ${name}, document ${i + 1}`;
      if (doc.errors.length > 0) throw new Error(`${at}: ${doc.errors[0].message}`);
      const value = substitute(doc.toJS(), release.image, count);
      if (value === null || value === undefined) return;
      if (!isMapping(value) || typeof value.apiVersion !== 'string' || typeof value.kind !== 'string' || !isMapping(value.metadata))
        throw new Error(`${at}: expected a Kubernetes object with apiVersion, kind and metadata`);
      const meta = value.metadata;
      if (typeof meta.name !== 'string' || meta.name === '') throw new Error(`${at}: ${value.kind} has no metadata.name`);
      if (meta.namespace !== undefined && meta.namespace !== namespace)
        throw new Error(
          `${at}: ${value.kind} ${meta.name} names namespace ${String(meta.namespace)}, but the target deploys to ${namespace}`,
        );
      const annotations = isMapping(meta.annotations) ? meta.annotations : {};
      objects.push({
        ...value,
        apiVersion: value.apiVersion,
        kind: value.kind,
        metadata: { ...meta, name: meta.name, namespace, annotations: { ...annotations, [RELEASE_ANNOTATION]: String(release.id) } },
      });
    });
  }
  if (objects.length === 0) throw new Error(`${where}: no Kubernetes objects in ${release.sourceDir}`);
  if (release.image === null && count.n > 0)
    throw new Error(`${where}: the manifests name ${IMAGE_PLACEHOLDER}, but the release has no image (set deploy.image)`);
  if (release.image !== null && count.n === 0)
    throw new Error(`${where}: deploy.image is set, but no manifest names ${IMAGE_PLACEHOLDER} where the image goes`);
  return objects;
}

function withLabel(object: KubeObject, name: string, key: string, value: string, replicas?: (n: number) => number): KubeObject {
  const spec = isMapping(object.spec) ? object.spec : {};
  const selector = isMapping(spec.selector) ? spec.selector : {};
  const matchLabels = isMapping(selector.matchLabels) ? selector.matchLabels : {};
  const template = isMapping(spec.template) ? spec.template : {};
  const templateMeta = isMapping(template.metadata) ? template.metadata : {};
  const labels = isMapping(templateMeta.labels) ? templateMeta.labels : {};
  const count = typeof spec.replicas === 'number' ? spec.replicas : 1;
  return {
    ...object,
    metadata: { ...object.metadata, name, labels: { ...object.metadata.labels, [key]: value } },
    spec: {
      ...spec,
      ...(replicas ? { replicas: replicas(count) } : {}),
      selector: { ...selector, matchLabels: { ...matchLabels, [key]: value } },
      template: { ...template, metadata: { ...templateMeta, labels: { ...labels, [key]: value } } },
    },
  };
}

const isDeployment = (o: KubeObject) => o.kind === 'Deployment';
const isService = (o: KubeObject) => o.kind === 'Service' && o.apiVersion === 'v1';

/** Blue-green, a slot: Deployments as `<name>-<slot>` selecting their own pods; Services wait for the switch. */
export function slotObjects(objects: readonly KubeObject[], slot: string): KubeObject[] {
  return objects
    .filter((o) => !isService(o))
    .map((o) => (isDeployment(o) ? withLabel(o, `${o.metadata.name}-${slot}`, SLOT_LABEL, slot) : o));
}

/** Blue-green, the switch: the Services selecting only the pods of `slot`. */
export function slotServices(objects: readonly KubeObject[], slot: string): KubeObject[] {
  return objects.filter(isService).map((o) => {
    const spec = isMapping(o.spec) ? o.spec : {};
    const selector = isMapping(spec.selector) ? spec.selector : {};
    return { ...o, spec: { ...spec, selector: { ...selector, [SLOT_LABEL]: slot } } };
  });
}

/**
 * Canary: each Deployment again as `<name>-canary` with `percent` of its replicas (at least one).
 * Its pods keep the labels the Services select, so the canary takes its share of the traffic by
 * its share of the pods.
 */
export function canaryObjects(objects: readonly KubeObject[], percent: number): KubeObject[] {
  return objects
    .filter(isDeployment)
    .map((o) => withLabel(o, `${o.metadata.name}-canary`, TRACK_LABEL, 'canary', (n) => Math.max(1, Math.ceil((n * percent) / 100))));
}

/** `kind/name` of the objects whose rollout is waited for. */
export function rollouts(objects: readonly KubeObject[]): string[] {
  return objects.filter((o) => ROLLOUT_KINDS.includes(o.kind)).map((o) => `${o.kind.toLowerCase()}/${o.metadata.name}`);
}

/** kubectl's input: the objects as one stream of YAML documents (kubectl reads a JSON stream only as one object). */
export function manifestStream(objects: readonly KubeObject[]): string {
  return objects.map((o) => stringify(o)).join('---\n');
}
