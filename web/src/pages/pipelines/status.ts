// Small facts the pipelines area's pages share.

/** Statuses after which nothing changes (live updates stop). */
export const FINAL = new Set(['success', 'failed', 'canceled', 'skipped']);

/** The first 8 hex digits of a commit, as people quote them. */
export const shortSha = (sha: string) => sha.slice(0, 8);
