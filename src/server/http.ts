// Route registration with one table: every route declares who may call it and the shape of its body.
// The same table produces the OpenAPI document and drives authentication, so a route cannot exist
// without an access rule (the auth work turns `access` into per-role permissions).
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';

/** public: anyone (health, webhooks that carry their own signature); user: an API token; agent: an agent token. */
export type Access = 'public' | 'user' | 'agent';

export type Principal = { kind: 'admin'; tokenId: number } | { kind: 'agent'; agentId: number } | { kind: 'anonymous' };

export class ApiError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
  }
}

export interface RouteContext<Body> {
  request: FastifyRequest;
  reply: FastifyReply;
  principal: Principal;
  body: Body;
  params: Record<string, string>;
  query: Record<string, string | undefined>;
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
  handler(ctx: RouteContext<Schema extends z.ZodType ? z.infer<Schema> : undefined>): Promise<unknown>;
}

export interface RegisteredRoute {
  method: string;
  url: string;
  summary: string;
  tag: string;
  access: Access;
  bodySchema?: z.ZodType;
  produces?: string;
}

export type Authenticator = (request: FastifyRequest, access: Access) => Promise<Principal>;

export class RouteTable {
  readonly routes: RegisteredRoute[] = [];

  constructor(
    private readonly app: FastifyInstance,
    private readonly authenticate: Authenticator,
  ) {}

  add<Schema extends z.ZodType | undefined>(spec: RouteSpec<Schema>): void {
    this.routes.push({
      method: spec.method,
      url: spec.url,
      summary: spec.summary,
      tag: spec.tag,
      access: spec.access,
      bodySchema: spec.body,
      produces: spec.produces,
    });
    this.app.route({
      method: spec.method,
      url: spec.url,
      config: { rawBody: spec.rawBody === true },
      handler: async (request, reply) => {
        const principal = await this.authenticate(request, spec.access);
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
        });
        if (reply.sent) return reply;
        return result;
      },
    });
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
        security: r.access === 'public' ? [] : [{ bearerAuth: [] }],
        'x-tandem-access': r.access,
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
      components: { securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer' } } },
      paths,
    };
  }
}
