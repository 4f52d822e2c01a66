import fastifyCookie from '@fastify/cookie';
import fastifyHelmet from '@fastify/helmet';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { ServerContext } from './context.js';
import { ApiError, RouteTable, statusOf } from './http.js';
import { bodyUnread, continueAfterCheck, limitConnections, withBodyDeadline } from './http-limits.js';
import { databaseAccessControl, type AccessControl } from './auth.js';
import { registerAuthRoutes } from './routes/auth.js';
import { registerAgentRoutes } from './routes/agents.js';
import { registerEnvironmentRoutes } from './routes/environments.js';
import { registerHealthRoutes } from './routes/health.js';
import { registerHookRoutes } from './routes/hooks.js';
import { registerCoverageRoutes } from './routes/coverage.js';
import { registerImageRoutes } from './routes/images.js';
import { registerPipelineRoutes } from './routes/pipelines.js';
import { registerTestReportRoutes } from './routes/tests.js';
import { registerRepoRoutes } from './routes/repos.js';
import { registerScheduleRoutes } from './routes/schedules.js';
import { registerNotificationRoutes } from './routes/notifications.js';
import { registerWellKnownRoutes } from './routes/well-known.js';
import { registerMonitoringRoutes } from './routes/monitoring.js';
import { registerSsoRoutes } from './routes/sso.js';
import { registerDeviceLoginRoutes } from './routes/device-login.js';
import { registerLoginPageRoutes } from './routes/login-page.js';
import { registerAlertRoutes } from './routes/alerts.js';
import { registerDrRoutes } from './routes/dr.js';
import { registerClusterRoutes } from './routes/cluster.js';
import { registerWebRoutes } from './routes/web.js';
import { registerTestHistoryRoutes } from './routes/test-history.js';

/**
 * The HTTP app of one replica. `access` replaces the access control (the auth benchmark measures
 * requests without it); servers always run with the database's.
 */
