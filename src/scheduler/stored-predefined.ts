// The predefined variables of a stored pipeline, as its jobs see them: the same for the job handed
// to an agent and for the variables a trigger job passes downstream.
import { predefinedVariables } from '../pipeline/index.js';
import { repoPath } from '../repos/index.js';
import { readPipelineCommit, readPipelineMergeRequest, type Pipeline, type Repo } from '../store/index.js';

export function storedPipelineVariables(
  pipeline: Pipeline,
  repo: Repo,
  facts: { externalUrl: string; refProtected: boolean },
): Record<string, string> {
  return predefinedVariables({
    sha: pipeline.sha,
    beforeSha: pipeline.before_sha,
    // GitLab names the source branch here in merge request pipelines (review apps use its slug).
    ref: readPipelineMergeRequest(pipeline)?.sourceBranch ?? pipeline.ref,
    isTag: pipeline.is_tag === 1,
    defaultBranch: repo.default_branch,
    pipelineId: pipeline.id,
    pipelineSource: pipeline.source,
    pipelineCreatedAt: new Date(pipeline.created_at),
    repoName: repo.name,
    repoPath: repoPath(repo),
    repoUrl: repo.url,
    serverUrl: facts.externalUrl,
    configPath: pipeline.config_path ?? '.gitlab-ci.yml',
    commit: readPipelineCommit(pipeline),
    pipelineName: pipeline.name,
    projectId: repo.id,
    refProtected: facts.refProtected,
  });
}
