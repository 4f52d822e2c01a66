export { liveRelease, lockEnvironment, releaseDigest, ReleaseError, startRelease } from './start-release.js';
export type { EnvironmentInput, StartedRelease, StartReleaseInput } from './start-release.js';
export { setReleaseStatus } from './set-release-status.js';
export type { ReleaseUpdate, SetReleaseStatusInput, SetReleaseStatusResult } from './set-release-status.js';
