// The plumbing of the GitLab, Gitea and Bitbucket contract servers: loopback HTTP servers that stand
// in for a forge (no GitLab, Gitea or Bitbucket can run here). Each serves the few operations Tandem
// calls, taken from the forge's published API description (test/forges/specs/<forge>.json: the
// source, URL and version are in its `x-source`), and checks every request against it with the
// OpenAPI validator the GitHub contract server uses (./openapi.ts): the operation exists, path and
// query parameters have the documented types and values (no undocumented ones), the JSON body
// matches the schema. A request that does not is answered 400 and kept in `violations`, which every
// test asserts empty. Answers are checked against the documented responses too, so a contract
// server cannot drift from what the forge says it returns.
//
// Faults for the client's error handling: `fail(answer, times)` answers the next requests with a
// given status and headers (a rate limit with the forge's headers, a 5xx), `fail('hang')` never
// answers (the client's timeout).
import { readFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { repoRoot } from '../support/git.js';
import { ContractViolation, OpenApiContract } from './openapi.js';

interface OperationDoc {
  operationId: string;
  responses: Record<string, { description: string; content?: Record<string, { schema: Record<string, unknown> }> }>;
}

interface SpecDoc {
  'x-source': { description: string; url: string; version: string };
  servers: { url: string }[];
  paths: Record<string, Record<string, OperationDoc>>;
}

/** A forge's vendored description (test/forges/specs/<name>.json) and its validator. */
export interface ForgeSpec {
  doc: SpecDoc;
  contract: OpenApiContract;
  /** Where the description's paths start on the server (its `servers[0].url`). */
  basePath: string;
}

export function loadSpec(name: string): ForgeSpec {
  const doc = JSON.parse(readFileSync(path.join(repoRoot(), 'test', 'forges', 'specs', `${name}.json`), 'utf8')) as SpecDoc;
  return {
    doc,
    contract: new OpenApiContract(doc as unknown as Record<string, unknown>),
    basePath: doc.servers[0].url.replace(/\/+$/, ''),
  };
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
  spec: ForgeSpec;
  /** Whether the request carries the credential; when not, `unauthorized` is the answer. */
  authorized(headers: IncomingHttpHeaders): boolean;
  unauthorized: ContractAnswer;
  /** The forge's documented answer, per operationId. */
  operations: Record<string, (req: ContractRequest) => ContractAnswer>;
}

export class ContractServer {
  /** Requests that matched the description, in order. */
  readonly requests: ContractRequest[] = [];
  /** Every way a request (or an answer) broke the description. */
  readonly violations: string[] = [];
  private readonly faults: ContractFault[] = [];
  private readonly operations = new Map<string, OperationDoc>();
  private readonly server: Server;
  private origin = '';

  private constructor(private readonly opts: ContractServerOptions) {
    for (const ops of Object.values(opts.spec.doc.paths)) for (const op of Object.values(ops)) this.operations.set(op.operationId, op);
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
    const { contract, basePath } = this.opts.spec;
    if (!new URL(rawUrl, 'http://contract').pathname.startsWith(`${basePath}/`)) {
      return this.violation(`${method} ${rawUrl}: outside the API root ${basePath}`);
    }
    let matched;
    try {
      matched = contract.check(method, rawUrl, text, basePath);
    } catch (err) {
      if (err instanceof ContractViolation) return this.violation(err.message);
      throw err;
    }
    if (text !== '' && !(headers['content-type'] ?? '').startsWith('application/json')) {
      return this.violation(`${matched.operationId}: body sent as ${headers['content-type']}, not application/json`);
    }
    const request: ContractRequest = { ...matched, headers };
    this.requests.push(request);
    const fault = this.faults.shift();
    if (fault !== undefined) return fault;
    if (!this.opts.authorized(headers)) return this.opts.unauthorized;
    const answer = this.opts.operations[matched.operationId]?.(request);
    if (!answer) return this.violation(`${matched.operationId} has no answer in this contract server`);
    const documented = this.operations.get(matched.operationId)?.responses[String(answer.status)];
    const schema = documented?.content?.['application/json']?.schema;
    if (!documented)
      this.violations.push(`${this.opts.forge}: ${matched.operationId} answered ${answer.status}, which the description does not list`);
    else if (schema) {
      try {
        contract.validate(schema, answer.body, `${matched.operationId} answer`);
      } catch (err) {
        if (!(err instanceof ContractViolation)) throw err;
        this.violations.push(`${this.opts.forge}: ${err.message}`);
      }
    }
    return answer;
  }
}
