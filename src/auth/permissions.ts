// Who may call what: the one table of every route's permission, and what each permission asks of
// the caller. The route layer (src/server/http.ts) refuses to register a route missing here, so a
// new endpoint cannot ship without a decision about who may use it; test/auth/permissions.test.ts
// walks every route with every kind of caller against this table.
import { ROLES, type Role, type Scope } from '../api/index.js';

// Roles and a token's scopes are part of the API (src/api): members and tokens are listed with them.
export { ROLES, SCOPES, type Role, type Scope } from '../api/index.js';

export function roleAtLeast(role: Role | null, least: Role): boolean {
  return role !== null && ROLES.indexOf(role) >= ROLES.indexOf(least);
}

/** Who a permission is for. Instance admins pass every `user`, `admin` and `member` rule. */
export type Rule =
  /** Anyone, signed in or not (health, webhooks that carry their own signature, logging in). */
  | { who: 'anyone' }
  /** Any signed-in user; the handler limits what it shows or changes to the caller's own. */
  | { who: 'user' }
  | { who: 'admin'; registrationToken?: true }
  /** The agent protocol: agent tokens only. */
  | { who: 'agent' }
  /** A role on the route's repository; `jobToken`: a running job of that repository may too. */
  | { who: 'member'; role: Role; jobToken?: true };

const member = (role: Role, jobToken?: true): Rule => (jobToken ? { who: 'member', role, jobToken } : { who: 'member', role });
const ANYONE: Rule = { who: 'anyone' };
const USER: Rule = { who: 'user' };
const ADMIN: Rule = { who: 'admin' };
const AGENT: Rule = { who: 'agent' };

/**
 * Every permission. Its name is also the audit log's action for the routes that need it, so each
 * route that changes something has a permission of its own.
 */
export const PERMISSIONS = {
  public: ANYONE,
  'webhook.receive': ANYONE,
  'session.create': ANYONE,
  /** A device (the CLI) asks for a code to be approved in a browser, then polls for its token. */
  'device_login.start': ANYONE,
  'device_login.token': ANYONE,
  /** Approving or denying a device's code: the device gets a token of the approving user. */
  'device_login.approve': USER,
  'session.read': USER,
  'session.delete': USER,
  'user.create': ADMIN,
  'user.list': ADMIN,
  'user.update': ADMIN,
  'user.delete': ADMIN,
  /** Own password (with the current one), or anyone's for an admin: checked by the handler. */
  'user.password': USER,
  'token.create': USER,
  'token.list': USER,
  'token.revoke': USER,
  'audit.read': ADMIN,
  'repo.create': ADMIN,
  /** Lists only the repositories the caller is a member of (all for an admin). */
  'repo.list': USER,
  'repo.read': member('guest', true),
  /** A public repository's badges: anyone; a private one's: its readers (repo.read), checked by the handler. */
  'badge.read': ANYONE,
  'repo.update': member('maintainer'),
  'repo.delete': member('owner'),
  'member.read': member('guest'),
  /** Granting or taking away `owner`, or changing an owner, needs owner: checked by the handler. */
  'member.set': member('maintainer'),
  'member.remove': member('maintainer'),
  'protected_branch.read': member('guest'),
  'protected_branch.create': member('maintainer'),
  'protected_branch.delete': member('maintainer'),
  'variable.read': member('maintainer'),
  'variable.write': member('maintainer'),
  'variable.delete': member('maintainer'),
  /** A repository's notification subscriptions: their targets (a Slack webhook URL) are credentials too. */
  'notification.read': member('maintainer'),
  'notification.create': member('maintainer'),
  /** A repository's subscription needs maintainer there, a user's own is theirs (or an admin's): checked by the handler. */
  'notification.delete': USER,
  /** Each user's own subscriptions, over the repositories they can read: the handler limits them. */
  'user_notification.read': USER,
  'user_notification.create': USER,
  /** On a protected branch, the branch's allowed role: checked by the handler. */
  'pipeline.create': member('developer'),
  'pipeline.read': member('guest', true),
  /** Recent pipelines of every repository the caller may see: the handler limits the list. */
  'pipeline.list': USER,
  /** On a protected branch, the branch's allowed role: checked by the handler. */
  'pipeline.cancel': member('developer'),
  /** As each job's retry (job.retry): protected branches and environments checked by the handler. */
  'pipeline.retry': member('developer'),
  /** Running a fork's merge request pipeline, which waits for it (the repository's forkPullRequests). */
  'pipeline.approve': member('maintainer'),
  /** Pipeline schedules: maintainers manage them; each runs with its owner's permissions (src/schedules). */
  'schedule.read': member('reporter'),
  'schedule.create': member('maintainer'),
  'schedule.update': member('maintainer'),
  'schedule.delete': member('maintainer'),
  /** Running a schedule now; on a protected branch, the branch's allowed role: checked by the handler. */
  'schedule.run': member('developer'),
  'job.read': member('guest', true),
  'log.read': member('reporter'),
  'artifact.read': member('reporter', true),
  /** What `tandem exec --from-job` needs (non-secret variables, dependency artifacts): what a reporter reads in logs and artifacts. */
  'job.reproduce': member('reporter'),
  /** Jobs of protected environments need maintainer, of protected branches the branch's role (cancel too): checked by the handler. */
  'job.cancel': member('developer'),
  'job.retry': member('developer'),
  'job.play': member('developer'),
  'environment.read': member('reporter'),
  'environment.update': member('maintainer'),
  /** A protected environment needs maintainer (`deployment.approve`): checked by the handler. */
  'environment.rollback': member('developer'),
  'release.read': member('reporter'),
  'release.promote': member('developer'),
  'release.abort': member('developer'),
  /** Approving a deploy to a protected environment; required by handlers on top of the route's permission. */
  'deployment.approve': member('maintainer'),
  /** Each alert's repository needs `environment.rollback`: checked by the handler. */
  'alert.receive': USER,
  /** Tandem's own SLOs and their error budgets. */
  'slo.read': USER,
  /** Alerts (Tandem's own and SLO alerts), their silences and the deploy freezes of spent budgets. */
  'alert.read': USER,
  'silence.read': USER,
  'silence.create': ADMIN,
  'silence.delete': ADMIN,
  'freeze.read': USER,
  /** Backups and disaster-recovery drills: their destinations name the infrastructure. */
  'backup.read': ADMIN,
  /** Cluster health (replicas, agents, database, newest backup and drill): what any user waiting on a pipeline may want to know; backup ids are for admins, checked by the handler. */
  'cluster.read': USER,
  'dora.read': member('reporter'),
  'agent.register': { who: 'admin', registrationToken: true },
  'agent.list': ADMIN,
  'agent.delete': ADMIN,
  /** Tags decide which jobs (and so which secrets) an agent receives. */
  'agent.update': ADMIN,
  'agent.protocol': AGENT,
} as const satisfies Record<string, Rule>;

