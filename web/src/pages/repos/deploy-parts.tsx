// How environments and releases read wherever they show: version, commit, who and when; an
// environment's tier, URL and protection; and whether a deploy holds it.
import { StatusBadge, Time } from '../../components/common.js';
import { Link } from '../../router.js';
import type { Environment, Release } from '../../types.js';

/** Releases in these states hold the environment's deploy lock: no other deploy starts meanwhile. */
const IN_PROGRESS: ReadonlySet<string> = new Set(['queued', 'deploying', 'verifying', 'paused']);

export const inProgress = (release: Release | null | undefined): boolean => !!release && IN_PROGRESS.has(release.status);

/** The release holding the environment's deploy lock, if any. */
export function lockHolder(env: Environment): Release | null {
  return [env.latest, env.current].find(inProgress) ?? null;
}

export const shortSha = (sha: string) => sha.slice(0, 8);

/** A release's commit, linked to the pipeline that built or rolled it out. */
export function ReleaseCommit({ release }: { release: Release }) {
  const sha = <code title={release.sha}>{shortSha(release.sha)}</code>;
  return release.pipelineId === null ? (
    sha
  ) : (
    <Link to={`/pipelines/${release.pipelineId}`} aria-label={`Commit ${shortSha(release.sha)}, pipeline #${release.pipelineId}`}>
      {sha}
    </Link>
  );
}

/** "v2 (abc12345) by pipeline #4, 3 minutes ago": what a release is, in one line. */
export function ReleaseLine({ release }: { release: Release }) {
  return (
    <span>
      <strong>{release.version}</strong> (<ReleaseCommit release={release} />) by {release.createdBy},{' '}
      <Time iso={release.finishedAt ?? release.createdAt} />
    </span>
  );
}

export function DeployLock({ env }: { env: Environment }) {
  const holder = lockHolder(env);
  if (!holder) return <span className="muted">free</span>;
  return (
    <span>
      <span className="badge status-running">locked</span> by release #{holder.id} <StatusBadge status={holder.status} />
    </span>
  );
}

/** Tier, URL and protection of an environment, under its name. */
export function EnvironmentTraits({ env }: { env: Environment }) {
  return (
    <div className="env-traits">
      {env.tier ? <span className="badge">{env.tier}</span> : null}
      {env.protected ? <span className="badge status-manual">protected</span> : null}
      {env.url ? (
        <a href={env.url} target="_blank" rel="noreferrer noopener">
          {env.url}
        </a>
      ) : null}
    </div>
  );
}
