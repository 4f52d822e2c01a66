// Route registration with one table: every route declares who may call it and the shape of its body.
// The same table produces the OpenAPI document and drives authentication and authorization: a route
// must also be in the permission table (src/auth/permissions.ts) or registering it fails, and every
// successful change it makes is written to the audit log here, in one place.
// The caller is checked before the body is read (an onRequest hook): an anonymous request to a
// route that needs credentials is answered 401 without its body being received or parsed.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { DomainError, type ErrorKind } from '../errors.js';
import { routePermission, ruleOf, type Permission, type Rule } from '../auth/index.js';
import { CSRF_HEADER, SESSION_COOKIE } from '../auth/index.js';
import type { Principal } from '../auth/index.js';
import type { AccessControl, AuditEntryInput } from './auth.js';

export type { Principal } from '../auth/index.js';

/** public: anyone (health, webhooks that carry their own signature); user: a user's token or session; agent: an agent token. */
export type Access = 'public' | 'user' | 'agent';

export class ApiError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
  }
}

/** The HTTP answer to each kind of refused operation: the only place a domain error meets a status. */
export const STATUS_OF_KIND: Record<ErrorKind, number> = {
  malformed: 400,
  invalid: 422,
  unauthenticated: 401,
  forbidden: 403,
  not_found: 404,
  gone: 410,
  conflict: 409,
  too_large: 413,
  rate_limited: 429,
  unavailable: 503,
  upstream: 502,
  misconfigured: 500,
};

/**
 * The status of a refusal: an ApiError's own, a DomainError's by its kind, or (libraries, Fastify)
 * a `statusCode`; null: an unexpected error.
 */
export function statusOf(err: unknown): number | null {
  if (err instanceof ApiError) return err.statusCode;
  if (err instanceof DomainError) return STATUS_OF_KIND[err.kind];
  const statusCode = (err as { statusCode?: unknown } | null)?.statusCode;
  return typeof statusCode === 'number' ? statusCode : null;
}

/** The fields of a posted HTML form (application/x-www-form-urlencoded), or null when the body is no form. */
export function formOf(request: FastifyRequest): URLSearchParams | null {
  const form = Buffer.isBuffer(request.body) && /^application\/x-www-form-urlencoded\b/i.test(request.headers['content-type'] ?? '');
  return form ? new URLSearchParams((request.body as Buffer).toString('utf8')) : null;
}

export interface RouteContext<Body> {
  request: FastifyRequest;
  reply: FastifyReply;
  principal: Principal;
  body: Body;
  params: Record<string, string>;
  query: Record<string, string | undefined>;
  /**
   * Adds details to this request's audit record (a role granted, a token's name), or names its
   * actor when the route establishes it (signing in). Never pass secrets.
   */
  audit(details: Record<string, unknown>, actor?: Principal): void;
}

export interface RouteSpec<Schema extends z.ZodType | undefined> {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE' | 'PATCH';
  url: string;
  summary: string;
  tag: string;
  access: Access;
  body?: Schema;
  /** Content type of a successful response when it is not JSON (logs, files, SSE). */
  produces?: string;
  /** Raw bodies (blob uploads, webhooks) skip JSON parsing and schema checks. */
  rawBody?: boolean;
  /**
   * A body bigger than the API's default (maxRequestBytes): `bulk` (maxBulkRequestBytes, the
   * default of agent routes), `webhook` (maxWebhookBytes), or bytes. Streamed uploads
   * (application/octet-stream) are limited by their handlers, not here.
   */
  bodyLimit?: BodyLimit;
  handler(ctx: RouteContext<Schema extends z.ZodType ? z.infer<Schema> : undefined>): Promise<unknown>;
}

export type BodyLimit = 'bulk' | 'webhook' | number;

/** The byte counts behind the named body limits (from the configuration). */
export interface BodyLimits {
  bulk: number;
  webhook: number;
}

export interface RegisteredRoute {
  method: string;
  url: string;
  summary: string;
  tag: string;
  access: Access;
  permission: Permission;
  bodySchema?: z.ZodType;
  produces?: string;
}

/** The access a permission's rule implies; a route declaring another is a mistake caught at start. */
function accessOf(rule: Rule): Access {
  return rule.who === 'anyone' ? 'public' : rule.who === 'agent' ? 'agent' : 'user';
}

/** What the permission asks, for the OpenAPI document. */
function describeRule(rule: Rule): string {
  switch (rule.who) {
    case 'anyone':
      return 'anyone';
    case 'user':
      return 'any signed-in user';
    case 'admin':
      return rule.registrationToken
        ? 'an instance administrator, or an agent registration token (scope register_agent)'
        : 'an instance administrator';
    case 'agent':
      return 'an agent token';
    case 'member':
      return `the ${rule.role} role on the repository (or an instance administrator)${rule.jobToken ? ", or a running job's CI_JOB_TOKEN of the repository" : ''}`;
  }
}

/**
 * PostgreSQL cannot store or compare text with a NUL byte: a path or query parameter holding one
 * would fail inside a query (a 500 and a database error counted) instead of being refused here.
 */
function refuseNulInUrl(request: FastifyRequest): void {
  const groups: [string, unknown][] = [
    ['path parameter', request.params],
    ['query parameter', request.query],
  ];
  for (const [kind, values] of groups) {
    for (const [name, value] of Object.entries((values ?? {}) as Record<string, unknown>)) {
      const texts = Array.isArray(value) ? value : [value];
      if (texts.some((text) => typeof text === 'string' && text.includes('\u0000'))) {
        throw new ApiError(422, `${kind} ${name}: contains a NUL byte`);
      }
    }
  }
}