export type Permission = keyof typeof PERMISSIONS;

export function ruleOf(permission: Permission): Rule {
  return PERMISSIONS[permission];
}

/** Every route, `METHOD url` as registered, and the permission it needs. */
export const ROUTE_PERMISSIONS: Readonly<Record<string, Permission>> = {
  'GET /': 'public',
  'GET /assets/*': 'public',
  'GET /*': 'public',
  'GET /healthz': 'public',
  'GET /readyz': 'public',
  'GET /metrics': 'public',
  'GET /api/v1/openapi.json': 'public',
  'GET /.well-known/openid-configuration': 'public',
  'GET /.well-known/jwks.json': 'public',
  'GET /api/v1/slos': 'slo.read',
  'GET /api/v1/alerts': 'alert.read',
  'GET /api/v1/alerts/:id': 'alert.read',
  'GET /api/v1/silences': 'silence.read',
  'POST /api/v1/silences': 'silence.create',
  'DELETE /api/v1/silences/:id': 'silence.delete',
  'GET /api/v1/freezes': 'freeze.read',
  'GET /api/v1/backups': 'backup.read',
  'GET /api/v1/dr/drills': 'backup.read',
  'GET /api/v1/cluster': 'cluster.read',
  'GET /api/v1/repos/:name/dora': 'dora.read',
  'GET /api/v1/repos/:name/tests/flaky': 'log.read',
  'GET /api/v1/repos/:name/tests/history': 'log.read',

  'POST /api/v1/session': 'session.create',
  'GET /api/v1/login/providers': 'public',
  'GET /api/v1/login/oidc': 'session.create',
  'GET /api/v1/login/oidc/callback': 'session.create',
  'POST /api/v1/login/ldap': 'session.create',
  'GET /api/v1/login/saml': 'session.create',
  'POST /api/v1/login/saml/acs': 'session.create',
  'GET /login': 'public',
  'POST /login': 'session.create',
  'POST /api/v1/login/device': 'device_login.start',
  'POST /api/v1/login/device/token': 'device_login.token',
  'GET /login/device': 'public',
  'POST /login/device': 'device_login.approve',
  'GET /api/v1/session': 'session.read',
  'DELETE /api/v1/session': 'session.delete',
  'POST /api/v1/users': 'user.create',
  'GET /api/v1/users': 'user.list',
  'PATCH /api/v1/users/:username': 'user.update',
  'DELETE /api/v1/users/:username': 'user.delete',
  'PUT /api/v1/users/:username/password': 'user.password',
  'POST /api/v1/tokens': 'token.create',
  'GET /api/v1/tokens': 'token.list',
  'DELETE /api/v1/tokens/:id': 'token.revoke',
  'GET /api/v1/audit': 'audit.read',

  'POST /api/v1/repos': 'repo.create',
  'GET /api/v1/repos': 'repo.list',
  'GET /api/v1/repos/:name': 'repo.read',
  'PATCH /api/v1/repos/:name': 'repo.update',
  'DELETE /api/v1/repos/:name': 'repo.delete',
  'GET /api/v1/repos/:name/members': 'member.read',
  'PUT /api/v1/repos/:name/members/:username': 'member.set',
  'DELETE /api/v1/repos/:name/members/:username': 'member.remove',
  'GET /api/v1/repos/:name/protected-branches': 'protected_branch.read',
  'POST /api/v1/repos/:name/protected-branches': 'protected_branch.create',
  'DELETE /api/v1/repos/:name/protected-branches/:id': 'protected_branch.delete',
  'GET /api/v1/repos/:name/variables': 'variable.read',
  'GET /api/v1/repos/:name/variables/:key': 'variable.read',
  'POST /api/v1/repos/:name/variables': 'variable.write',
  'DELETE /api/v1/repos/:name/variables/:key': 'variable.delete',
  'GET /api/v1/repos/:name/notifications': 'notification.read',
  'POST /api/v1/repos/:name/notifications': 'notification.create',
  'DELETE /api/v1/notifications/:id': 'notification.delete',
  'GET /api/v1/user/notifications': 'user_notification.read',
  'POST /api/v1/user/notifications': 'user_notification.create',
  'POST /api/v1/repos/:name/pipelines': 'pipeline.create',
  'GET /api/v1/repos/:name/pipelines': 'pipeline.read',
  'GET /api/v1/repos/:name/badges/pipeline.svg': 'badge.read',
  'GET /api/v1/repos/:name/badges/coverage.svg': 'badge.read',
  'GET /api/v1/repos/:name/coverage': 'pipeline.read',
  'GET /api/v1/pipelines/:id/coverage': 'pipeline.read',
  'GET /api/v1/pipelines/:id/images': 'pipeline.read',
  'GET /api/v1/jobs/:id/coverage': 'job.read',

  'POST /api/v1/repos/:name/schedules': 'schedule.create',
  'GET /api/v1/repos/:name/schedules': 'schedule.read',
  'GET /api/v1/schedules/:id': 'schedule.read',
  'PATCH /api/v1/schedules/:id': 'schedule.update',
  'POST /api/v1/schedules/:id/run': 'schedule.run',
  'DELETE /api/v1/schedules/:id': 'schedule.delete',

  'GET /api/v1/pipelines': 'pipeline.list',
  'GET /api/v1/pipelines/:id': 'pipeline.read',
  'POST /api/v1/pipelines/:id/cancel': 'pipeline.cancel',
  'POST /api/v1/pipelines/:id/retry': 'pipeline.retry',
  'POST /api/v1/pipelines/:id/approve': 'pipeline.approve',
  'GET /api/v1/pipelines/:id/events': 'pipeline.read',
  'GET /api/v1/pipelines/:id/artifacts': 'artifact.read',
  'GET /api/v1/pipelines/:id/tests': 'log.read',
  'GET /api/v1/jobs/:id': 'job.read',
  'GET /api/v1/jobs/:id/log': 'log.read',
  'GET /api/v1/jobs/:id/tests': 'log.read',
  'GET /api/v1/jobs/:id/reproduce': 'job.reproduce',
  'GET /api/v1/jobs/:id/log/stream': 'log.read',
  'POST /api/v1/jobs/:id/cancel': 'job.cancel',
  'POST /api/v1/jobs/:id/retry': 'job.retry',
  'POST /api/v1/jobs/:id/play': 'job.play',
  'GET /api/v1/jobs/:id/artifact-files': 'artifact.read',
  'GET /api/v1/jobs/:id/artifacts': 'artifact.read',
  'GET /api/v1/jobs/:id/artifacts/*': 'artifact.read',

  'GET /api/v1/repos/:name/environments': 'environment.read',
  'PUT /api/v1/repos/:name/environments/:env': 'environment.update',
  'GET /api/v1/repos/:name/environments/:env/manual-jobs': 'environment.read',
  'GET /api/v1/repos/:name/environments/:env/releases': 'release.read',
  'GET /api/v1/repos/:name/environments/:env/releases/:id': 'release.read',
  'POST /api/v1/repos/:name/environments/:env/rollback': 'environment.rollback',
  'POST /api/v1/repos/:name/environments/:env/releases/:id/promote': 'release.promote',
  'POST /api/v1/repos/:name/environments/:env/releases/:id/abort': 'release.abort',

  'POST /api/v1/hooks/github/:repo': 'webhook.receive',
  'POST /api/v1/hooks/gitlab/:repo': 'webhook.receive',
  'POST /api/v1/hooks/gitea/:repo': 'webhook.receive',
  'POST /api/v1/hooks/bitbucket/:repo': 'webhook.receive',
  'POST /api/v1/hooks/alertmanager': 'alert.receive',

  'POST /api/v1/agents': 'agent.register',
  'GET /api/v1/agents': 'agent.list',
  'DELETE /api/v1/agents/:id': 'agent.delete',
  'PATCH /api/v1/agents/:id': 'agent.update',
  'PUT /api/v1/agent/self': 'agent.protocol',
  'POST /api/v1/agent/jobs/request': 'agent.protocol',
  'GET /api/v1/agent/presence': 'agent.protocol',
  'POST /api/v1/agent/jobs/:id/heartbeat': 'agent.protocol',
  'POST /api/v1/agent/jobs/:id/log': 'agent.protocol',
  'POST /api/v1/agent/jobs/:id/complete': 'agent.protocol',
  'POST /api/v1/agent/jobs/:id/abandon': 'agent.protocol',
  'POST /api/v1/agent/blobs/missing': 'agent.protocol',
  'PUT /api/v1/agent/blobs/:digest': 'agent.protocol',
  'GET /api/v1/agent/blobs/:digest': 'agent.protocol',
  'POST /api/v1/agent/jobs/:id/artifacts': 'agent.protocol',
  'POST /api/v1/agent/jobs/:id/dotenv': 'agent.protocol',
  'PUT /api/v1/agent/jobs/:id/coverage-reports': 'agent.protocol',
  'POST /api/v1/agent/jobs/:id/reports/junit': 'agent.protocol',
  'GET /api/v1/agent/jobs/:id/caches/:key': 'agent.protocol',
  'PUT /api/v1/agent/jobs/:id/caches/:key': 'agent.protocol',
  'POST /api/v1/agent/jobs/:id/release': 'agent.protocol',
  'POST /api/v1/agent/jobs/:id/release/status': 'agent.protocol',
  'POST /api/v1/agent/jobs/:id/release/decision': 'agent.protocol',
};

