export {
  type BlobInfo,
  BlobIntegrityError,
  BlobNotFoundError,
  type BlobStore,
  BlobTooLargeError,
  FsBlobStore,
  InvalidDigestError,
  type PutExpectations,
  assertDigest,
  isValidDigest,
  verifyingStream,
} from './blob-store.js';
export { type BlobOperation, observedBlobStore } from './observed.js';
export { PathEscapeError, isInside, resolveInside, safeRelativePath } from './paths.js';
export {
  ArtifactLimitError,
  type CollectLimits,
  type CollectSpec,
  type CollectedFile,
  collectFiles,
  normalizePattern,
} from './collect.js';
export {
  type FetchBlob,
  ManifestError,
  type ManifestEntry,
  type StoreProgress,
  manifestToTarGz,
  restoreFiles,
  storeFiles,
  validateManifest,
} from './manifest.js';
