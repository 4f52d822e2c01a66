// Readers of the JSON columns whose shapes the store owns or that several domains read. Each column
// has one reader: it parses and validates the row's text and names table, column and row when the
// value is not what Tandem writes. Schemas accept what every earlier release wrote (fields added
// later are optional or defaulted), and keep keys they do not know, so reading never loses data.
import { z } from 'zod';
import { CorruptColumnError } from './errors.js';
import type { Agent, CacheEntry, Job, Pipeline, PipelineMergeRequest, Release, Repo } from './schema.js';

/** The reader of one JSON column: `read(text, rowId)` returns the validated value or throws CorruptColumnError. */
export function jsonColumn<T>(table: string, column: string, schema: z.ZodType<T>): (text: string, rowId: string | number) => T {
  return (text, rowId) => {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      throw new CorruptColumnError(table, column, rowId, (err as Error).message);
    }
    const result = schema.safeParse(value);
    if (!result.success) throw new CorruptColumnError(table, column, rowId, z.prettifyError(result.error));
    return result.data;
  };
}

const strings = z.array(z.string());
const stringMap = z.record(z.string(), z.string());

/** A file of a stored manifest (`cache_entries.manifest`, `releases.files`): the artifacts' ManifestEntry. */
const storedManifest = z.array(z.looseObject({ path: z.string(), digest: z.string(), size: z.number(), mode: z.number() }));

const mergeRequest: z.ZodType<PipelineMergeRequest> = z.looseObject({
  iid: z.number(),
  sourceBranch: z.string(),
  targetBranch: z.string(),
  sourceProject: z.string().nullable().default(null),
  fork: z.boolean().default(true),
});

const branchFilter = jsonColumn('repos', 'branch_filter', strings);
const tagFilter = jsonColumn('repos', 'tag_filter', strings);
const knownRefs = jsonColumn('repos', 'known_refs', stringMap);
const pipelineStages = jsonColumn('pipelines', 'stages', strings);
const pipelineVariables = jsonColumn('pipelines', 'variables', stringMap);
const pipelineMergeRequest = jsonColumn('pipelines', 'merge_request', mergeRequest);
const jobTags = jsonColumn('jobs', 'tags', strings);
const agentTags = jsonColumn('agents', 'tags', strings);
const cacheManifest = jsonColumn('cache_entries', 'manifest', storedManifest);
const releaseFiles = jsonColumn('releases', 'files', storedManifest);
const releaseDeploySpec = jsonColumn('releases', 'deploy_spec', z.record(z.string(), z.unknown()));
const releaseTags = jsonColumn('releases', 'tags', strings);

/** Branch globs that start pipelines; null: every branch. */
export const readBranchFilter = (r: Pick<Repo, 'id' | 'branch_filter'>): string[] | null =>
  r.branch_filter === null ? null : branchFilter(r.branch_filter, r.id);
/** Tag globs that start pipelines; null: every tag. */
export const readTagFilter = (r: Pick<Repo, 'id' | 'tag_filter'>): string[] | null =>
  r.tag_filter === null ? null : tagFilter(r.tag_filter, r.id);
/** Ref → sha as last seen by polling or webhooks. */
export const readKnownRefs = (r: Pick<Repo, 'id' | 'known_refs'>): Record<string, string> => knownRefs(r.known_refs, r.id);

export const readPipelineStages = (p: Pick<Pipeline, 'id' | 'stages'>): string[] => pipelineStages(p.stages, p.id);
/** Global variables of the compiled pipeline plus trigger variables. */
export const readPipelineVariables = (p: Pick<Pipeline, 'id' | 'variables'>): Record<string, string> =>
  pipelineVariables(p.variables, p.id);
/** The merge request of a merge request pipeline; null for every other pipeline. */
export const readPipelineMergeRequest = (p: Pick<Pipeline, 'id' | 'merge_request'>): PipelineMergeRequest | null =>
  p.merge_request === null ? null : pipelineMergeRequest(p.merge_request, p.id);
/** The commit's message, author and date recorded with the pipeline; null in rows made before they were. */
export const readPipelineCommit = (
  p: Pick<Pipeline, 'commit_message' | 'commit_author' | 'commit_timestamp'>,
): { message: string; author: string; timestamp: string } | null =>
  p.commit_message === null || p.commit_author === null || p.commit_timestamp === null
    ? null
    : { message: p.commit_message, author: p.commit_author, timestamp: p.commit_timestamp };

export const readJobTags = (j: Pick<Job, 'id' | 'tags'>): string[] => jobTags(j.tags, j.id);
export const readAgentTags = (a: Pick<Agent, 'id' | 'tags'>): string[] => agentTags(a.tags, a.id);

export type StoredManifest = z.output<typeof storedManifest>;
export const readCacheManifest = (c: Pick<CacheEntry, 'id' | 'manifest'>): StoredManifest => cacheManifest(c.manifest, c.id);
export const readReleaseFiles = (r: Pick<Release, 'id' | 'files'>): StoredManifest => releaseFiles(r.files, r.id);
/** The `deploy:` block the release was deployed with, as the job wrote it (the agent validates it). */
export const readReleaseDeploySpec = (r: Pick<Release, 'id' | 'deploy_spec'>): Record<string, unknown> =>
  releaseDeploySpec(r.deploy_spec, r.id);
/** The deploy job's tags, so a rollback runs on an agent that reaches the target. */
export const readReleaseTags = (r: Pick<Release, 'id' | 'tags'>): string[] => releaseTags(r.tags, r.id);
