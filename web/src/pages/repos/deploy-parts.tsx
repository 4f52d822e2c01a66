// How environments and releases read wherever they show: version, commit, who and when; an
// environment's tier, URL and protection; and whether a deploy holds it.
import { StatusBadge, Time } from '../../components/common.js';
import { Link } from '../../router.js';
import { shortSha } from '../pipelines/status.js';
import type { Environment, Release } from '../../types.js';

/** Releases in these states hold the environment's deploy lock: no other deploy starts meanwhile. */
const IN_PROGRESS: ReadonlySet<string> = new Set(['queued', 'deploying', 'verifying', 'paused']);

export const inProgress = (release: Release | null | undefined): boolean => !!release && IN_PROGRESS.has(release.status);

/** The release holding the environment's deploy lock, if any. */
export function lockHolder(env: Environment): Release | null {
  return [env.latest, env.current].find(inProgress) ?? null;
}

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

/** Releases a rollback may bring back: ones that were live before, serving other files than now. */
export function rollbackCandidates(releases: Release[], current: Release | null): Release[] {
  return releases.filter((r) => r.status === 'superseded' && r.digest !== current?.digest);
}

/**
 * The last good release: the newest one that was live before the current one (and serves other
 * files), which is what a rollback brings back unless told otherwise (the server's default too).
 */
export function lastGood(releases: Release[], current: Release | null): Release | undefined {
  const candidates = rollbackCandidates(releases, current);
  return candidates.find((r) => !current || r.id < current.id) ?? candidates[0];
}

/** "6 Dec 2026, 14:03": a release's date where it is told apart from its neighbours. */
export function releaseDate(release: Release): string {
  const iso = release.finishedAt ?? release.createdAt;
  return iso ? new Date(iso).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' }) : '—';
}

/** "Release #7 · v1 · Fix the login (abc12345) · 6 Dec 2026, 14:03": one line for a choice list. */
export function releaseChoice(release: Release, good: boolean): string {
  return [
    `Release #${release.id}`,
    release.version,
    `${release.commitTitle ? `${release.commitTitle} ` : ''}(${shortSha(release.sha)})`,
    releaseDate(release),
    ...(good ? ['last good'] : []),
  ].join(' · ');
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
