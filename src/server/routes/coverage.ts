// Coverage (issue 18, items 3 and 4): agents stream Cobertura reports in; users read a job's, a
// pipeline's and a branch's coverage, and anyone reads a public repository's coverage badge.
import type { Readable } from 'node:stream';
import { z } from 'zod';
import type { PipelineCoverageJson } from '../../api/index.js';
import {
  COVERAGE_TREND_DEFAULT,
  COVERAGE_TREND_MAX,
  coverageTrend,
  jobCoverage,
  latestCoverage,
  pipelineJobsCoverage,
  recordCoverageReport,
} from '../../reports/index.js';
import { requireRepo } from '../../repos/index.js';
import { getJob, getPipeline, heldJob } from '../../scheduler/index.js';
import { agentIdOf } from '../agent-claims.js';
import { coverageBadge } from '../badge.js';
import { badgeParam, badgeRepo, sendBadge } from '../badge-reply.js';
import type { ServerContext } from '../context.js';
import { ApiError, type RouteTable } from '../http.js';
import { pipelineCoverage } from '../presenters.js';
import { idParam } from '../query.js';

const reportQuery = z
  .object({
    fencingToken: z.coerce.number().int().nonnegative(),
    path: z.string().min(1).max(1024),
  })
  .strict();

const trendQuery = z
  .object({
    ref: z.string().min(1).max(1024).optional(),
    limit: z.coerce.number().int().min(1).max(COVERAGE_TREND_MAX).optional(),
  })
  .strict();

/** A query string parsed with `schema`; a bad field is a 400 that names it. */
function parseQuery<T>(schema: z.ZodType<T>, query: Record<string, string | undefined>): T {
  const parsed = schema.safeParse(query);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  throw new ApiError(400, `${issue.path.join('.') || 'query'}: ${issue.message}`);
}

export function registerCoverageRoutes(routes: RouteTable, ctx: ServerContext): void {
  routes.add({
    method: 'PUT',
    url: '/api/v1/agent/jobs/:id/coverage-reports',
    summary:
      "Stream one Cobertura file of a job's artifacts:reports:coverage_report (?path=&fencingToken=); answers its summary or its error",
    tag: 'agent protocol',
    access: 'agent',
    rawBody: true,
    async handler({ principal, params, query, request }) {
      const jobId = idParam(params.id, 'id');
      const { fencingToken, path } = parseQuery(reportQuery, query);
      await heldJob(ctx.store.db, { jobId, agentId: agentIdOf(principal), fencingToken });
      const body = request.body as Readable;
      // Not destroyed when the reader stops early (a report cut off by a limit): the rest of the
      // upload is drained below, so that the agent reads this answer instead of a reset connection.
      const source = body.iterator({ destroyOnReturn: false });
      const report = await recordCoverageReport(ctx.store, { jobId, path, source, now: ctx.clock.now() });
      // At most maxArtifactBytes are drained, the most any upload of an agent may send.
      if (!body.readableEnded) {
        let rest = 0;
        for await (const chunk of body) {
          rest += (chunk as Buffer).length;
          if (rest > ctx.config.maxArtifactBytes) {
            body.destroy();
            break;
          }
        }
      }
      if (report.error) ctx.log.info({ jobId, error: report.error }, 'coverage report not readable');
      return report;
    },
  });

  routes.add({
    method: 'GET',
    url: '/api/v1/jobs/:id/coverage',
    summary: "A job's coverage and its Cobertura reports summarized (totals, packages, least covered files)",
    tag: 'jobs',
    access: 'user',
    async handler({ params }) {
      const id = idParam(params.id, 'id');
      const job = await getJob(ctx.store, id);
      if (!job) throw new ApiError(404, `no job ${id}`);
      return jobCoverage(ctx.store, job);
    },
  });

  routes.add({
    method: 'GET',
    url: '/api/v1/pipelines/:id/coverage',
    summary: "A pipeline's coverage (the average of its jobs') and its jobs' coverage reports",
    tag: 'pipelines',
    access: 'user',
    async handler({ params }): Promise<PipelineCoverageJson> {
      const id = idParam(params.id, 'id');
      const found = await getPipeline(ctx.store, id);
      if (!found) throw new ApiError(404, `no pipeline ${id}`);
      return { pipelineId: id, coverage: pipelineCoverage(found.jobs), jobs: await pipelineJobsCoverage(ctx.store, found.jobs) };
    },
  });

  routes.add({
    method: 'GET',
    url: '/api/v1/repos/:name/coverage',
    summary: `A branch's pipeline coverage over its last finished pipelines, oldest first (?ref=, default the default branch; ?limit=, default ${COVERAGE_TREND_DEFAULT}, at most ${COVERAGE_TREND_MAX})`,
    tag: 'pipelines',
    access: 'user',
    async handler({ params, query }) {
      const { ref, limit } = parseQuery(trendQuery, query);
      const repo = await requireRepo(ctx.store, params.name);
      return coverageTrend(ctx.store, { repoId: repo.id, ref: ref ?? repo.default_branch, limit: limit ?? COVERAGE_TREND_DEFAULT });
    },
  });

  routes.add({
    method: 'GET',
    url: '/api/v1/repos/:name/badges/coverage.svg',
    summary:
      "The coverage badge (SVG) of a branch's newest finished pipeline with a coverage (?ref=, default the default branch; ?job= one job's); without a token for public repositories only",
    tag: 'pipelines',
    access: 'public',
    produces: 'image/svg+xml',
    async handler(route) {
      // Other parameters GitLab's badge URLs may carry (key_text, min_good) are ignored, not refused.
      const repo = await badgeRepo(ctx, route.params.name, route.principal);
      const ref = badgeParam(route.query, 'ref') ?? repo.default_branch;
      const job = badgeParam(route.query, 'job');
      return sendBadge(route, repo, coverageBadge(ref, await latestCoverage(ctx.store, { repoId: repo.id, ref, job }), job));
    },
  });
}
