// The plumbing of the forge contract servers: loopback HTTP servers that stand in for a forge (no
// GitLab, Gitea or Bitbucket can run here). Each serves the few operations Tandem calls, taken from
// the forge's published API description (test/forges/specs/<forge>.json, Swagger 2.0: the source
// and version are in its `x-source`), and checks every request against it: the operation exists,
// path and query parameters have the documented types and values (no undocumented ones), the JSON
// body matches the schema. A request that does not is answered 400 and kept in `violations`, which
// every test asserts empty. Answers are checked against the documented response schemas too, so a
// contract server cannot drift from what the forge says it returns.
//
// Faults for the client's error handling: `fail(answer, times)` answers the next requests with a
// given status and headers (a rate limit with the forge's headers, a 5xx), `fail('hang')` never
// answers (the client's timeout).
//
// The validator covers the JSON Schema the four descriptions use (type, enum, required, properties,
// additionalProperties, items, maxLength, minLength, $ref to #/definitions) and refuses to load a
// description with any other keyword, so nothing in a description is silently skipped.
import { readFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { repoRoot } from '../support/git.js';

export interface JsonSchema {
  $ref?: string;
  type?: 'string' | 'integer' | 'number' | 'boolean' | 'object' | 'array';
  enum?: readonly (string | number | boolean)[];
  required?: readonly string[];
  properties?: Record<string, JsonSchema>;
  additionalProperties?: boolean | JsonSchema;
  items?: JsonSchema;
  maxLength?: number;
  minLength?: number;
}

interface SwaggerParameter extends Omit<JsonSchema, 'required'> {
  name: string;
  in: 'path' | 'query' | 'body' | 'header';
  required?: boolean;
  schema?: JsonSchema;
}

interface SwaggerOperation {
  operationId: string;
  parameters: SwaggerParameter[];
  responses: Record<string, { description: string; schema?: JsonSchema }>;
}

export interface SwaggerSpec {
  'x-source': { description: string; url: string; version: string };
  basePath: string;
  paths: Record<string, Partial<Record<'get' | 'post', SwaggerOperation>>>;
  definitions: Record<string, JsonSchema>;
}

/** Keywords that only describe (kept from the published text, not checked). */
const ANNOTATIONS = new Set(['description', 'title', 'default', 'example', 'format', 'x-tandem']);
const KEYWORDS = new Set(['$ref', 'type', 'enum', 'required', 'properties', 'additionalProperties', 'items', 'maxLength', 'minLength']);
const PARAMETER_FIELDS = new Set(['name', 'in', 'required', 'schema']);

/** Reads test/forges/specs/<name>.json and checks that the validator understands all of it. */
export function loadSpec(name: string): SwaggerSpec {
  const spec = JSON.parse(readFileSync(path.join(repoRoot(), 'test', 'forges', 'specs', `${name}.json`), 'utf8')) as SwaggerSpec;
  const check = (schema: JsonSchema, where: string): void => {
    for (const [key, value] of Object.entries(schema)) {
      if (key.startsWith('x-') || ANNOTATIONS.has(key)) continue;
      if (!KEYWORDS.has(key)) throw new Error(`${name}.json ${where}: the contract validator does not know \`${key}\``);
      if (key === 'properties') for (const [p, s] of Object.entries(value as Record<string, JsonSchema>)) check(s, `${where}.${p}`);
      if ((key === 'items' || key === 'additionalProperties') && typeof value === 'object') check(value as JsonSchema, `${where}.${key}`);
    }
  };
  for (const [def, schema] of Object.entries(spec.definitions)) check(schema, `definitions.${def}`);
  for (const [p, ops] of Object.entries(spec.paths)) {
    for (const [method, op] of Object.entries(ops)) {
      for (const param of op.parameters) {
        const { schema, ...rest } = param;
        check(Object.fromEntries(Object.entries(rest).filter(([k]) => !PARAMETER_FIELDS.has(k))), `${method} ${p} ${param.name}`);
        if (schema) check(schema, `${method} ${p} ${param.name}`);
      }
      for (const [status, response] of Object.entries(op.responses))
        if (response.schema) check(response.schema, `${method} ${p} ${status}`);
    }
  }
  return spec;
}

/** Where `value` breaks `schema`, one line each (empty when it conforms). */
export function validate(spec: SwaggerSpec, schema: JsonSchema, value: unknown, where: string): string[] {
  if (schema.$ref) {
    const name = schema.$ref.replace(/^#\/definitions\//, '');
    const target = spec.definitions[name];
    if (!target) return [`${where}: the description has no definition ${schema.$ref}`];
    return validate(spec, target, value, where);
  }
  const errors: string[] = [];
  const kind = Array.isArray(value) ? 'array' : value === null ? 'null' : typeof value;
  if (schema.type) {
    const ok =
      schema.type === 'integer' ? Number.isInteger(value) : schema.type === 'number' ? typeof value === 'number' : kind === schema.type;
    if (!ok) return [`${where}: expected ${schema.type}, got ${kind === 'string' ? JSON.stringify(value) : kind}`];
  }
  if (schema.enum && !schema.enum.includes(value as string)) {
    errors.push(`${where}: ${JSON.stringify(value)} is not one of ${schema.enum.join(', ')}`);
  }
  if (typeof value === 'string') {
    if (schema.maxLength !== undefined && value.length > schema.maxLength)
      errors.push(`${where}: longer than ${schema.maxLength} characters`);
    if (schema.minLength !== undefined && value.length < schema.minLength)
      errors.push(`${where}: shorter than ${schema.minLength} characters`);
  }
  if (kind === 'object' && (schema.properties || schema.required || schema.additionalProperties !== undefined)) {
    const object = value as Record<string, unknown>;
    for (const name of schema.required ?? []) if (!(name in object)) errors.push(`${where}.${name}: required`);
    for (const [name, v] of Object.entries(object)) {
      const property = schema.properties?.[name];
      if (property) errors.push(...validate(spec, property, v, `${where}.${name}`));
      else if (schema.additionalProperties === false) errors.push(`${where}.${name}: not in the description`);
      else if (typeof schema.additionalProperties === 'object')
        errors.push(...validate(spec, schema.additionalProperties, v, `${where}.${name}`));
    }
  }
  if (kind === 'array' && schema.items)
    (value as unknown[]).forEach((v, i) => errors.push(...validate(spec, schema.items!, v, `${where}[${i}]`)));
  return errors;
}

/** The schema of a path or query parameter (its `required` says whether it must be there, not which properties). */
function parameterSchema(param: SwaggerParameter): JsonSchema {
  const { name: _name, in: _in, required: _required, schema: _schema, ...schema } = param;
  return schema;
}

/** A path or query value as the description types it (they arrive as text). */
function typedParameter(param: SwaggerParameter, raw: string): unknown {
  if (param.type === 'integer' || param.type === 'number') return /^-?\d+(\.\d+)?$/.test(raw) ? Number(raw) : raw;
  if (param.type === 'boolean') return raw === 'true' ? true : raw === 'false' ? false : raw;
  return raw;
}

export interface ContractRequest {
  operationId: string;
  params: Record<string, string>;
  query: Record<string, string>;
  body: unknown;
  headers: IncomingHttpHeaders;
}

export interface ContractAnswer {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

export type ContractFault = ContractAnswer | 'hang';

export interface ContractServerOptions {
  /** The forge's name in violations and logs. */
  forge: string;
  spec: SwaggerSpec;
  /** Whether the request carries the credential; when not, `unauthorized` is the answer. */
  authorized(headers: IncomingHttpHeaders): boolean;
  unauthorized: ContractAnswer;
  /** The forge's documented answer, per operationId. */
  operations: Record<string, (req: ContractRequest) => ContractAnswer>;
}

interface Route {
  method: string;
  segments: string[];
  op: SwaggerOperation;
}

export class ContractServer {
  /** Requests that matched the description, in order. */
  readonly requests: ContractRequest[] = [];
  /** Every way a request (or an answer) broke the description. */
  readonly violations: string[] = [];
  private readonly faults: ContractFault[] = [];
  private readonly routes: Route[];
  private readonly server: Server;
  private origin = '';

  private constructor(private readonly opts: ContractServerOptions) {
    this.routes = Object.entries(opts.spec.paths).flatMap(([p, ops]) =>
      Object.entries(ops).map(([method, op]) => ({
        method: method.toUpperCase(),
        segments: `${opts.spec.basePath.replace(/\/+$/, '')}${p}`.split('/').slice(1),
        op,
      })),
    );
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const answer = this.handle(req.method ?? 'GET', req.url ?? '/', req.headers, Buffer.concat(chunks).toString('utf8'));
        if (answer === 'hang') return;
        const text = answer.body === undefined ? '' : JSON.stringify(answer.body);
        res.writeHead(answer.status, { ...(text ? { 'content-type': 'application/json' } : {}), ...answer.headers });
        res.end(text);
      });
    });
  }

  static async start(opts: ContractServerOptions): Promise<ContractServer> {
    const contract = new ContractServer(opts);
    await new Promise<void>((resolve) => contract.server.listen(0, '127.0.0.1', resolve));
    contract.origin = `http://127.0.0.1:${(contract.server.address() as AddressInfo).port}`;
    return contract;
  }

  /** http://127.0.0.1:port followed by `path` (an API root as a forge connection names it). */
  url(path = ''): string {
    return this.origin + path;
  }

  /** The next `times` requests (after validation) get `fault` instead of the documented answer. */
  fail(fault: ContractFault, times = 1): void {
    for (let i = 0; i < times; i++) this.faults.push(fault);
  }

  /** The requests of one operation. */
  calls(operationId: string): ContractRequest[] {
    return this.requests.filter((r) => r.operationId === operationId);
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private violation(message: string): ContractAnswer {
    this.violations.push(`${this.opts.forge}: ${message}`);
    return { status: 400, body: { message: `contract server for ${this.opts.forge}: ${message}` } };
  }

  private handle(method: string, rawUrl: string, headers: IncomingHttpHeaders, text: string): ContractFault {
    const url = new URL(rawUrl, 'http://contract');
    const segments = url.pathname.split('/').slice(1);
    const params: Record<string, string> = {};
    const route = this.routes.find((r) => {
      if (r.method !== method || r.segments.length !== segments.length) return false;
      for (const key of Object.keys(params)) delete params[key];
      return r.segments.every((s, i) => {
        const name = /^\{(.+)\}$/.exec(s)?.[1];
        if (name === undefined) return s === segments[i];
        params[name] = decodeURIComponent(segments[i]);
        return params[name] !== '';
      });
    });
    if (!route) return this.violation(`no operation in the description is ${method} ${url.pathname}`);
    const { op } = route;
    const where = `${op.operationId}`;
    const errors: string[] = [];
    const query = Object.fromEntries(url.searchParams.entries());
    for (const param of op.parameters) {
      if (param.in === 'path')
        errors.push(
          ...validate(
            this.opts.spec,
            parameterSchema(param),
            typedParameter(param, params[param.name] ?? ''),
            `${where} path ${param.name}`,
          ),
        );
      if (param.in === 'query') {
        if (!(param.name in query)) {
          if (param.required) errors.push(`${where} query ${param.name}: required`);
        } else
          errors.push(
            ...validate(this.opts.spec, parameterSchema(param), typedParameter(param, query[param.name]), `${where} query ${param.name}`),
          );
      }
    }
    for (const name of Object.keys(query)) {
      if (!op.parameters.some((p) => p.in === 'query' && p.name === name)) errors.push(`${where} query ${name}: not in the description`);
    }
    const bodyParam = op.parameters.find((p) => p.in === 'body');
    let body: unknown = undefined;
    if (text !== '') {
      if (!bodyParam) errors.push(`${where}: a body where the description has none`);
      else if (!(headers['content-type'] ?? '').startsWith('application/json'))
        errors.push(`${where}: body sent as ${headers['content-type']}, not application/json`);
      else {
        try {
          body = JSON.parse(text) as unknown;
          errors.push(...validate(this.opts.spec, bodyParam.schema ?? {}, body, `${where} body`));
        } catch {
          errors.push(`${where}: the body is not JSON`);
        }
      }
    } else if (bodyParam?.required) errors.push(`${where}: the body is required`);
    if (errors.length > 0) return this.violation(errors.join('; '));

    const request: ContractRequest = { operationId: op.operationId, params, query, body, headers };
    this.requests.push(request);
    const fault = this.faults.shift();
    if (fault !== undefined) return fault;
    if (!this.opts.authorized(headers)) return this.opts.unauthorized;
    const answer = this.opts.operations[op.operationId]?.(request);
    if (!answer) return this.violation(`${op.operationId} has no answer in this contract server`);
    const documented = op.responses[String(answer.status)];
    if (!documented)
      this.violations.push(`${this.opts.forge}: ${op.operationId} answered ${answer.status}, which the description does not list`);
    else if (documented.schema) {
      const wrong = validate(this.opts.spec, documented.schema, answer.body, `${op.operationId} answer`);
      if (wrong.length > 0) this.violations.push(`${this.opts.forge}: ${wrong.join('; ')}`);
    }
    return answer;
  }
}
