// What `tandem exec --from-job` needs to run a job of this server again on another machine: its
// commit and pipeline file, the variables it got that are not secret, and the artifacts of its
// dependencies. Assembled by the same code as a hand-out to an agent (job-payload.ts), so the two
// cannot drift; what a hand-out adds for the job's own run (its job token, id_tokens, the
// repository's credentials) is never made here.
import type { JobReproductionJson } from '../api/index.js';
import { getPipelineRow, jobDependencies, readJobSpec } from '../scheduler/index.js';
import type { Job } from '../store/index.js';
import type { ServerContext } from './context.js';
import { jobVariableLayers, plain } from './job-payload.js';

const layer = <S extends JobReproductionJson['variables'][number]['source']>(vars: Record<string, string>, source: S) =>
  plain(vars).map((v) => ({ ...v, source }));

export async function jobReproduction(ctx: ServerContext, job: Job): Promise<JobReproductionJson> {
  const pipeline = await getPipelineRow(ctx.store, job.pipeline_id);
  if (!pipeline) throw new Error(`job ${job.id}: its pipeline ${job.pipeline_id} is missing`);
  const repo = await ctx.store.db.selectFrom('repos').selectAll().where('id', '=', job.repo_id).executeTakeFirstOrThrow();
  const spec = readJobSpec(job);
  // The latest attempts of its dependencies: what the job gets when it runs (again) now.
  const dependencies = await jobDependencies(ctx.store, pipeline, spec);
  const layers = await jobVariableLayers(ctx, { job, spec, pipeline, repo }, dependencies);
  // Variable values are write-only in the API, for every role: a secret leaves the server only
  // inside a job an agent runs, never towards a person's machine.
  const secret = layers.repo.filter((v) => v.masked || v.protected);
  return {
    job: { id: job.id, name: job.name, stage: job.stage, status: job.status, attempt: job.attempt },
    pipeline: {
      id: pipeline.id,
      ref: pipeline.ref,
      tag: pipeline.is_tag === 1,
      sha: pipeline.sha,
      source: pipeline.source,
      configPath: pipeline.config_path ?? '.gitlab-ci.yml',
    },
    repo: { name: repo.name, url: repo.url },
    predefined: layers.predefined,
    variables: [
      ...layer(layers.pipeline, 'pipeline'),
      ...layer(layers.job, 'job'),
      ...layer(layers.dotenv, 'dotenv'),
      ...layers.repo
        .filter((v) => !v.masked && !v.protected)
        .map(({ key, value, file }) => ({ key, value, masked: false, file, source: 'repository' as const })),
    ],
    withheld: secret.map((v) => ({ key: v.key, reason: v.masked ? ('masked' as const) : ('protected' as const) })),
    dependencies: dependencies.artifacts,
  };
}
