// A contract server standing in for Gitea and Forgejo (which cannot run here): the commit status
// operations of Gitea's Swagger description (specs/gitea.json), answered as Gitea does: every POST
// adds a status (the newest of a context is the one shown), listings are paged and sortable.
import type { IncomingHttpHeaders } from 'node:http';
import { ContractServer, loadSpec, type ContractAnswer, type ContractRequest } from './contract-server.js';

export interface GiteaStatus {
  id: number;
  sha: string;
  status: string;
  context: string;
  description: string;
  target_url: string;
  created_at: string;
  updated_at: string;
  url: string;
}

export interface GiteaContract {
  server: ContractServer;
  statuses: GiteaStatus[];
  /** The API root a connection names: http://127.0.0.1:port/api/v1. */
  apiUrl: string;
}

export async function startGiteaContract(opts: { token: string; owner: string; repo: string }): Promise<GiteaContract> {
  const statuses: GiteaStatus[] = [];
  const known = (req: ContractRequest) => req.params.owner === opts.owner && req.params.repo === opts.repo;
  const notFound: ContractAnswer = {
    status: 404,
    body: { errors: null, message: "The target couldn't be found.", url: 'https://gitea.example/api/swagger' },
  };
  let clock = Date.parse('2026-12-06T12:00:00Z');

  const create = (req: ContractRequest): ContractAnswer => {
    if (!known(req)) return notFound;
    const body = (req.body ?? {}) as { state?: string; context?: string; description?: string; target_url?: string };
    const at = new Date((clock += 1000)).toISOString();
    const status: GiteaStatus = {
      id: statuses.length + 1,
      sha: req.params.sha,
      status: body.state ?? 'pending',
      context: body.context ?? 'default',
      description: body.description ?? '',
      target_url: body.target_url ?? '',
      created_at: at,
      updated_at: at,
      url: `/api/v1/repos/${opts.owner}/${opts.repo}/statuses/${req.params.sha}`,
    };
    statuses.push(status);
    const { sha: _sha, ...shown } = status;
    return { status: 201, body: shown };
  };

  const list = (req: ContractRequest): ContractAnswer => {
    if (!known(req)) return notFound;
    const newestFirst = req.query.sort === 'recentupdate' || req.query.sort === 'highestindex';
    const found = statuses.filter((s) => s.sha === req.params.ref && (req.query.state === undefined || s.status === req.query.state));
    if (newestFirst) found.reverse();
    const limit = Number(req.query.limit ?? 30);
    const page = Number(req.query.page ?? 1);
    return { status: 200, body: found.slice((page - 1) * limit, page * limit).map(({ sha: _sha, ...s }) => s) };
  };

  const server = await ContractServer.start({
    forge: 'Gitea',
    spec: loadSpec('gitea'),
    authorized: (headers: IncomingHttpHeaders) => headers.authorization === `token ${opts.token}`,
    unauthorized: { status: 401, body: { message: 'token is required', url: 'https://gitea.example/api/swagger' } },
    operations: { repoCreateStatus: create, repoListStatusesByRef: list },
  });
  return { server, statuses, apiUrl: server.url('/api/v1') };
}
