// `artifacts:images` (a Tandem extension): once the job succeeded, each ref it declared is expanded
// with the job's variables and pinned to the digest its registry serves now, so the pipeline records
// exactly what was pushed and a release can deploy it by digest, never by a tag that may move.
import { parseImageRef, resolveImage, type RegistryCredentials } from '../artifacts/index.js';
import type { JobImageJson } from '../api/index.js';
import { expandVariables, type ArtifactsSpec } from '../pipeline/index.js';
import type { FilesScope } from './job-files.js';

/**
 * The repository's registry credentials (CI_REGISTRY_USER/PASSWORD) for CI_REGISTRY, as
 * resolveImage's `auths` (anonymous elsewhere); a deploy's image is pinned with the same.
 */
export function registryAuths(env: Record<string, string>): Record<string, RegistryCredentials> {
  const { CI_REGISTRY: host, CI_REGISTRY_USER: username, CI_REGISTRY_PASSWORD: password } = env;
  if (!host || !username || !password) return {};
  // Keyed as refs name the registry: `docker.io` for Docker Hub whatever the variable says.
  const registry = parseImageRef(`${host}/x`).registry;
  return { [registry]: { username, password } };
}

/** The job's images pinned, in their declared order; throws naming the entry that cannot be. */
export async function pinJobImages(
  artifacts: ArtifactsSpec | null,
  succeeded: boolean,
  { env, backend, log }: FilesScope,
  signal: AbortSignal,
): Promise<void> {
  const declared = artifacts?.images ?? [];
  if (!succeeded || declared.length === 0) return;
  log.section(`Recording ${declared.length} image${declared.length === 1 ? '' : 's'} by digest`);
  const auths = registryAuths(env);
  const images: JobImageJson[] = [];
  for (const [index, raw] of declared.entries()) {
    const ref = expandVariables(raw, env);
    try {
      const image = await resolveImage(ref, { auths, signal });
      log.write(`${ref} is ${image}\n`);
      images.push({ ref, image });
    } catch (err) {
      throw new Error(`artifacts.images[${index}] (${raw}): ${(err as Error).message}`, { cause: err });
    }
  }
  await backend.saveImages(images);
}
