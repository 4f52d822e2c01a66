// Image references read as Docker reads them (distribution/reference: ParseNormalizedNamed), so a
// ref means in Tandem what it means to `docker pull`: `busybox` is docker.io/library/busybox:latest,
// the first path component is a registry only when it has a dot, a port or is `localhost`
// (`foo:5000/bar` names a registry, `foo:5000` a tag), and a digest wins over a tag.
import { DomainError } from './errors.js';

export const DEFAULT_REGISTRY = 'docker.io';
/** Docker Hub's API host: `docker.io` is a name, not where the registry answers. */
const DOCKER_HUB_ENDPOINT = 'registry-1.docker.io';
const LEGACY_DEFAULT_REGISTRY = 'index.docker.io';
const OFFICIAL_NAMESPACE = 'library';
/** Longest repository name with its registry, as distribution limits it. */
const NAME_MAX = 255;
/** Longest reference Tandem reads at all: a bound before any regex runs. */
export const REF_MAX = 1024;

const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const DOMAIN =
  /^(?:(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])(?:\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST_HEX = { sha256: 64, sha512: 128 } as const;
const BARE_ID = /^[a-f0-9]{64}$/;

/** A registry as image references name it, `host[:port]` (a port of at most 5 digits), no scheme or path. */
export function isRegistryHost(text: string): boolean {
  return DOMAIN.test(text) && !/:[0-9]{6,}$/.test(text);
}

/** A repository path below a registry: lowercase components separated by "/". */
export function isImagePath(text: string): boolean {
  return text.split('/').every((component) => PATH_COMPONENT.test(component));
}

export interface ImageRef {
  /** `docker.io`, `ghcr.io`, `127.0.0.1:5000`: the name users write. */
  registry: string;
  /** The repository in the registry: `library/busybox`, `team/app`. */
  repository: string;
  tag: string | null;
  /** `sha256:<hex>` when the ref is pinned. */
  digest: string | null;
}

/** A reference that is not an image reference; the message names it and what is wrong. */
export class ImageRefError extends DomainError {
  override name = 'ImageRefError';
  constructor(ref: string, reason: string) {
    super('invalid', `image reference "${ref.length > 200 ? `${ref.slice(0, 200)}...` : ref}": ${reason}`);
  }
}

export function parseImageRef(ref: string): ImageRef {
  const fail = (reason: string): never => {
    throw new ImageRefError(ref, reason);
  };
  if (ref.length === 0) fail('empty');
  if (ref.length > REF_MAX) fail(`longer than ${REF_MAX} characters`);
  if (BARE_ID.test(ref)) fail('a bare 64-character hex ID is not a repository name; write name@sha256:<hex>');

  let rest = ref;
  let digest: string | null = null;
  const at = rest.indexOf('@');
  if (at !== -1) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    checkDigest(digest, fail);
  }

  const slash = rest.indexOf('/');
  const first = slash === -1 ? '' : rest.slice(0, slash);
  const namesRegistry = slash !== -1 && (/[.:]/.test(first) || first === 'localhost' || first.toLowerCase() !== first);
  let registry = namesRegistry ? first : DEFAULT_REGISTRY;
  let remainder = namesRegistry ? rest.slice(slash + 1) : rest;
  if (namesRegistry && !DOMAIN.test(registry)) fail(`"${registry}" is not a registry host[:port]`);
  if (registry === LEGACY_DEFAULT_REGISTRY) registry = DEFAULT_REGISTRY;

  let tag: string | null = null;
  const colon = remainder.lastIndexOf(':');
  if (colon !== -1) {
    tag = remainder.slice(colon + 1);
    remainder = remainder.slice(0, colon);
    if (!TAG.test(tag)) fail(`tag "${tag}" is not valid (letters, digits, _ . -; at most 128, not starting with . or -)`);
  }
  if (remainder === '') fail('no repository name');
  if (remainder.toLowerCase() !== remainder) fail('repository name must be lowercase');
  for (const component of remainder.split('/')) {
    if (!PATH_COMPONENT.test(component)) {
      fail(`"${component}" is not a valid name component (lowercase letters and digits, separated by . _ __ or -)`);
    }
  }
  if (registry === DEFAULT_REGISTRY && !remainder.includes('/')) remainder = `${OFFICIAL_NAMESPACE}/${remainder}`;
  if (registry.length + 1 + remainder.length > NAME_MAX) fail(`repository name longer than ${NAME_MAX} characters`);
  return { registry, repository: remainder, tag: digest === null ? (tag ?? 'latest') : tag, digest };
}

function checkDigest(digest: string, fail: (reason: string) => never): void {
  const colon = digest.indexOf(':');
  const algorithm = digest.slice(0, colon);
  const hex = digest.slice(colon + 1);
  const length = colon === -1 ? undefined : DIGEST_HEX[algorithm as keyof typeof DIGEST_HEX];
  if (length === undefined) fail(`digest "${digest}" is not sha256:<hex> or sha512:<hex>`);
  if (hex.length !== length || !/^[a-f0-9]+$/.test(hex)) fail(`digest "${digest}" needs ${length} lowercase hex digits`);
}

/** `registry/repository@digest`: the form a release pins. */
export function pinnedRef(image: ImageRef, digest: string): string {
  return `${image.registry}/${image.repository}@${digest}`;
}

/** `registry/repository:tag` or `...@digest`: the ref in full, for messages. */
export function formatImageRef(image: ImageRef): string {
  const base = `${image.registry}/${image.repository}`;
  if (image.digest) return `${base}${image.tag ? `:${image.tag}` : ''}@${image.digest}`;
  return `${base}:${image.tag ?? 'latest'}`;
}

/** Where the registry's API answers (`registry-1.docker.io` for Docker Hub). */
export function registryEndpoint(registry: string): string {
  return registry === DEFAULT_REGISTRY ? DOCKER_HUB_ENDPOINT : registry;
}

/**
 * A page about the image for people: Docker Hub's and Quay's repository pages, GHCR's package page
 * (ghcr.io redirects there); elsewhere the manifest itself on the registry's API.
 */
export function imageWebUrl(image: ImageRef, digest: string): string {
  const { registry, repository } = image;
  if (registry === DEFAULT_REGISTRY) {
    const official = repository.startsWith(`${OFFICIAL_NAMESPACE}/`) && repository.split('/').length === 2;
    return official
      ? `https://hub.docker.com/_/${repository.slice(OFFICIAL_NAMESPACE.length + 1)}`
      : `https://hub.docker.com/r/${repository}`;
  }
  if (registry === 'quay.io') return `https://quay.io/repository/${repository}/manifest/${digest}`;
  if (registry === 'ghcr.io') return `https://ghcr.io/${repository}`;
  return `https://${registry}/v2/${repository}/manifests/${digest}`;
}
