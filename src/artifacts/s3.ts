// S3 (or any S3-compatible store) for artifacts and backups. One URL names the place:
// `s3://bucket/prefix?endpoint=http://host:9000&region=us-east-1&forcePathStyle=true`; the query is
// only needed for stores other than AWS. Credentials come from the AWS SDK's usual sources
// (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, the shared config files, an instance role), never
// from the URL, so the URL can be logged and shown in metrics.
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import type { S3Client, S3ClientConfig } from '@aws-sdk/client-s3';
import { lazyRequire } from '../lazy-require.js';

const s3Sdk = lazyRequire<typeof import('@aws-sdk/client-s3')>('@aws-sdk/client-s3');
const s3Storage = lazyRequire<typeof import('@aws-sdk/lib-storage')>('@aws-sdk/lib-storage');

export class S3UrlError extends Error {
  override name = 'S3UrlError';
}

export interface S3Location {
  bucket: string;
  /** Empty, or ends with "/". */
  prefix: string;
  /** For S3-compatible stores (MinIO, Ceph, s3rver); AWS when absent. */
  endpoint?: string;
  region: string;
  forcePathStyle: boolean;
}

const BUCKET_RE = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const KNOWN_PARAMS = new Set(['endpoint', 'region', 'forcePathStyle']);

export function isS3Url(url: string): boolean {
  return /^s3:\/\//i.test(url);
}

