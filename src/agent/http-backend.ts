// The JobBackend of an agent: every write goes to the server with the claim's fencing token.
import type { Readable } from 'node:stream';
import type { BlobInfo, BlobStore, ManifestEntry, PutExpectations } from '../artifacts/index.js';
import type { LogChunk } from '../executor/index.js';
import { HttpError, type ServerClient } from './client.js';
import type { StartReleaseResponse } from './deploy-phase.js';
import type { JobBackend } from './job-runner.js';
import type { JobOutbox, OutboxTarget } from './outbox.js';
import type { CompleteRequest, CoverageReportJson, HeartbeatResponse, JobImageJson, JunitReportsResponse } from '../api/index.js';

/** The server's artifact store seen from an agent: upload only what it lacks, read what it has. */
class ServerBlobStore implements BlobStore {
  constructor(private readonly client: ServerClient) {}

  async has(digest: string): Promise<boolean> {
    const res = await this.client.json<{ missing: string[] }>('POST', '/api/v1/agent/blobs/missing', { digests: [digest] });
    return !(res?.missing.includes(digest) ?? true);
  }

  async stat(digest: string): Promise<{ size: number } | null> {
    // Agents only need presence; sizes live in manifests.
    return (await this.has(digest)) ? { size: -1 } : null;
  }

  async put(source: Readable, expected: PutExpectations = {}): Promise<BlobInfo> {
    if (!expected.digest || expected.size === undefined) throw new Error('agent uploads need the digest and size up front');
    const res = await this.client.request(
      'PUT',
      `/api/v1/agent/blobs/${expected.digest}`,
      { stream: source, length: expected.size },
      { timeoutMs: 30 * 60_000 },
    );
    if (!res.ok) throw new HttpError(res.status, `uploading blob ${expected.digest}: ${res.status} ${await res.text()}`);
    return (await res.json()) as BlobInfo;
  }

  get(digest: string): Promise<Readable> {
    return this.client.download(`/api/v1/agent/blobs/${digest}`);
  }

  async delete(): Promise<void> {
    throw new Error('agents do not delete blobs: retention runs on the server');
  }
}

/** Where outboxes deliver: the job's log and completion endpoints. */
export function serverOutboxTarget(client: ServerClient): OutboxTarget {
  const target: OutboxTarget = {
    async sendLog(jobId: number, fencingToken: number, chunks: LogChunk[]) {
      const res = await client.json<{ truncated?: boolean }>('POST', `/api/v1/agent/jobs/${jobId}/log`, { fencingToken, chunks });
      return { logFull: res?.truncated === true };
    },
    async complete(jobId: number, body: CompleteRequest) {
      const path = `/api/v1/agent/jobs/${jobId}/complete`;
      try {
        await client.json('POST', path, body);
      } catch (err) {
        const { log, artifacts, images, ...result } = body;
        // A server older than the combined completion refuses its fields (422): the separate calls.
        // It has nowhere to keep images: they are dropped (the job's log still lists them).
        if (!(err instanceof HttpError && err.status === 422) || (log === undefined && artifacts === undefined && images === undefined))
          throw err;
        if (log) await target.sendLog(jobId, body.fencingToken, log);
        if (artifacts)
          await client.json('POST', `/api/v1/agent/jobs/${jobId}/artifacts`, { fencingToken: body.fencingToken, ...artifacts });
        await client.json('POST', path, result);
      }
    },
    async abandon(jobId: number, fencingToken: number) {
      await client.json('POST', `/api/v1/agent/jobs/${jobId}/abandon`, { fencingToken });
    },
  };
  return target;
}

/**
 * Logs go through the job's outbox (on disk first), and the artifact manifest goes with the result;
 * other writes go to the server directly.
 */
export function serverJobBackend(client: ServerClient, jobId: number, fencingToken: number, outbox: JobOutbox): JobBackend {
  const base = `/api/v1/agent/jobs/${jobId}`;
  return {
    blobs: new ServerBlobStore(client),
    async sendLog(chunks: LogChunk[], last: boolean) {
      for (const chunk of chunks) await outbox.appendLog(chunk, last);
    },
    async heartbeat() {
      return (await client.json<HeartbeatResponse>('POST', `${base}/heartbeat`, { fencingToken })) ?? { cancelRequested: false };
    },
    async saveArtifacts(files: ManifestEntry[], expireInSeconds: number | null) {
      outbox.holdArtifacts(files, expireInSeconds);
    },
    async saveImages(images: JobImageJson[]) {
      outbox.holdImages(images);
    },
    async saveDotenv(variables: Record<string, string>) {
      await client.json('POST', `${base}/dotenv`, { fencingToken, variables });
    },
    async saveCoverageReport(path: string, absPath: string, size: number) {
      const query = `fencingToken=${fencingToken}&path=${encodeURIComponent(path)}`;
      const res = await client.uploadFile<CoverageReportJson>(`${base}/coverage-reports?${query}`, absPath, size);
      if (!res) throw new Error(`PUT ${base}/coverage-reports: empty answer`);
      return res;
    },
    async saveJunitReports(files: ManifestEntry[]) {
      // The server reads every report before it answers: tens of megabytes may take it a while.
      const res = await client.json<JunitReportsResponse>(
        'POST',
        `${base}/reports/junit`,
        { fencingToken, files },
        { timeoutMs: 10 * 60_000 },
      );
      if (!res) throw new Error(`POST ${base}/reports/junit: empty answer`);
      return res;
    },
    async getCache(key: string) {
      try {
        const res = await client.json<{ files: ManifestEntry[] }>(
          'GET',
          `${base}/caches/${encodeURIComponent(key)}?fencingToken=${fencingToken}`,
        );
        return res?.files ?? null;
      } catch (err) {
        if (err instanceof HttpError && err.status === 404) return null;
        throw err;
      }
    },
    async putCache(key: string, files: ManifestEntry[]) {
      await client.json('PUT', `${base}/caches/${encodeURIComponent(key)}`, { fencingToken, files });
    },
    deploy: {
      fencingToken,
      async startRelease(body) {
        const res = await client.json<StartReleaseResponse>('POST', `${base}/release`, { fencingToken, ...body });
        if (!res) throw new Error(`POST ${base}/release: empty answer`);
        return res;
      },
      async reportRelease(body) {
        await client.json('POST', `${base}/release/status`, { fencingToken, ...body });
      },
      async decision() {
        const res = await client.json<{ status: string; decision: 'promote' | 'abort' | null }>('POST', `${base}/release/decision`, {
          fencingToken,
        });
        return res ?? { status: 'unknown', decision: null };
      },
    },
  };
}
