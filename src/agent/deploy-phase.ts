// The deploy phase of a job with a `deploy:` block, after its script succeeded: the files of
// `source` become a release on the server (blobs first, so a rollback needs nothing but the artifact
// store), the strategy rolls it out and verifies it, and the release's progress and outcome are
// reported with the claim's fencing token. A rollback job brings an older release back from its
// stored files instead: no checkout, no script, no verification.
import { mkdir, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { collectFiles, restoreFiles, storeFiles, type BlobStore, type ManifestEntry } from '../artifacts/index.js';
import { expandDeployBlock, parseDeploySpec, runDeployment, type DeploymentResult, type PreviousRelease } from '../deploy/index.js';
import { MAX_REPORTED_HOSTS } from '../api/index.js';

/** The release as the server answers for it. */
export interface ReleaseJson {
  id: number;
  kind: 'deploy' | 'rollback';
  version: string;
  sha: string;
  ref: string;
  digest: string;
  /** Pinned by digest; null for a release of files only. */
  image: string | null;
  status: string;
  files: ManifestEntry[];
}

export interface StartReleaseResponse {
  environment: { name: string; url: string | null };
  release: ReleaseJson;
  previous: ReleaseJson | null;
}

/** The server side of a deploy, every call carrying the claim's fencing token. */
export interface DeployBackend {
  readonly fencingToken: number;
  startRelease(body: { files?: ManifestEntry[]; image?: string; version?: string }): Promise<StartReleaseResponse>;
  reportRelease(body: {
    status: 'deploying' | 'verifying' | 'paused' | 'live' | 'failed' | 'rolled_back';
    reason?: string | null;
    restoredReleaseId?: number | null;
    /** What each host runs now. */
    hosts?: { name: string; releaseId: number }[];
  }): Promise<void>;
  decision(): Promise<{ status: string; decision: 'promote' | 'abort' | null }>;
}

export interface DeployPhaseInput {
  deploy: unknown;
  /** The job names this release when it is a rollback job. */
  rollbackOf: number | null;
  workspace: string;
  /** The job's environment (variables resolved): commands and checks see it. */
  env: Record<string, string>;
  backend: DeployBackend;
  blobs: BlobStore;
  /** Agent-side state per environment (script target fences, temp files). */
  stateDir: string;
  /** `deploy.image` pinned to `name@sha256:...`: a tag resolved against its registry, a digest checked. */
  pinImage(ref: string): Promise<string>;
  log(line: string): void;
  signal: AbortSignal;
}

export type DeployPhaseOutcome = { ok: true } | { ok: false; reason: string };

const DECISION_POLL_MS = 1000;

function releaseEnv(release: ReleaseJson, environment: StartReleaseResponse['environment']): Record<string, string> {
  return {
    TANDEM_RELEASE_ID: String(release.id),
    TANDEM_RELEASE_VERSION: release.version,
    TANDEM_RELEASE_SHA: release.sha,
    TANDEM_RELEASE_REF: release.ref,
    TANDEM_RELEASE_DIGEST: release.digest,
    ...(release.image ? { TANDEM_RELEASE_IMAGE: release.image } : {}),
    TANDEM_ENVIRONMENT: environment.name,
    ...(environment.url ? { TANDEM_ENVIRONMENT_URL: environment.url } : {}),
  };
}

export async function runDeployPhase(input: DeployPhaseInput): Promise<DeployPhaseOutcome> {
  const spec = parseDeploySpec(expandDeployBlock(input.deploy, input.env), 'deploy');
  const { backend, log } = input;
  let files: ManifestEntry[] | undefined;
  let image: string | undefined;
  if (input.rollbackOf === null && spec.source !== null) {
    const collected = await collectFiles(resolve(input.workspace, spec.source), { paths: ['.'] });
    if (collected.files.length === 0) return { ok: false, reason: `deploy.source: ${spec.source} has no files in the workspace` };
    files = await storeFiles(collected.files, input.blobs);
    log(`deploy: ${files.length} files of ${spec.source} stored for the release`);
  }
  if (input.rollbackOf === null && spec.image !== null) {
    try {
      image = await input.pinImage(spec.image);
    } catch (err) {
      return { ok: false, reason: `deploy.image: ${(err as Error).message}` };
    }
    log(`deploy: image ${spec.image}${image === spec.image ? '' : ` is ${image}`}`);
  }
  const started = await backend.startRelease({ files, image, version: input.env.TANDEM_RELEASE_VERSION || undefined });
  const { release, previous, environment } = started;
  log(
    `deploy: release #${release.id} (${release.version}) to ${environment.name}${previous ? `, after #${previous.id} (${previous.version})` : ', the first'}`,
  );

  const scratch = join(input.stateDir, 'releases');
  await mkdir(scratch, { recursive: true });
  /** A release's files on this agent, fetched from the artifact store once. */
  const filesOf = async (r: ReleaseJson): Promise<string> => {
    const dir = join(scratch, String(r.id));
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { recursive: true });
    await restoreFiles(dir, r.files, (digest) => input.blobs.get(digest));
    return dir;
  };
  // A rollback's files come from the artifact store; an image-only release gets an empty directory.
  const sourceDir = input.rollbackOf === null && spec.source !== null ? resolve(input.workspace, spec.source) : await filesOf(release);
  const previousRelease: PreviousRelease | null = previous
    ? { id: previous.id, image: previous.image, env: releaseEnv(previous, environment), files: () => filesOf(previous) }
    : null;

  // What each host runs, sent with every report from here on; the server keeps the latest per host.
  const hosts = new Map<string, number>();
  const report: DeployBackend['reportRelease'] = (body) =>
    backend.reportRelease(
      hosts.size === 0
        ? body
        : { ...body, hosts: [...hosts].slice(0, MAX_REPORTED_HOSTS).map(([name, releaseId]) => ({ name, releaseId })) },
    );
  let result: DeploymentResult;
  try {
    result = await runDeployment({
      spec,
      mode: input.rollbackOf === null ? 'deploy' : 'rollback',
      release: {
        id: release.id,
        sourceDir,
        image: release.image,
        fencingToken: backend.fencingToken,
        env: releaseEnv(release, environment),
      },
      previous: previousRelease,
      workDir: input.stateDir,
      env: input.env,
      cwd: input.workspace,
      log,
      signal: input.signal,
      onHostRelease: (host, releaseId) => hosts.set(host, releaseId),
      onPhase: async (phase, detail) => {
        // rolling_back is the deployment's own business: the release stays verifying until it ends.
        if (phase !== 'rolling_back') await report({ status: phase, reason: detail ?? null });
      },
      awaitDecision: async (reason, signal) => {
        await report({ status: 'paused', reason });
        log(`deploy: paused (${reason}): waiting for promote or abort (tandem env promote|abort)`);
        for (;;) {
          await sleep(DECISION_POLL_MS, undefined, { signal });
          const answer = await backend.decision();
          if (answer.decision) {
            await report({ status: 'verifying', reason: `${answer.decision} by a person` });
            return answer.decision;
          }
        }
      },
    });
  } finally {
    await rm(scratch, { recursive: true, force: true }).catch(() => undefined);
  }
  switch (result.status) {
    case 'live':
      await report({ status: 'live' });
      log(
        `deploy: release #${release.id} (${release.version}) is live in ${environment.name} (${(result.durationMs / 1000).toFixed(1)} s)`,
      );
      return { ok: true };
    case 'rolled_back':
      await report({ status: 'rolled_back', reason: result.reason, restoredReleaseId: previous?.id ?? null });
      log(
        `deploy: rolled back to #${previous?.id} (${previous?.version}): ${result.reason}; previous release serving ${((result.restoredAtMs - result.detectedAtMs) / 1000).toFixed(2)} s after the failure was seen`,
      );
      return { ok: false, reason: `rolled back: ${result.reason}` };
    case 'failed':
      await report({ status: 'failed', reason: result.reason });
      return { ok: false, reason: result.reason };
  }
}
