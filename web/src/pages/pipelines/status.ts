// Small facts the pipelines area's pages share.

/** Statuses after which nothing changes (live updates stop). */
export { FINISHED_STATUSES as FINAL } from '../../../../src/api/views.js';

/** The first 8 hex digits of a commit, as people quote them. */
export const shortSha = (sha: string) => sha.slice(0, 8);
