import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { ServerContext } from './context.js';
import { ApiError, RouteTable } from './http.js';
import { tokenAuthenticator } from './auth.js';
import { registerAgentRoutes } from './routes/agents.js';
import { registerEnvironmentRoutes } from './routes/environments.js';
import { registerHealthRoutes } from './routes/health.js';
import { registerHookRoutes } from './routes/hooks.js';
import { registerPipelineRoutes } from './routes/pipelines.js';
import { registerRepoRoutes } from './routes/repos.js';
import { registerHomeRoutes } from './routes/home.js';
import { registerWellKnownRoutes } from './routes/well-known.js';
import { registerMonitoringRoutes } from './routes/monitoring.js';
import { registerDrRoutes } from './routes/dr.js';

/** Errors from other parts carry their HTTP meaning as `statusCode` or `httpStatus`. */
function statusOf(err: unknown): number {
  if (err instanceof ApiError) return err.statusCode;
  const e = err as { statusCode?: unknown; httpStatus?: unknown; name?: string };
  if (typeof e.httpStatus === 'number') return e.httpStatus;
  if (typeof e.statusCode === 'number') return e.statusCode;
  if (e.name === 'StaleTokenError') return 409;
  return 500;
}

export function buildApp(ctx: ServerContext): { app: FastifyInstance; routes: RouteTable } {
  const app = Fastify({
    loggerInstance: ctx.log as FastifyBaseLogger,
    bodyLimit: ctx.config.maxRequestBytes,
    // Long-polls last 25 s and SSE streams much longer; the socket timeout must not cut them.
    requestTimeout: 0,
    // Requests are counted in metrics; a log line per request (agents long-poll constantly) is noise.
    logController: new LogController({ disableRequestLogging: true }),
    return503OnClosing: true,
  });

  // Webhooks need the exact bytes to check signatures, so routes marked rawBody get a Buffer;
  // blob uploads get the stream itself and are limited by the artifact size, not the body limit.
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (request, body, done) => {
    if ((request.routeOptions.config as { rawBody?: boolean }).rawBody) return done(null, body);
    if (body.length === 0) return done(null, undefined);
    try {
      done(null, JSON.parse(body.toString('utf8')));
    } catch (err) {
      done(new ApiError(400, `request body is not valid JSON: ${(err as Error).message}`), undefined);
    }
  });
  app.addContentTypeParser('application/octet-stream', { bodyLimit: Number.MAX_SAFE_INTEGER }, (_request, payload, done) => done(null, payload));
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));

  // While draining, every response closes its connection: a keep-alive connection that was busy
  // when the server began closing would otherwise hold the shutdown until its idle timeout.
  app.addHook('onSend', async (_request, reply) => {
    if (ctx.state.draining) reply.header('connection', 'close');
  });

  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unmatched';
    ctx.metrics.httpRequests.inc({ route, method: request.method, status: String(reply.statusCode) });
    ctx.metrics.httpDuration.observe({ route, method: request.method }, reply.elapsedTime / 1000);
  });

  app.setErrorHandler((err, request, reply) => {
    let status = statusOf(err);
    const fastifyCode = (err as { code?: string }).code;
    if (fastifyCode === 'FST_ERR_CTP_BODY_TOO_LARGE') status = 413;
    if (status >= 500) request.log.error({ err }, 'request failed');
    const message = err instanceof Error ? err.message : String(err);
    reply.code(status).send({ error: status >= 500 ? 'internal error' : reasonPhrase(status), message });
  });
  app.setNotFoundHandler((request, reply) => {
    reply.code(404).send({ error: 'not found', message: `no route ${request.method} ${request.url}` });
  });

  const routes = new RouteTable(app, tokenAuthenticator(ctx.store.db));
  registerHealthRoutes(routes, ctx);
  registerRepoRoutes(routes, ctx);
  registerPipelineRoutes(routes, ctx);
  registerHookRoutes(routes, ctx);
  registerAgentRoutes(routes, ctx);
  registerEnvironmentRoutes(routes, ctx);
  registerHomeRoutes(routes, ctx);
  registerWellKnownRoutes(routes, ctx);
  registerMonitoringRoutes(routes, ctx);
  registerDrRoutes(routes, ctx);
  routes.add({
    method: 'GET',
    url: '/api/v1/openapi.json',
    summary: 'This API as an OpenAPI 3.1 document',
    tag: 'health',
    access: 'public',
    async handler() {
      return routes.openapi(ctx.version);
    },
  });
  return { app, routes };
}

function reasonPhrase(status: number): string {
  const phrases: Record<number, string> = {
    400: 'bad request',
    401: 'unauthorized',
    403: 'forbidden',
    404: 'not found',
    409: 'conflict',
    410: 'gone',
    413: 'payload too large',
    422: 'unprocessable entity',
    503: 'unavailable',
  };
  return phrases[status] ?? 'error';
}
