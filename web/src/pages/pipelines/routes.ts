// The pipelines area: a repository's pipelines, a pipeline's graph, a job's log and artifacts.
import { lazyPage, type PageRoute } from '../../routes.js';

const repoPipelines = () => import('./repo-pipelines.js');
const pipeline = () => import('./pipeline.js');
const job = () => import('./job.js');

export const PIPELINE_ROUTES: PageRoute[] = [
  { pattern: '/repos/:name', page: lazyPage(repoPipelines, 'RepoPipelines') },
  { pattern: '/pipelines/:id', page: lazyPage(pipeline, 'PipelinePage') },
  { pattern: '/jobs/:id', page: lazyPage(job, 'JobPage') },
];
