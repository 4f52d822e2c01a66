// A contract server standing in for GitLab (which cannot run here): the commit status operations of
// GitLab's OpenAPI description (specs/gitlab.json), answered as GitLab does, including its status
// state machine: a status goes created → pending → running → finished, a finished one is followed by
// a new status of the same name, and a transition GitLab's state machine has no edge for is refused
// with 400 "Cannot transition status via :run from :running".
import type { IncomingHttpHeaders } from 'node:http';
import { ContractServer, loadSpec, type ContractAnswer, type ContractRequest } from './contract-server.js';

export interface GitLabStatus {
  id: number;
  sha: string;
  ref: string;
  status: string;
  name: string;
  target_url: string;
  description: string;
  created_at: string;
  allow_failure: boolean;
}

/** GitLab's event per requested state, and the states each event leaves from (GenericCommitStatus). */
const EVENTS: Record<string, { event: string; from: string[] }> = {
  pending: { event: 'enqueue', from: ['created'] },
  running: { event: 'run', from: ['pending'] },
  success: { event: 'success', from: ['created', 'pending', 'running'] },
  failed: { event: 'drop', from: ['created', 'pending', 'running'] },
  canceled: { event: 'cancel', from: ['created', 'pending', 'running'] },
  skipped: { event: 'skip', from: ['created', 'pending'] },
};

export interface GitLabContract {
  server: ContractServer;
  /** Every status row, in creation order. */
  statuses: GitLabStatus[];
  /** The API root a connection names: http://127.0.0.1:port/api/v4. */
  apiUrl: string;
}

export async function startGitLabContract(opts: {
  token: string;
  projectId: number;
  projectPath: string;
  defaultBranch?: string;
}): Promise<GitLabContract> {
  const statuses: GitLabStatus[] = [];
  const defaultBranch = opts.defaultBranch ?? 'main';
  const known = (id: string) => id === String(opts.projectId) || id === opts.projectPath;
  const notFound: ContractAnswer = { status: 404, body: { message: '404 Project Not Found' } };

  const post = (req: ContractRequest): ContractAnswer => {
    if (!known(req.params.id)) return notFound;
    const body = req.body as { state: string; ref?: string; name?: string; context?: string; target_url?: string; description?: string };
    const name = body.name ?? body.context ?? 'default';
    const ref = body.ref ?? defaultBranch;
    // An active status of this name is moved on; a finished one is followed by a new one.
    let status = statuses.find(
      (s) => s.sha === req.params.sha && s.name === name && s.ref === ref && ['pending', 'running'].includes(s.status),
    );
    if (!status) {
      status = {
        id: statuses.length + 1,
        sha: req.params.sha,
        ref,
        status: 'created',
        name,
        target_url: body.target_url ?? '',
        description: body.description ?? '',
        created_at: new Date().toISOString(),
        allow_failure: false,
      };
      statuses.push(status);
      // A new status asked to run is enqueued first, as GitLab does.
      if (body.state === 'running') status.status = 'pending';
    }
    const { event, from } = EVENTS[body.state];
    if (!from.includes(status.status)) {
      return {
        status: 400,
        body: {
          message: `Cannot transition status via :${event} from :${status.status} (Reason(s): Status cannot transition via "${event}")`,
        },
      };
    }
    status.status = body.state;
    if (body.target_url !== undefined) status.target_url = body.target_url;
    if (body.description !== undefined) status.description = body.description;
    return { status: 200, body: status };
  };

  const list = (req: ContractRequest): ContractAnswer => {
    if (!known(req.params.id)) return notFound;
    const ref = req.query.ref ?? defaultBranch;
    let found = statuses.filter(
      (s) => s.sha === req.params.sha && s.ref === ref && (req.query.name === undefined || s.name === req.query.name),
    );
    // Without all=true GitLab shows the latest status of each name.
    if (req.query.all !== 'true') found = found.filter((s) => !found.some((o) => o.name === s.name && o.id > s.id));
    return { status: 200, body: found };
  };

  const server = await ContractServer.start({
    forge: 'GitLab',
    spec: loadSpec('gitlab'),
    authorized: (headers: IncomingHttpHeaders) => headers['private-token'] === opts.token,
    unauthorized: { status: 401, body: { message: '401 Unauthorized' } },
    operations: { postApiV4ProjectsIdStatusesSha: post, getApiV4ProjectsIdRepositoryCommitsShaStatuses: list },
  });
  return { server, statuses, apiUrl: server.url('/api/v4') };
}
