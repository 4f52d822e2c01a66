/** The sha providers send for the missing side of a created or deleted ref. */
export const ZERO_SHA = '0000000000000000000000000000000000000000';

export type PushKind = 'push' | 'tag' | 'merge_request';

/** Normalised across providers: only actions that bring new code to a merge request get this far. */
export type MergeRequestAction = 'opened' | 'updated' | 'reopened';

/** A repository as a forge's payload names it; any part the payload leaves out is null. */
export interface ForgeProject {
  id: string | null;
  /** group/name, owner/name, or PROJECT/slug. */
  path: string | null;
  url: string | null;
}

export interface MergeRequestInfo {
  iid: number;
  sourceBranch: string;
  targetBranch: string;
  title: string;
  action: MergeRequestAction;
  sourceProject: ForgeProject;
  targetProject: ForgeProject;
  /**
   * Whether the change comes from another repository than the target (a fork). True unless the
   * payload names both repositories by id and the ids are equal: when in doubt, it is a fork.
   */
  fromFork: boolean;
}

export interface PushEvent {
  kind: PushKind;
  /**
   * Full ref name. For merge requests this is the provider's own ref for the head commit
   * (refs/pull/N/head, refs/merge-requests/N/head, refs/pull-requests/N/from), which a mirror
   * fetches, so a fork's commit is reachable from the target repository.
   */
  ref: string;
  /** Commit sha; ZERO_SHA when the ref was deleted. May be an annotated tag object for providers that only send that: peel with MirrorCache.resolveRef. */
  sha: string;
  /** Previous sha of the ref; null when the ref is new or the provider does not say. */
  beforeSha: string | null;
  deleted: boolean;
  branch?: string;
  tag?: string;
  mergeRequest?: MergeRequestInfo;
}

export function isZeroSha(sha: string | null | undefined): boolean {
  return sha === null || sha === undefined || /^0+$/.test(sha);
}

/** The branch or tag event for a ref that moved from beforeSha to sha (ZERO_SHA when deleted). */
export function refEvent(ref: string, sha: string, beforeSha: string | null): PushEvent {
  const deleted = isZeroSha(sha);
  const event: PushEvent = {
    kind: ref.startsWith('refs/tags/') ? 'tag' : 'push',
    ref,
    sha: deleted ? ZERO_SHA : sha,
    beforeSha: isZeroSha(beforeSha) ? null : beforeSha,
    deleted,
  };
  if (ref.startsWith('refs/heads/')) event.branch = ref.slice('refs/heads/'.length);
  else if (ref.startsWith('refs/tags/')) event.tag = ref.slice('refs/tags/'.length);
  return event;
}

export function isBranchOrTagRef(ref: string): boolean {
  return ref.startsWith('refs/heads/') || ref.startsWith('refs/tags/');
}
