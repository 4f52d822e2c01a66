// A contract server standing in for GitHub's REST API (github.com cannot be reached from tests).
// Every request is checked against GitHub's published OpenAPI description (@octokit/openapi): a
// request the description does not allow is answered 422 and recorded in `violations`, which
// each test asserts is empty. It answers the operations Tandem uses as the description documents
// them, keeps the commit statuses and check runs it was sent, and can be told to answer with a
// primary or secondary rate limit (403 and GitHub's headers), a 5xx, to hang, or to apply a status
// and then never answer (the sender cannot know whether it arrived).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { jwtVerify } from 'jose';
import { ContractViolation, OpenApiContract, type MatchedRequest } from './openapi.js';
import { repoRoot } from '../support/git.js';

let contract: OpenApiContract | null = null;
/** GitHub's description is 13 MB: read once per test process. */
export function githubContract(): OpenApiContract {
  contract ??= OpenApiContract.load(path.join(repoRoot(), 'node_modules/@octokit/openapi/generated/api.github.com.json'));
  return contract;
}

export interface ReceivedStatus {
  sha: string;
  context: string;
  state: string;
  description: string | null;
  targetUrl: string | null;
  at: number;
}

export interface CheckRunRecord {
  id: number;
  name: string;
  headSha: string;
  status: string;
  conclusion: string | null;
  title: string | null;
  detailsUrl: string | null;
  /** Each (status, conclusion, title) the run was created or updated with, in order. */
  history: { status: string; conclusion: string | null; title: string | null }[];
}

/**
 * What the next matching requests get instead of their answer: `primary`/`secondary` rate limits
 * (403 with x-ratelimit-* or retry-after), `error` (a 5xx), `hang` (no answer, nothing applied), or
 * `applyThenHang` (applied, then no answer). `operations` limits it (default: the writes).
 */
export interface Fault {
  kind: 'primary' | 'secondary' | 'error' | 'hang' | 'applyThenHang';
  count: number;
  /** Seconds for retry-after (secondary) or until x-ratelimit-reset (primary); default 1. */
  seconds?: number;
  status?: number;
  operations?: string[];
  /** Only requests whose body this accepts (e.g. one state). */
  match?: (body: Record<string, unknown>) => boolean;
  /** Called when the fault is taken (the test can act while the request hangs). */
  onTaken?: () => void;
}

const WRITES = ['repos/create-commit-status', 'checks/create', 'checks/update'];

export interface GitHubContractOptions {
  /** The token repository endpoints accept (commit statuses). */
  token?: string;
  /** A GitHub App: its id and key pair (installation tokens are issued against JWTs it signs). */
  app?: { appId: string; installationId: number };
}

export class GitHubContractServer {
  readonly received: ReceivedStatus[] = [];
  readonly checkRuns: CheckRunRecord[] = [];
  readonly violations: string[] = [];
  /** Every request that reached the server: operation id, or the violation. */
  readonly requests: { operationId: string; method: string; path: string; at: number }[] = [];
  readonly faults: Fault[] = [];
  readonly token: string;
  readonly app: { appId: string; installationId: number; privateKeyPem: string; publicKey: KeyObject } | null;
  /** Called with each accepted write after it was applied (tests wait on it). */
  onWrite: ((operationId: string) => void) | null = null;
  private readonly installationTokens = new Map<string, number>();
  private readonly hanging = new Set<ServerResponse>();
  private nextId = 1;
  private server!: Server;
  url = '';

  private constructor(opts: GitHubContractOptions) {
    this.token = opts.token ?? `ghp_${randomBytes(12).toString('hex')}`;
    if (opts.app) {
      const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
      this.app = {
        ...opts.app,
        // GitHub hands out PKCS#1 ("BEGIN RSA PRIVATE KEY") .pem files.
        privateKeyPem: privateKey.export({ type: 'pkcs1', format: 'pem' }).toString(),
        publicKey,
      };
    } else {
      this.app = null;
    }
  }

  static async start(opts: GitHubContractOptions = {}): Promise<GitHubContractServer> {
    githubContract();
    const s = new GitHubContractServer(opts);
    s.server = createServer((req, res) => void s.handle(req, res));
    await new Promise<void>((resolve) => s.server.listen(0, '127.0.0.1', resolve));
    s.url = `http://127.0.0.1:${(s.server.address() as AddressInfo).port}`;
    return s;
  }

  fault(f: Fault): void {
    this.faults.push(f);
  }

  /** The statuses of a (commit, context), in arrival order. */
  statesOf(sha: string, context: string): string[] {
    return this.received.filter((s) => s.sha === sha && s.context === context).map((s) => `${s.state}:${s.description}`);
  }

