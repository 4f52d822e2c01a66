// What every route of the agent protocol checks before it writes: that the caller is an agent, and
// that the files it names were uploaded. Whether the job runs under the agent's claim is the
// scheduler's check (heldJob).
import { validateManifest, type BlobStore, type ManifestEntry } from '../artifacts/index.js';
import type { Principal } from '../auth/index.js';
import { ApiError } from './http.js';

export function agentIdOf(principal: Principal): number {
  if (principal.kind !== 'agent') throw new ApiError(403, 'this endpoint is for agents');
  return principal.agentId;
}

/** A manifest from an agent: well-formed, confined paths, and every blob already in the store. */
export async function uploadedManifest(blobs: BlobStore, input: unknown[]): Promise<ManifestEntry[]> {
  let files: ManifestEntry[];
  try {
    files = validateManifest(input);
  } catch (err) {
    throw new ApiError(422, (err as Error).message);
  }
  for (const f of files)
    if (!(await blobs.has(f.digest))) throw new ApiError(422, `files: blob ${f.digest} for "${f.path}" was not uploaded`);
  return files;
}
