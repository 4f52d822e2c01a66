export {
  type BlobInfo,
  BlobIntegrityError,
  BlobMeter,
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
export { PathEscapeError, isInside, resolveInside, safeRelativePath } from './paths.js';
export { ArtifactLimitError, type CollectLimits, type CollectSpec, type CollectedFile, collectFiles, normalizePattern } from './collect.js';
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
export { type BlobOperation, ReplicatedBlobStore, observeBlobStore, openArtifactStore, openBlobStore } from './open.js';
export { S3Objects, type S3Location, S3UrlError, isS3Url, parseS3Url, s3Client } from './s3.js';
export { S3BlobStore } from './s3-blob-store.js';
export { DotenvError, MAX_DOTENV_BYTES, MAX_DOTENV_VARIABLES, parseDotenv } from './dotenv.js';
export { reportTypeMatcher } from './report-files.js';
export { type LogBlobChunk, decodeLogBlob, encodeLogBlob } from './log-blob.js';
export {
  type ImageRef,
  ImageRefError,
  formatImageRef,
  imageWebUrl,
  isImagePath,
  isRegistryHost,
  parseImageRef,
  pinnedRef,
  registryEndpoint,
} from '../image-ref.js';
export { type RegistryCredentials, RegistryError, type ResolveImageOptions, resolveImage } from './oci/resolve.js';
