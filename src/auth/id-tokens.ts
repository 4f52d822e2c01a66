// Job ID tokens (GitLab's `id_tokens:`, GitHub's id-token): a JWT signed by Tandem that tells a
// cloud or a secret store which repository, ref and job is asking, so it can hand out short-lived
// credentials without a stored secret. Claims follow GitLab's names, so trust policies written
// for GitLab (project_path, ref, ref_type, ref_protected, environment...) carry over.
import { randomUUID } from 'node:crypto';
import type { JWTPayload } from 'jose';
import type { TokenSigner } from './secrets/index.js';

export interface JobIdentity {
  repo: { id: number; name: string };
  pipeline: { id: number; source: string; ref: string; isTag: boolean; sha: string };
  job: { id: number; name: string; stage: string };
  /** Protected refs get protected variables; a policy can demand one. */
  refProtected: boolean;
  environment: { name: string; tier: string | null; protected: boolean } | null;
}

/** `sub` as GitLab writes it: `project_path:NAME:ref_type:branch:ref:main`. */
export function idTokenSubject(id: JobIdentity): string {
  return `project_path:${id.repo.name}:ref_type:${id.pipeline.isTag ? 'tag' : 'branch'}:ref:${id.pipeline.ref}`;
}

export function idTokenClaims(id: JobIdentity): JWTPayload {
  const claims: JWTPayload = {
    project_id: String(id.repo.id),
    project_path: id.repo.name,
    pipeline_id: String(id.pipeline.id),
    pipeline_source: id.pipeline.source,
    job_id: String(id.job.id),
    job_name: id.job.name,
    job_stage: id.job.stage,
    ref: id.pipeline.ref,
    ref_type: id.pipeline.isTag ? 'tag' : 'branch',
    // A merge request pipeline's ref is the forge's full ref (refs/pull/1/head): never dressed as a branch.
    ref_path: id.pipeline.ref.startsWith('refs/') ? id.pipeline.ref : `refs/${id.pipeline.isTag ? 'tags' : 'heads'}/${id.pipeline.ref}`,
    ref_protected: String(id.refProtected),
    sha: id.pipeline.sha,
  };
  if (id.environment) {
    claims.environment = id.environment.name;
    claims.environment_protected = String(id.environment.protected);
    if (id.environment.tier) claims.deployment_tier = id.environment.tier;
  }
  return claims;
}

/** One signed token per `id_tokens` entry, by name. */
export async function mintIdTokens(
  signer: TokenSigner,
  requests: Record<string, { aud: string | string[] }>,
  id: JobIdentity,
  opts: { issuer: string; lifetimeSeconds: number },
): Promise<Record<string, string>> {
  const claims = idTokenClaims(id);
  const subject = idTokenSubject(id);
  const out: Record<string, string> = {};
  for (const [name, { aud }] of Object.entries(requests)) {
    out[name] = await signer.sign(
      { ...claims, jti: randomUUID() },
      { issuer: opts.issuer, audience: aud, subject, lifetimeSeconds: opts.lifetimeSeconds },
    );
  }
  return out;
}