/** How a route names the repository its `member` permission is about. */
export type RepoLocator =
  { by: 'name'; param: string } | { by: 'pipeline'; param: string } | { by: 'job'; param: string } | { by: 'schedule'; param: string };

const LOCATORS: { prefix: string; locator: RepoLocator }[] = [
  { prefix: '/api/v1/repos/:name', locator: { by: 'name', param: 'name' } },
  { prefix: '/api/v1/pipelines/:id', locator: { by: 'pipeline', param: 'id' } },
  { prefix: '/api/v1/jobs/:id', locator: { by: 'job', param: 'id' } },
  { prefix: '/api/v1/schedules/:id', locator: { by: 'schedule', param: 'id' } },
];

/** The repository of a route's URL, or null for routes about no single repository. */
export function repoLocatorOf(url: string): RepoLocator | null {
  const found = LOCATORS.find((l) => url === l.prefix || url.startsWith(l.prefix + '/'));
  return found?.locator ?? null;
}

export interface RoutePermission {
  permission: Permission;
  rule: Rule;
  repo: RepoLocator | null;
}

/**
 * The permission of a route; throws when the route is missing from the table, or needs a
 * repository role on a URL that names no repository (a mistake the first start must reveal).
 */
export function routePermission(method: string, url: string): RoutePermission {
  const key = `${method} ${url}`;
  const permission = ROUTE_PERMISSIONS[key];
  if (!permission)
    throw new Error(`route ${key} is missing from ROUTE_PERMISSIONS in src/auth/permissions.ts: add it with the permission it needs`);
  const rule = ruleOf(permission);
  const repo = repoLocatorOf(url);
  if (rule.who === 'member' && repo === null)
    throw new Error(`route ${key} needs ${permission}, a repository role, but its URL names no repository`);
  return { permission, rule, repo };
}

