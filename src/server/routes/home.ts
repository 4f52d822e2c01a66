// A plain status page at `/` until the web UI lands: recent pipelines of the repositories the
// signed-in caller may see, and their jobs, no JavaScript.
import { listPipelines } from '../../scheduler/index.js';
import type { ServerContext } from '../context.js';
import { visibleRepoIds } from '../auth.js';
import type { RouteTable } from '../http.js';
import { escape } from './html.js';

export function registerHomeRoutes(routes: RouteTable, ctx: ServerContext): void {
  routes.add({
    method: 'GET',
    url: '/',
    summary: 'Status page: recent pipelines',
    tag: 'health',
    access: 'public',
    produces: 'text/html',
    async handler({ reply, principal }) {
      // Only the pipelines of repositories the caller (by session cookie) may see; none to anonymous callers.
      const visible = await visibleRepoIds(ctx, principal);
      const pipelines =
        visible === null
          ? await listPipelines(ctx.store, { limit: 20 })
          : visible.length === 0
            ? []
            : await ctx.store.db.selectFrom('pipelines').selectAll().where('repo_id', 'in', visible).orderBy('id', 'desc').limit(20).execute();
      const repos = new Map((await ctx.store.db.selectFrom('repos').select(['id', 'name']).execute()).map((r) => [r.id, r.name]));
      const ids = pipelines.map((p) => p.id);
      const jobs = ids.length === 0 ? [] : await ctx.store.db.selectFrom('jobs').select(['id', 'pipeline_id', 'name', 'status']).where('pipeline_id', 'in', ids).where('retried', '=', 0).orderBy('id').execute();
      const rows = pipelines
        .map((p) => {
          const jobList = jobs
            .filter((j) => j.pipeline_id === p.id)
            .map((j) => `<span class="${escape(j.status)}" title="${escape(j.status)}">${escape(j.name)}</span>`)
            .join(' ');
          return `<tr><td>#${p.id}</td><td>${escape(repos.get(p.repo_id) ?? '?')}</td><td>${escape(p.ref)}</td><td><code>${escape(p.sha.slice(0, 8))}</code></td><td class="${escape(p.status)}">${escape(p.status)}</td><td>${jobList}</td></tr>`;
        })
        .join('\n');
      reply.type('text/html; charset=utf-8');
      return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="5">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>Tandem</title>
<style>body{font:14px system-ui,sans-serif;margin:2rem;color:#1d1d1f}table{border-collapse:collapse}td,th{padding:.3rem .6rem;border-bottom:1px solid #ddd;text-align:left}
span{display:inline-block;margin:1px;padding:0 .3rem;border-radius:3px;background:#eee}.success{color:#116b2e}.failed{color:#b00020}.running{color:#0b57d0}.canceled,.skipped{color:#666}
span.success{background:#d8f5e0}span.failed{background:#fde0e3}span.running{background:#dce8fd}</style></head>
<body><h1>Tandem</h1><p>Recent pipelines (API at <a href="/api/v1/openapi.json">/api/v1/openapi.json</a>, metrics at <a href="/metrics">/metrics</a>).</p>
<table><thead><tr><th>Pipeline</th><th>Repository</th><th>Ref</th><th>Commit</th><th>Status</th><th>Jobs</th></tr></thead><tbody>
${rows || `<tr><td colspan="6">${principal.kind === 'anonymous' ? '<a href="/login">Sign in</a> to see pipelines.' : 'No pipelines yet.'}</td></tr>`}
</tbody></table></body></html>`;
    },
  });
}
