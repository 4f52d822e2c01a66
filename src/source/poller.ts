import { isBranchOrTagRef, refEvent, ZERO_SHA } from './types.js';
import type { PushEvent } from './types.js';

/**
 * What changed between two polls of a repository's refs (both as from lsRemote: annotated tags
 * already peeled). New and moved branches and tags become events whose beforeSha is the previous
 * sha (null when new); vanished refs become deleted events. Sorted by ref name.
 */
export function diffRefs(previous: Record<string, string>, current: Map<string, string>): PushEvent[] {
  const events: PushEvent[] = [];
  for (const [ref, sha] of current) {
    if (!isBranchOrTagRef(ref)) continue;
    const before = previous[ref] ?? null;
    if (before !== sha) events.push(refEvent(ref, sha, before));
  }
  for (const [ref, before] of Object.entries(previous)) {
    if (isBranchOrTagRef(ref) && !current.has(ref)) events.push(refEvent(ref, ZERO_SHA, before));
  }
  return events.sort((a, b) => (a.ref < b.ref ? -1 : a.ref > b.ref ? 1 : 0));
}