export function buildApp(ctx: ServerContext, options: { access?: AccessControl } = {}): { app: FastifyInstance; routes: RouteTable } {
  const { config } = ctx;
  const app = Fastify({
    loggerInstance: ctx.log as FastifyBaseLogger,
    // The JSON API's default; routes that take more declare it (RouteSpec.bodyLimit).
    bodyLimit: config.maxRequestBytes,
    // Behind load balancers, the client address (for login limits and the audit log) comes from
    // X-Forwarded-For, believed only from these proxies.
    trustProxy: config.trustedProxies.length > 0 ? config.trustedProxies : false,
    // Headers must arrive in time (checked every second, so a slow sender is cut soon after);
    // the body has its own deadline (withBodyDeadline), since a streamed artifact upload may
    // rightly take longer than Node's requestTimeout would allow. Responses are not limited:
    // long-polls last 25 s and SSE streams much longer.
    http: { headersTimeout: config.headersTimeoutSeconds * 1000, connectionsCheckingInterval: 1000 },
    requestTimeout: 0,
    keepAliveTimeout: config.keepAliveTimeoutSeconds * 1000,
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
      // V8's message quotes the body, which may hold a password: only the position is repeated.
      const at = /position \d+( \(line \d+ column \d+\))?/.exec((err as Error).message)?.[0];
      done(new ApiError(400, `request body is not valid JSON${at ? ` (at ${at})` : ''}`), undefined);
    }
  });
  // Security headers on every response; the status page's inline style is the one exception the
  // default content security policy already allows.
  // Not upgrade-insecure-requests: a server on plain http (the embedded default, a LAN address)
  // would send its pages' links and forms to an https port that is not there.
  void app.register(fastifyHelmet, { global: true, contentSecurityPolicy: { directives: { upgradeInsecureRequests: null } } });
  void app.register(fastifyCookie);

  app.addContentTypeParser('application/octet-stream', { bodyLimit: Number.MAX_SAFE_INTEGER }, (_request, payload, done) =>
    done(null, payload),
  );
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));

  limitConnections(app.server, {
    perAddress: config.maxConnectionsPerAddress,
    total: config.maxConnections,
    exempt: config.trustedProxies,
    onRefused: (reason) => ctx.metrics.refusedLoad.inc({ reason: `connections_${reason === 'address' ? 'per_address' : 'total'}` }),
  });
  continueAfterCheck(app.server);
  app.addHook('preParsing', async (request, reply, payload) => withBodyDeadline(request, reply, payload, config.bodyTimeoutSeconds * 1000));

  // While draining, every response closes its connection: a keep-alive connection that was busy
  // when the server began closing would otherwise hold the shutdown until its idle timeout. So does
  // a response sent before its request's body was read (a refused caller, a body too large or too
  // slow): Node would otherwise read the rest only to discard it.
  app.addHook('onSend', async (request, reply) => {
    if (ctx.state.draining || bodyUnread(request)) reply.header('connection', 'close');
  });

  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unmatched';
    ctx.metrics.httpRequests.inc({ route, method: request.method, status: String(reply.statusCode) });
    ctx.metrics.httpDuration.observe({ route, method: request.method }, reply.elapsedTime / 1000);
  });

  app.setErrorHandler(errorHandler(config.maxRequestBytes));
  app.setNotFoundHandler((request, reply) => {
    reply.code(404).send({ error: 'not found', message: `no route ${request.method} ${request.url}` });
  });

  const routes = new RouteTable(app, options.access ?? databaseAccessControl(ctx), {
    bulk: config.maxBulkRequestBytes,
    webhook: config.maxWebhookBytes,
  });
  registerHealthRoutes(routes, ctx);
  registerAuthRoutes(routes, ctx);
  registerSsoRoutes(routes, ctx);
  registerLoginPageRoutes(routes, ctx);
  registerDeviceLoginRoutes(routes, ctx);
  registerRepoRoutes(routes, ctx);
  registerScheduleRoutes(routes, ctx);
  registerNotificationRoutes(routes, ctx);
  registerPipelineRoutes(routes, ctx);
  registerCoverageRoutes(routes, ctx);
  registerImageRoutes(routes, ctx);
  registerTestReportRoutes(routes, ctx);
  registerHookRoutes(routes, ctx);
  registerAgentRoutes(routes, ctx);
  registerEnvironmentRoutes(routes, ctx);
  registerTestHistoryRoutes(routes, ctx);
  registerWellKnownRoutes(routes, ctx);
  registerMonitoringRoutes(routes, ctx);
  registerAlertRoutes(routes, ctx);
  registerDrRoutes(routes, ctx);
  registerClusterRoutes(routes, ctx);
  // Last: its catch-all GET answers every path no route above has.
  registerWebRoutes(routes, ctx);
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

/**
 * The answer to a failed request: a refusal's status (statusOf) and message, or for an unexpected
 * error a 500 whose message only names the request. `defaultBodyLimit`: the limit of routes that set none.
 */
export function errorHandler(defaultBodyLimit: number): (err: unknown, request: FastifyRequest, reply: FastifyReply) => void {
  return (err, request, reply) => {
    const known = statusOf(err);
    let status = known ?? 500;
    const fastifyCode = (err as { code?: string }).code;
    const tooLarge = fastifyCode === 'FST_ERR_CTP_BODY_TOO_LARGE';
    if (tooLarge) status = 413;
    if (status >= 500) request.log.error({ err }, 'request failed');
    // An unexpected error's text may hold anything (a query, a value): the log has it, the client a reference.
    let message =
      known === null ? `the server failed (request ${request.id}; see its log)` : err instanceof Error ? err.message : String(err);
    if (tooLarge) message = `request body larger than this route's limit of ${request.routeOptions.bodyLimit ?? defaultBodyLimit} bytes`;
    const retryAfter = (err as { retryAfterSeconds?: unknown }).retryAfterSeconds;
    if (typeof retryAfter === 'number') reply.header('retry-after', String(retryAfter));
    reply.code(status).send({ error: status >= 500 ? 'internal error' : reasonPhrase(status), message });
  };
}

function reasonPhrase(status: number): string {
  const phrases: Record<number, string> = {
    400: 'bad request',
    401: 'unauthorized',
    403: 'forbidden',
    404: 'not found',
    408: 'request timeout',
    409: 'conflict',
    410: 'gone',
    413: 'payload too large',
    422: 'unprocessable entity',
    429: 'too many requests',
    503: 'unavailable',
  };
  return phrases[status] ?? 'error';
}
