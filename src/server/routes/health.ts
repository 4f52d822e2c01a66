import { sql } from 'kysely';
import type { ServerContext } from '../context.js';
import type { RouteTable } from '../http.js';

export function registerHealthRoutes(routes: RouteTable, ctx: ServerContext): void {
  routes.add({
    method: 'GET',
    url: '/healthz',
    summary: 'Liveness: the process answers',
    tag: 'health',
    access: 'public',
    async handler() {
      return { status: 'ok', replica: ctx.replicaId, version: ctx.version };
    },
  });

  routes.add({
    method: 'GET',
    url: '/readyz',
    summary: 'Readiness: the database answers and the replica is not draining',
    tag: 'health',
    access: 'public',
    async handler({ reply }) {
      if (ctx.state.draining) {
        reply.code(503);
        return { status: 'draining', replica: ctx.replicaId };
      }
      try {
        await sql`select 1`.execute(ctx.store.db);
      } catch (err) {
        reply.code(503);
        return { status: 'database unavailable', error: (err as Error).message, replica: ctx.replicaId };
      }
      return { status: 'ready', replica: ctx.replicaId };
    },
  });

  routes.add({
    method: 'GET',
    url: '/metrics',
    summary: 'Prometheus metrics of this replica',
    tag: 'health',
    access: 'public',
    produces: 'text/plain; version=0.0.4',
    async handler({ reply }) {
      reply.type(ctx.metrics.registry.contentType);
      return ctx.metrics.registry.metrics();
    },
  });
}