  /** GitHub revokes the App's installation tokens (an admin suspended and restored the installation). */
  revokeInstallationTokens(): void {
    this.installationTokens.clear();
  }

  /** Answers every hanging request with a 502, so the senders' sockets close. */
  releaseHanging(): void {
    for (const res of this.hanging) if (!res.writableEnded) res.writeHead(502).end();
    this.hanging.clear();
  }

  async close(): Promise<void> {
    for (const res of this.hanging) res.destroy();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const method = req.method ?? 'GET';
    const url = req.url ?? '/';
    let matched: MatchedRequest;
    try {
      matched = githubContract().check(method, url, Buffer.concat(chunks).toString('utf8'));
    } catch (err) {
      if (!(err instanceof ContractViolation)) throw err;
      this.violations.push(err.message);
      this.requests.push({ operationId: 'violation', method, path: url, at: Date.now() });
      return json(res, 422, { message: err.message, documentation_url: 'https://docs.github.com/rest' });
    }
    this.requests.push({ operationId: matched.operationId, method, path: url, at: Date.now() });
    const denied = await this.authenticate(matched.operationId, req.headers.authorization ?? '');
    if (denied) return json(res, 401, { message: denied, documentation_url: 'https://docs.github.com/rest' });
    const fault = this.takeFault(matched);
    if (fault) {
      const answered = this.answerFault(fault, res);
      if (!answered) {
        this.apply(matched);
        this.hanging.add(res);
      }
      fault.onTaken?.();
      return;
    }
    const [status, body] = this.apply(matched);
    json(res, status, body);
  }

  private takeFault(m: MatchedRequest): Fault | null {
    const body = (m.body ?? {}) as Record<string, unknown>;
    const f = this.faults.find((x) => x.count > 0 && (x.operations ?? WRITES).includes(m.operationId) && (x.match?.(body) ?? true));
    if (!f) return null;
    f.count--;
    return f;
  }

  /** True when the fault is the whole answer; false for applyThenHang (the caller applies and hangs). */
  private answerFault(f: Fault, res: ServerResponse): boolean {
    const seconds = f.seconds ?? 1;
    switch (f.kind) {
      case 'primary':
        res.setHeader('x-ratelimit-limit', '5000');
        res.setHeader('x-ratelimit-remaining', '0');
        res.setHeader('x-ratelimit-used', '5000');
        res.setHeader('x-ratelimit-reset', String(Math.ceil(Date.now() / 1000) + seconds));
        json(res, 403, {
          message: 'API rate limit exceeded for user ID 1.',
          documentation_url: 'https://docs.github.com/rest/overview/rate-limits-for-the-rest-api',
        });
        return true;
      case 'secondary':
        res.setHeader('retry-after', String(seconds));
        json(res, 403, {
          message: 'You have exceeded a secondary rate limit. Please wait a few minutes before you try again.',
          documentation_url: 'https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits',
        });
        return true;
      case 'error':
        json(res, f.status ?? 502, { message: 'Server Error' });
        return true;
      case 'hang':
        this.hanging.add(res);
        return true;
      case 'applyThenHang':
        return false;
    }
  }

  /** Null when the caller may: a token, an installation token, or for /app/ endpoints the App's JWT. */
  private async authenticate(operationId: string, authorization: string): Promise<string | null> {
    const [scheme, credential] = authorization.split(' ');
    if (operationId.startsWith('apps/')) {
      if (!this.app || scheme?.toLowerCase() !== 'bearer') return 'A JSON web token could not be decoded';
      try {
        await jwtVerify(credential ?? '', this.app.publicKey, { algorithms: ['RS256'], issuer: this.app.appId, clockTolerance: 60 });
        return null;
      } catch (err) {
        return `'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued: ${(err as Error).message}`;
      }
    }
    if (!['token', 'bearer'].includes(scheme?.toLowerCase() ?? '')) return 'Requires authentication';
    if (credential === this.token && !this.app) return null;
    const expires = this.installationTokens.get(credential ?? '');
    if (expires !== undefined && expires > Date.now()) return null;
    return 'Bad credentials';
  }