export class RouteTable {
  readonly routes: RegisteredRoute[] = [];

  /** The caller of each request, found by the route's onRequest hook before its body is read. */
  private readonly principals = new WeakMap<FastifyRequest, Principal>();

  constructor(
    private readonly app: FastifyInstance,
    private readonly access: AccessControl,
    private readonly bodyLimits?: BodyLimits,
  ) {}

  /** The route's body limit in bytes; undefined: the server's default (maxRequestBytes). */
  private bodyLimitOf(spec: { bodyLimit?: BodyLimit; access: Access }): number | undefined {
    // Agents are authenticated before their bodies are read, and their batches (log chunks,
    // artifact manifests) are bulky by nature.
    const limit = spec.bodyLimit ?? (spec.access === 'agent' ? 'bulk' : undefined);
    if (typeof limit === 'number' || limit === undefined) return limit;
    return this.bodyLimits?.[limit];
  }

  add<Schema extends z.ZodType | undefined>(spec: RouteSpec<Schema>): void {
    const route = routePermission(spec.method, spec.url);
    if (accessOf(route.rule) !== spec.access) {
      throw new Error(
        `route ${spec.method} ${spec.url} declares access "${spec.access}" but its permission ${route.permission} is for ${describeRule(route.rule)}`,
      );
    }
    // The agent protocol's writes are fenced and recorded with their jobs and releases; logging
    // every heartbeat and log chunk would bury the changes people make.
    const audited = spec.method !== 'GET' && route.rule.who !== 'agent';
    this.routes.push({
      method: spec.method,
      url: spec.url,
      summary: spec.summary,
      tag: spec.tag,
      access: spec.access,
      permission: route.permission,
      bodySchema: spec.body,
      produces: spec.produces,
    });
    this.app.route({
      method: spec.method,
      url: spec.url,
      config: { rawBody: spec.rawBody === true },
      bodyLimit: this.bodyLimitOf(spec),
      onRequest: async (request) => {
        refuseNulInUrl(request);
        this.principals.set(request, await this.access.check(request, route));
      },
      handler: async (request, reply) => {
        const principal = this.principals.get(request);
        if (!principal) throw new Error(`no caller checked for ${spec.method} ${spec.url}`);
        this.access.checkBody?.(request, principal);
        const note: { details?: Record<string, unknown>; actor?: Principal } = {};
        let body: unknown = request.body;
        if (spec.body) {
          const parsed = spec.body.safeParse(body ?? {});
          if (!parsed.success) {
            const problems = parsed.error.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`);
            throw new ApiError(422, `invalid request body: ${problems.join('; ')}`, parsed.error.issues);
          }
          body = parsed.data;
        }
        const result = await spec.handler({
          request,
          reply,
          principal,
          body: body as never,
          params: request.params as Record<string, string>,
          query: request.query as Record<string, string | undefined>,
          audit(details, actor) {
            note.details = { ...note.details, ...details };
            if (actor) note.actor = actor;
          },
        });
        if (audited && reply.statusCode < 400) {
          await this.access.audit(request, {
            principal: note.actor ?? principal,
            action: route.permission,
            route: spec.url,
            status: reply.statusCode,
            details: note.details,
          });
        }
        if (reply.sent) return reply;
        return result;
      },
    });
  }

  /** Records what the route layer cannot see by itself (a refused sign-in). */
  audit(request: FastifyRequest, entry: AuditEntryInput): Promise<void> {
    return this.access.audit(request, entry);
  }

  /** OpenAPI 3.1 document of every registered route. */
  openapi(version: string): Record<string, unknown> {
    const paths: Record<string, Record<string, unknown>> = {};
    for (const r of this.routes) {
      const path = r.url.replace(/:([A-Za-z_]+)/g, '{$1}').replace(/\*$/, '{path}');
      const params = [...path.matchAll(/\{([A-Za-z_]+)\}/g)].map((m) => ({
        name: m[1],
        in: 'path',
        required: true,
        schema: { type: 'string' },
      }));
      const op: Record<string, unknown> = {
        summary: r.summary,
        tags: [r.tag],
        parameters: params,
        description: `Needs permission ${r.permission}: ${describeRule(ruleOf(r.permission))}.`,
        security: r.access === 'public' ? [] : r.access === 'agent' ? [{ bearerAuth: [] }] : [{ bearerAuth: [] }, { cookieAuth: [] }],
        'x-tandem-access': r.access,
        'x-tandem-permission': r.permission,
        responses: {
          default: {
            description: 'Success; errors are JSON {error, message}',
            content: { [r.produces ?? 'application/json']: {} },
          },
        },
      };
      if (r.bodySchema) {
        op.requestBody = {
          required: true,
          content: { 'application/json': { schema: z.toJSONSchema(r.bodySchema, { unrepresentable: 'any' }) } },
        };
      }
      (paths[path] ??= {})[r.method.toLowerCase()] = op;
    }
    return {
      openapi: '3.1.0',
      info: { title: 'Tandem API', version },
      servers: [{ url: '/' }],
      components: {
        securitySchemes: {
          bearerAuth: {
            type: 'http',
            scheme: 'bearer',
            description:
              'A personal token (tdm_), an agent token (tda_) or a job token (tdj_, CI_JOB_TOKEN; also accepted as a JOB-TOKEN header)',
          },
          cookieAuth: {
            type: 'apiKey',
            in: 'cookie',
            name: SESSION_COOKIE,
            description: `A session from POST /api/v1/session; changes also need the ${CSRF_HEADER} header`,
          },
        },
      },
      paths,
    };
  }
}
