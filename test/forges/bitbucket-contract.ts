// Contract servers standing in for Bitbucket Cloud and Bitbucket Data Center (neither can run
// here): the build status operations of their published descriptions (specs/bitbucket-cloud.json,
// specs/bitbucket-data-center.json), answered as they do: one status per commit and key, a POST
// with the same key replaces it.
import type { IncomingHttpHeaders } from 'node:http';
import { ContractServer, loadSpec, type ContractAnswer, type ContractRequest } from './contract-server.js';

export interface BitbucketContract {
  server: ContractServer;
  /** The current status per `${commit} ${key}`, as posted. */
  statuses: Map<string, Record<string, unknown>>;
  apiUrl: string;
}

/** The credential a request must carry: `Bearer <token>`, or Basic for `user:password`. */
function authorizedFor(token: string) {
  const expected = token.includes(':') ? `Basic ${Buffer.from(token).toString('base64')}` : `Bearer ${token}`;
  return (headers: IncomingHttpHeaders) => headers.authorization === expected;
}

export async function startBitbucketCloudContract(opts: { token: string; workspace: string; repo: string }): Promise<BitbucketContract> {
  const statuses = new Map<string, Record<string, unknown>>();
  const known = (req: ContractRequest) => req.params.workspace === opts.workspace && req.params.repo_slug === opts.repo;
  const notFound = (what: string): ContractAnswer => ({ status: 404, body: { type: 'error', error: { message: `${what} not found` } } });

  const create = (req: ContractRequest): ContractAnswer => {
    if (!known(req)) return notFound('Repository');
    const body = req.body as Record<string, unknown>;
    const now = new Date().toISOString();
    const previous = statuses.get(`${req.params.commit} ${String(body.key)}`);
    const status = { type: 'build', ...body, created_on: (previous?.created_on as string | undefined) ?? now, updated_on: now };
    statuses.set(`${req.params.commit} ${String(body.key)}`, status);
    return { status: 201, body: status };
  };
  const get = (req: ContractRequest): ContractAnswer => {
    if (!known(req)) return notFound('Repository');
    const status = statuses.get(`${req.params.commit} ${req.params.key}`);
    return status ? { status: 200, body: status } : notFound('Build status');
  };

  const server = await ContractServer.start({
    forge: 'Bitbucket Cloud',
    spec: loadSpec('bitbucket-cloud'),
    authorized: authorizedFor(opts.token),
    unauthorized: { status: 401, body: { type: 'error', error: { message: 'Access token expired or invalid' } } },
    operations: { createCommitBuildStatus: create, getCommitBuildStatus: get },
  });
  return { server, statuses, apiUrl: server.url('/2.0') };
}

export async function startBitbucketDataCenterContract(opts: {
  token: string;
  projectKey: string;
  repo: string;
}): Promise<BitbucketContract> {
  const statuses = new Map<string, Record<string, unknown>>();
  const known = (req: ContractRequest) => req.params.projectKey === opts.projectKey && req.params.repositorySlug === opts.repo;
  const notFound = (message: string): ContractAnswer => ({
    status: 404,
    body: { errors: [{ context: null, message, exceptionName: 'com.atlassian.bitbucket.NoSuchEntityException' }] },
  });

  const add = (req: ContractRequest): ContractAnswer => {
    if (!known(req)) return notFound(`Repository ${opts.projectKey}/${req.params.repositorySlug} does not exist.`);
    const body = req.body as Record<string, unknown>;
    const key = `${req.params.commitId} ${String(body.key)}`;
    const now = Date.now();
    statuses.set(key, { ...body, createdDate: (statuses.get(key)?.createdDate as number | undefined) ?? now, updatedDate: now });
    return { status: 204 };
  };
  const get = (req: ContractRequest): ContractAnswer => {
    if (!known(req)) return notFound(`Repository ${opts.projectKey}/${req.params.repositorySlug} does not exist.`);
    const status = statuses.get(`${req.params.commitId} ${req.query.key}`);
    return status ? { status: 200, body: status } : notFound(`No build status with key ${req.query.key} for this commit.`);
  };

  const server = await ContractServer.start({
    forge: 'Bitbucket Data Center',
    spec: loadSpec('bitbucket-data-center'),
    authorized: authorizedFor(opts.token),
    unauthorized: {
      status: 401,
      body: {
        errors: [
          {
            context: null,
            message: 'Authentication failed. Please check your credentials and try again.',
            exceptionName: 'com.atlassian.bitbucket.auth.IncorrectPasswordAuthenticationException',
          },
        ],
      },
    },
    operations: { addBuildStatus: add, getBuildStatus: get },
  });
  return { server, statuses, apiUrl: server.url('/rest') };
}