  private apply(m: MatchedRequest): [number, unknown] {
    const { owner, repo } = m.params;
    const body = (m.body ?? {}) as Record<string, unknown>;
    switch (m.operationId) {
      case 'repos/create-commit-status': {
        const s: ReceivedStatus = {
          sha: m.params.sha,
          context: String(body.context ?? 'default'),
          state: String(body.state),
          description: (body.description as string | null | undefined) ?? null,
          targetUrl: (body.target_url as string | null | undefined) ?? null,
          at: Date.now(),
        };
        this.received.push(s);
        this.onWrite?.(m.operationId);
        return [201, this.statusJson(s, this.received.length)];
      }
      case 'repos/list-commit-statuses-for-ref': {
        const perPage = Number(m.query.per_page ?? 30);
        const all = this.received.map((s, i) => [s, i + 1] as const).filter(([s]) => s.sha === m.params.ref);
        return [
          200,
          all
            .reverse()
            .slice(0, perPage)
            .map(([s, id]) => this.statusJson(s, id)),
        ];
      }
      case 'apps/get-repo-installation':
        return [200, { id: this.app!.installationId, app_id: Number(this.app!.appId), account: null, target_type: 'Repository' }];
      case 'apps/create-installation-access-token': {
        if (Number(m.params.installation_id) !== this.app!.installationId) return [404, { message: 'Not Found' }];
        const token = `ghs_${randomBytes(16).toString('hex')}`;
        const expiresAt = Date.now() + 3600_000;
        this.installationTokens.set(token, expiresAt);
        return [
          201,
          { token, expires_at: new Date(expiresAt).toISOString(), permissions: { checks: 'write' }, repository_selection: 'selected' },
        ];
      }
      case 'checks/list-for-ref': {
        const runs = this.checkRuns.filter(
          (r) => r.headSha === m.params.ref && (m.query.check_name === undefined || r.name === m.query.check_name),
        );
        return [200, { total_count: runs.length, check_runs: runs.map((r) => this.checkRunJson(r, owner, repo)) }];
      }
      case 'checks/create': {
        const run: CheckRunRecord = {
          id: this.nextId++,
          name: String(body.name),
          headSha: String(body.head_sha),
          status: body.conclusion !== undefined ? 'completed' : String(body.status ?? 'queued'),
          conclusion: (body.conclusion as string | undefined) ?? null,
          title: ((body.output as { title?: string } | undefined)?.title as string | undefined) ?? null,
          detailsUrl: (body.details_url as string | undefined) ?? null,
          history: [],
        };
        run.history.push({ status: run.status, conclusion: run.conclusion, title: run.title });
        this.checkRuns.push(run);
        this.onWrite?.(m.operationId);
        return [201, this.checkRunJson(run, owner, repo)];
      }
      case 'checks/update': {
        const run = this.checkRuns.find((r) => r.id === Number(m.params.check_run_id));
        if (!run) return [404, { message: 'Not Found' }];
        if (body.status !== undefined) run.status = String(body.status);
        if (body.conclusion !== undefined) {
          run.conclusion = String(body.conclusion);
          run.status = 'completed';
        } else if (run.status !== 'completed') {
          run.conclusion = null;
        }
        const title = (body.output as { title?: string } | undefined)?.title;
        if (title !== undefined) run.title = title;
        if (body.details_url !== undefined) run.detailsUrl = String(body.details_url);
        run.history.push({ status: run.status, conclusion: run.conclusion, title: run.title });
        this.onWrite?.(m.operationId);
        return [200, this.checkRunJson(run, owner, repo)];
      }
      default:
        return [501, { message: `the contract server does not implement ${m.operationId}` }];
    }
  }

  private statusJson(s: ReceivedStatus, id: number): Record<string, unknown> {
    const at = new Date(s.at).toISOString();
    return {
      url: `${this.url}/repos/statuses/${s.sha}`,
      avatar_url: null,
      id,
      node_id: `SC_${id}`,
      state: s.state,
      description: s.description,
      target_url: s.targetUrl,
      context: s.context,
      created_at: at,
      updated_at: at,
      creator: null,
    };
  }

  private checkRunJson(r: CheckRunRecord, owner: string, repo: string): Record<string, unknown> {
    return {
      id: r.id,
      head_sha: r.headSha,
      node_id: `CR_${r.id}`,
      external_id: null,
      url: `${this.url}/repos/${owner}/${repo}/check-runs/${r.id}`,
      html_url: null,
      details_url: r.detailsUrl,
      status: r.status,
      conclusion: r.conclusion,
      started_at: null,
      completed_at: null,
      output: { title: r.title, summary: null, text: null, annotations_count: 0, annotations_url: '' },
      name: r.name,
      check_suite: null,
      app: null,
      pull_requests: [],
    };
  }
}

function json(res: ServerResponse, status: number, body: unknown): void {
  if (res.writableEnded || res.destroyed) return;
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' });
  res.end(JSON.stringify(body));
}