/** What the caller is, as far as a decision goes. */
export type Caller =
  { kind: 'anonymous' } | { kind: 'user'; admin: boolean; scopes: readonly Scope[] } | { kind: 'agent' } | { kind: 'job'; repoId: number };

/** The caller's standing in the route's repository (null: the route names none, or the caller is an admin). */
export interface RepoStanding {
  repoId: number;
  repoName: string;
  role: Role | null;
}

export type Decision = { allowed: true } | { allowed: false; status: 401 | 403; message: string };

const ALLOW: Decision = { allowed: true };
const deny = (status: 401 | 403, message: string): Decision => ({ allowed: false, status, message });

/** HEAD is a GET without the body (Fastify answers it with the GET route). */
const isRead = (method: string) => method === 'GET' || method === 'HEAD';

/** Scopes a user's token needs for a permission; reading routes accept `read_api`. */
function scopeAllows(scopes: readonly Scope[], method: string, rule: Rule): boolean {
  if (scopes.includes('api')) return true;
  if (rule.who === 'admin' && rule.registrationToken && scopes.includes('register_agent')) return true;
  return isRead(method) && scopes.includes('read_api');
}

/**
 * The decision for one request. Pure: the caller's identity and its standing in the route's
 * repository are looked up before (src/server/auth.ts).
 */
