// Checks requests against a forge's published OpenAPI description, for the contract servers that
// stand in for forges in tests. The document is read once per test file; each request is matched
// to its operation by method and path template, then its path and query parameters and its JSON body
// are validated with the small JSON Schema validator below.
//
// The validator covers the subset the forges' descriptions use for these operations: $ref (local),
// type (with OpenAPI 3.0's `nullable` and 3.1's type arrays), enum, const, properties, required,
// items, minItems/maxItems, minLength/maxLength, minimum/maximum, pattern, format date-time and
// uri, allOf/anyOf/oneOf. It is stricter than the description in one way, on purpose: a body
// property the schema does not name is an error (a forge ignores it, so a typo would pass silently).
import { readFileSync } from 'node:fs';

type Schema = Record<string, unknown>;

interface Parameter {
  name: string;
  in: 'path' | 'query' | 'header' | 'cookie';
  required?: boolean;
  schema?: Schema;
}

interface Operation {
  operationId: string;
  method: string;
  template: string;
  pattern: RegExp;
  paramNames: string[];
  /** Parameters that may span segments, and the template's literal characters: how specific it is. */
  multiSegment: number;
  literal: number;
  parameters: Parameter[];
  body: Schema | null;
  bodyRequired: boolean;
}

export interface MatchedRequest {
  operationId: string;
  params: Record<string, string>;
  query: Record<string, string>;
  body: unknown;
}

/** A request the description does not allow: the contract server answers it 400/404 and the test fails. */
export class ContractViolation extends Error {}

const DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

export class OpenApiContract {
  private readonly operations: Operation[] = [];

