export { liveRelease, lockEnvironment, releaseDigest, ReleaseError, startRelease } from './start-release.js';
export type { EnvironmentInput, StartedRelease, StartReleaseInput } from './start-release.js';
export { setReleaseStatus } from './set-release-status.js';
export { hostReleases } from './host-releases.js';
export type { HostReleaseRow } from './host-releases.js';
export type { ReleaseUpdate, SetReleaseStatusInput, SetReleaseStatusResult } from './set-release-status.js';
export { configureEnvironment, environmentName, listEnvironments, requireEnvironment, waitingDeployJobs } from './environments.js';
export type { EnvironmentSettings } from './environments.js';
export { findRelease, latestRelease, listReleases, recordReleaseDecision, releaseOfJob } from './releases.js';
export { environmentOfAlert, requestRollback, rollbackOnAlert } from './rollback.js';
export type { AlertRollbackOutcome, RollbackContext, RollbackRequest } from './rollback.js';
export { listFreezes, recordFreezeOverride } from './freezes.js';
export type { FreezeOverrideEvent } from './freezes.js';
export { readReleaseDeploySpec, readReleaseFiles, readReleaseTags } from '../store/index.js';
/** The rows of environments and releases, as these operations take and return them. */
export type { Environment, Release } from '../store/index.js';