export function decide(permission: Permission, method: string, caller: Caller, standing: RepoStanding | null): Decision {
  const rule = ruleOf(permission);
  if (rule.who === 'anyone') return ALLOW;
  if (caller.kind === 'anonymous')
    return deny(401, 'authentication required: send a bearer token ("Authorization: Bearer <token>") or sign in with POST /api/v1/session');
  if (rule.who === 'agent')
    return caller.kind === 'agent' ? ALLOW : deny(403, `${permission}: this endpoint is for agents (agent tokens) only`);
  if (caller.kind === 'agent') return deny(403, `missing permission ${permission}: an agent token may only use the agent protocol`);
  if (caller.kind === 'job') {
    if (rule.who === 'member' && rule.jobToken && standing !== null && standing.repoId === caller.repoId && isRead(method)) return ALLOW;
    return deny(
      403,
      `missing permission ${permission}: a job token (CI_JOB_TOKEN) may only read its own repository's pipelines, jobs and artifacts while its job runs`,
    );
  }
  if (!scopeAllows(caller.scopes, method, rule)) {
    return deny(
      403,
      `missing permission ${permission}: the token's scopes (${caller.scopes.join(', ')}) do not allow it (it needs scope api${isRead(method) ? ' or read_api' : ''})`,
    );
  }
  if (caller.admin || rule.who === 'user') return ALLOW;
  if (rule.who === 'admin') return deny(403, `missing permission ${permission}: it needs an instance administrator`);
  if (standing === null) return deny(403, `missing permission ${permission}: no repository to check it on`);
  if (roleAtLeast(standing.role, rule.role)) return ALLOW;
  return deny(
    403,
    `missing permission ${permission}: it needs the ${rule.role} role on repository ${standing.repoName} (you are ${standing.role === null ? 'not a member' : standing.role})`,
  );
}

/** The method of a permission's first route: reads are allowed to `read_api` tokens, changes not. */
function methodOf(permission: Permission): string {
  const route = Object.entries(ROUTE_PERMISSIONS).find(([, p]) => p === permission);
  return route ? route[0].split(' ')[0] : 'POST';
}

/**
 * The repository permissions a caller holds there, by the same decision as the routes': what a
 * client (the web UI) may offer. The server still decides each request.
 */
export function repoPermissionsOf(caller: Caller, standing: RepoStanding): Permission[] {
  return (Object.keys(PERMISSIONS) as Permission[]).filter(
    (p) => PERMISSIONS[p].who === 'member' && decide(p, methodOf(p), caller, standing).allowed,
  );
}