  constructor(private readonly doc: Schema) {
    const paths = doc.paths as Record<string, Record<string, Schema>>;
    for (const [template, item] of Object.entries(paths)) {
      const shared = (item.parameters as unknown as Schema[] | undefined) ?? [];
      for (const [method, op] of Object.entries(item)) {
        if (!['get', 'post', 'put', 'patch', 'delete'].includes(method)) continue;
        const parameters = [...shared, ...((op.parameters as Schema[] | undefined) ?? [])].map(
          (p) => this.deref(p) as unknown as Parameter,
        );
        const paramNames: string[] = [];
        let multiSegment = 0;
        // A path parameter matches one segment; GitHub marks a ref that may hold "/" with x-multi-segment.
        const source = template.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/\\\{([^}]+)\\\}/g, (_m, name: string) => {
          paramNames.push(name);
          const raw = parameters.find((p) => p.name === name && p.in === 'path') as
            (Parameter & { 'x-multi-segment'?: boolean }) | undefined;
          if (raw?.['x-multi-segment']) multiSegment++;
          return raw?.['x-multi-segment'] ? '(.+)' : '([^/]+)';
        });
        const content = (this.deref((op.requestBody as Schema | undefined) ?? {}).content as Record<string, Schema> | undefined)?.[
          'application/json'
        ];
        this.operations.push({
          operationId: String(op.operationId),
          method: method.toUpperCase(),
          template,
          pattern: new RegExp(`^${source}$`),
          paramNames,
          multiSegment,
          literal: template.replace(/\{[^}]+\}/g, '').length,
          parameters,
          body: (content?.schema as Schema | undefined) ?? null,
          bodyRequired: Boolean((this.deref((op.requestBody as Schema | undefined) ?? {}) as { required?: boolean }).required),
        });
      }
    }
    // The most specific template wins: /commits/{ref}/statuses before /commits/{ref} whose ref may hold "/".
    this.operations.sort((a, b) => a.multiSegment - b.multiSegment || b.literal - a.literal);
  }

  static load(file: string): OpenApiContract {
    return new OpenApiContract(JSON.parse(readFileSync(file, 'utf8')) as Schema);
  }

  /** The operation this request is, its parameters and body checked; throws ContractViolation. */
  check(method: string, url: string, rawBody: string, basePath = ''): MatchedRequest {
    const parsed = new URL(url, 'http://contract.test');
    let pathname = parsed.pathname;
    if (basePath && pathname.startsWith(basePath)) pathname = pathname.slice(basePath.length) || '/';
    const candidates = this.operations.filter((o) => o.pattern.test(pathname));
    if (candidates.length === 0) throw new ContractViolation(`${method} ${pathname}: no such path in the description`);
    const op = candidates.find((o) => o.method === method);
    if (!op)
      throw new ContractViolation(`${method} ${pathname}: method not in the description (${candidates.map((c) => c.method).join(', ')})`);
    const where = `${op.operationId} (${method} ${op.template})`;
    const match = op.pattern.exec(pathname)!;
    const params: Record<string, string> = {};
    op.paramNames.forEach((name, i) => (params[name] = decodeURIComponent(match[i + 1])));
    for (const p of op.parameters.filter((p) => p.in === 'path')) {
      this.validate(p.schema ?? {}, coerce(params[p.name], p.schema), `${where} path parameter ${p.name}`);
    }
    const query: Record<string, string> = {};
    for (const [name, value] of parsed.searchParams) {
      const p = op.parameters.find((q) => q.in === 'query' && q.name === name);
      if (!p) throw new ContractViolation(`${where}: unknown query parameter ${name}`);
      this.validate(p.schema ?? {}, coerce(value, p.schema), `${where} query parameter ${name}`);
      query[name] = value;
    }
    for (const p of op.parameters.filter((p) => p.in === 'query' && p.required)) {
      if (!(p.name in query)) throw new ContractViolation(`${where}: missing query parameter ${p.name}`);
    }
    let body: unknown = undefined;
    if (rawBody.length > 0) {
      if (!op.body) throw new ContractViolation(`${where}: takes no body`);
      try {
        body = JSON.parse(rawBody);
      } catch {
        throw new ContractViolation(`${where}: the body is not JSON`);
      }
      this.validate(op.body, body, `${where} body`);
    } else if (op.bodyRequired) {
      throw new ContractViolation(`${where}: a body is required`);
    }
    return { operationId: op.operationId, params, query, body };
  }

  private deref(schema: Schema): Schema {
    let s = schema;
    for (let i = 0; typeof s.$ref === 'string' && i < 20; i++) {
      const parts = (s.$ref as string).replace(/^#\//, '').split('/');
      s = parts.reduce<Schema>((node, part) => node[part.replace(/~1/g, '/').replace(/~0/g, '~')] as Schema, this.doc);
    }
    return s;
  }

  /** Throws ContractViolation naming the first place `value` breaks `schema`. */
  validate(schemaIn: Schema, value: unknown, at: string): void {
    const problem = this.problem(this.deref(schemaIn), value, at);
    if (problem) throw new ContractViolation(problem);
  }

  private problem(schema: Schema, value: unknown, at: string): string | null {
    schema = this.deref(schema);
    if (value === null && (schema.nullable === true || (Array.isArray(schema.type) && schema.type.includes('null')))) return null;
    if (Array.isArray(schema.allOf)) {
      for (const s of schema.allOf as Schema[]) {
        const p = this.problem(s, value, at);
        if (p) return p;
      }
    }
    for (const key of ['anyOf', 'oneOf'] as const) {
      const options = schema[key] as Schema[] | undefined;
      if (!options) continue;
      const fits = options.filter((s) => this.problem(s, value, at) === null).length;
      if (fits === 0 || (key === 'oneOf' && fits > 1)) return `${at}: matches ${fits} of the ${key} schemas`;
    }
    const types = schema.type === undefined ? [] : Array.isArray(schema.type) ? (schema.type as string[]) : [schema.type as string];
    if (types.length > 0 && !types.some((t) => typeMatches(t, value)))
      return `${at}: ${JSON.stringify(value)} is not ${types.join(' or ')}`;
    if (Array.isArray(schema.enum) && !schema.enum.includes(value))
      return `${at}: ${JSON.stringify(value)} is not one of ${JSON.stringify(schema.enum)}`;
    if ('const' in schema && schema.const !== value) return `${at}: must be ${JSON.stringify(schema.const)}`;
    if (typeof value === 'string') {
      if (typeof schema.maxLength === 'number' && value.length > schema.maxLength) return `${at}: longer than ${schema.maxLength}`;
      if (typeof schema.minLength === 'number' && value.length < schema.minLength) return `${at}: shorter than ${schema.minLength}`;
      if (typeof schema.pattern === 'string' && !new RegExp(schema.pattern, 'u').test(value))
        return `${at}: does not match ${schema.pattern}`;
      if (schema.format === 'date-time' && !DATE_TIME.test(value)) return `${at}: not an ISO 8601 date-time`;
      if (schema.format === 'uri' && !URL.canParse(value)) return `${at}: not a URI`;
    }
    if (typeof value === 'number') {
      if (typeof schema.minimum === 'number' && value < schema.minimum) return `${at}: below ${schema.minimum}`;
      if (typeof schema.maximum === 'number' && value > schema.maximum) return `${at}: above ${schema.maximum}`;
    }
    if (Array.isArray(value)) {
      if (typeof schema.maxItems === 'number' && value.length > schema.maxItems) return `${at}: more than ${schema.maxItems} items`;
      if (typeof schema.minItems === 'number' && value.length < schema.minItems) return `${at}: fewer than ${schema.minItems} items`;
      if (schema.items) {
        for (const [i, item] of value.entries()) {
          const p = this.problem(schema.items as Schema, item, `${at}[${i}]`);
          if (p) return p;
        }
      }
    }
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
      const properties = (schema.properties as Record<string, Schema> | undefined) ?? {};
      for (const name of (schema.required as string[] | undefined) ?? []) {
        if (!(name in value)) return `${at}: missing required property ${name}`;
      }
      const open = schema.additionalProperties;
      for (const [name, v] of Object.entries(value)) {
        if (name in properties) {
          const p = this.problem(properties[name], v, `${at}.${name}`);
          if (p) return p;
        } else if (typeof open === 'object' && open !== null) {
          const p = this.problem(open as Schema, v, `${at}.${name}`);
          if (p) return p;
        } else if (schema.properties !== undefined && open !== true) {
          return `${at}: unknown property ${name}`;
        }
      }
    }
    return null;
  }
}

function typeMatches(type: string, value: unknown): boolean {
  switch (type) {
    case 'null':
      return value === null;
    case 'integer':
      return Number.isInteger(value);
    case 'number':
      return typeof value === 'number';
    case 'array':
      return Array.isArray(value);
    case 'object':
      return typeof value === 'object' && value !== null && !Array.isArray(value);
    default:
      return typeof value === type;
  }
}

/** A path or query parameter is text; its schema may call it an integer or a boolean. */
function coerce(value: string, schema: Schema | undefined): unknown {
  const type = schema?.type;
  if ((type === 'integer' || type === 'number') && /^-?\d+(\.\d+)?$/.test(value)) return Number(value);
  if (type === 'boolean' && (value === 'true' || value === 'false')) return value === 'true';
  return value;
}