/** Parses `s3://bucket[/prefix][?endpoint=…&region=…&forcePathStyle=true]`; errors name `what` (the setting or flag). */
export function parseS3Url(url: string, what = 'S3 URL'): S3Location {
  // Checked on the text: URL parsing would quietly resolve the dot segments away.
  const rawPath = url.replace(/^s3:\/\/[^/?#]*/i, '').split(/[?#]/)[0];
  if (rawPath.split('/').some((seg) => /^(\.|%2e){1,2}$/i.test(seg)))
    throw new S3UrlError(`${what} "${url}": the prefix must not contain "." or ".." segments`);
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new S3UrlError(`${what} "${url}": not a URL; expected s3://bucket/prefix`);
  }
  if (parsed.protocol !== 's3:') throw new S3UrlError(`${what} "${url}": expected s3://bucket/prefix`);
  if (parsed.username || parsed.password)
    throw new S3UrlError(
      `${what}: credentials do not belong in the URL; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or an AWS profile or role)`,
    );
  const bucket = parsed.hostname;
  if (!BUCKET_RE.test(bucket))
    throw new S3UrlError(`${what} "${url}": "${bucket}" is not a valid bucket name (3 to 63 lowercase letters, digits, dots and hyphens)`);
  const path = decodeURIComponent(parsed.pathname).replace(/^\/+|\/+$/g, '');
  for (const key of parsed.searchParams.keys()) {
    if (!KNOWN_PARAMS.has(key))
      throw new S3UrlError(`${what} "${url}": unknown parameter "${key}" (known: ${[...KNOWN_PARAMS].join(', ')})`);
  }
  const endpoint = parsed.searchParams.get('endpoint') ?? undefined;
  if (endpoint !== undefined && !/^https?:\/\/[^/]+\/?$/.test(endpoint))
    throw new S3UrlError(`${what} "${url}": endpoint "${endpoint}" must be http(s)://host[:port]`);
  const style = parsed.searchParams.get('forcePathStyle');
  if (style !== null && style !== 'true' && style !== 'false')
    throw new S3UrlError(`${what} "${url}": forcePathStyle must be true or false`);
  return {
    bucket,
    prefix: path === '' ? '' : `${path}/`,
    endpoint,
    region: parsed.searchParams.get('region') ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? 'us-east-1',
    // S3-compatible servers rarely have DNS for virtual-hosted buckets.
    forcePathStyle: style === null ? endpoint !== undefined : style === 'true',
  };
}

export function s3Client(location: S3Location, extra: Partial<S3ClientConfig> = {}): S3Client {
  return new (s3Sdk().S3Client)({
    region: location.region,
    endpoint: location.endpoint,
    forcePathStyle: location.forcePathStyle,
    // Tandem checks its own sha256 on every read; the SDK's default CRC trailers are not
    // understood by every S3-compatible server.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    maxAttempts: 4,
    ...extra,
  });
}

function statusOf(err: unknown): number | undefined {
  return (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
}

export function isS3NotFound(err: unknown): boolean {
  const name = (err as { name?: string }).name;
  return name === 'NoSuchKey' || name === 'NotFound' || statusOf(err) === 404;
}

export interface S3ObjectInfo {
  /** Relative to the location's prefix. */
  key: string;
  size: number;
}

/** Objects under one prefix, by keys relative to it; what the blob store and backups build on. */
export class S3Objects {
  readonly client: S3Client;

  constructor(
    readonly location: S3Location,
    options: { client?: S3Client; partSize?: number; queueSize?: number } = {},
  ) {
    this.client = options.client ?? s3Client(location);
    this.partSize = options.partSize ?? 8 * 1024 * 1024;
    this.queueSize = options.queueSize ?? 4;
  }

  private readonly partSize: number;
  private readonly queueSize: number;

  /** `s3://bucket/prefix/key`, for messages. */
  describe(key = ''): string {
    return `s3://${this.location.bucket}/${this.location.prefix}${key}`;
  }

  private full(key: string): string {
    return this.location.prefix + key;
  }

  /** Streams `body` to `key`; bodies larger than a part go up as a multipart upload. */
  async put(key: string, body: Readable | Buffer): Promise<void> {
    const upload = new (s3Storage().Upload)({
      client: this.client,
      params: { Bucket: this.location.bucket, Key: this.full(key), Body: body },
      partSize: this.partSize,
      queueSize: this.queueSize,
    });
    await upload.done();
  }

  /** The object's bytes as a stream and its size, or null when there is none. */
  async get(key: string): Promise<{ body: Readable; size: number | undefined } | null> {
    try {
      const res = await this.client.send(new (s3Sdk().GetObjectCommand)({ Bucket: this.location.bucket, Key: this.full(key) }));
      if (!(res.Body instanceof Readable)) throw new Error(`${this.describe(key)}: the S3 client returned no stream`);
      return { body: res.Body, size: res.ContentLength };
    } catch (err) {
      if (isS3NotFound(err)) return null;
      throw err;
    }
  }

  async head(key: string): Promise<{ size: number } | null> {
    try {
      const res = await this.client.send(new (s3Sdk().HeadObjectCommand)({ Bucket: this.location.bucket, Key: this.full(key) }));
      return { size: res.ContentLength ?? 0 };
    } catch (err) {
      if (isS3NotFound(err)) return null;
      throw err;
    }
  }

  /** Server-side copy within the location (single request: objects up to 5 GiB). */
  async copy(from: string, to: string): Promise<void> {
    const source = `${this.location.bucket}/${this.full(from)}`.split('/').map(encodeURIComponent).join('/');
    await this.client.send(new (s3Sdk().CopyObjectCommand)({ Bucket: this.location.bucket, Key: this.full(to), CopySource: source }));
  }

  async delete(key: string): Promise<void> {
    await this.client.send(new (s3Sdk().DeleteObjectCommand)({ Bucket: this.location.bucket, Key: this.full(key) }));
  }

  /** Every object whose relative key starts with `prefix`, in key order. */
  async *list(prefix = ''): AsyncIterable<S3ObjectInfo> {
    let token: string | undefined;
    do {
      const res = await this.client.send(
        new (s3Sdk().ListObjectsV2Command)({ Bucket: this.location.bucket, Prefix: this.full(prefix), ContinuationToken: token }),
      );
      for (const o of res.Contents ?? []) {
        if (o.Key !== undefined) yield { key: o.Key.slice(this.location.prefix.length), size: o.Size ?? 0 };
      }
      token = res.IsTruncated ? res.NextContinuationToken : undefined;
    } while (token);
  }

  /** A key under `tmp/` no other writer uses. */
  tempKey(): string {
    return `tmp/${Date.now()}-${randomBytes(8).toString('hex')}`;
  }

  close(): void {
    this.client.destroy();
  }
}
