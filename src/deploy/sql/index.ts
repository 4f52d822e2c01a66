export { liveRelease, lockEnvironment, releaseDigest, ReleaseError, startRelease } from './start-release.js';
export type { EnvironmentInput, StartedRelease, StartReleaseInput } from './start-release.js';
export { setReleaseStatus } from './set-release-status.js';
export type { ReleaseUpdate, SetReleaseStatusInput, SetReleaseStatusResult } from './set-release-status.js';
export { configureEnvironment, environmentName, listEnvironments, waitingDeployJobs } from './environments.js';
export type { EnvironmentSettings } from './environments.js';
export { findRelease, latestRelease, listReleases, recordReleaseDecision, releaseOfJob } from './releases.js';
export { readReleaseDeploySpec, readReleaseFiles, readReleaseTags } from '../../store/index.js';
