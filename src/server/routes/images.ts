// The images a pipeline's jobs pushed (`artifacts:images`), pinned by digest by their agents.
import type { PipelineImagesJson } from '../../api/index.js';
import { getPipelineRow, pipelineImages } from '../../scheduler/index.js';
import type { ServerContext } from '../context.js';
import { ApiError, type RouteTable } from '../http.js';
import { pipelineImageView } from '../presenters.js';
import { idParam } from '../query.js';

export function registerImageRoutes(routes: RouteTable, ctx: ServerContext): void {
  routes.add({
    method: 'GET',
    url: '/api/v1/pipelines/:id/images',
    summary: "The images a pipeline's jobs pushed (artifacts:images), pinned by digest when each job succeeded",
    tag: 'pipelines',
    access: 'user',
    async handler({ params }): Promise<PipelineImagesJson> {
      const id = idParam(params.id, 'id');
      if (!(await getPipelineRow(ctx.store, id))) throw new ApiError(404, `no pipeline ${id}`);
      const jobs = await pipelineImages(ctx.store, id);
      return { pipelineId: id, images: jobs.flatMap((job) => job.images.map((i) => pipelineImageView(job, i))) };
    },
  });
}
