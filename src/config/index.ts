// One configuration model for servers and agents: defaults < tandem.yml < TANDEM_* environment < flags.
// Every key has an environment name derived from it (dataDir -> TANDEM_DATA_DIR) so the three
// sources can never disagree about what a key is called.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseDocument, LineCounter } from 'yaml';
import { z } from 'zod';
import { alertingSchema, smtpSchema } from '../monitor/index.js';
import { Cron } from 'croner';
import { sloListSchema } from '../monitor/index.js';
import { ROLES } from '../auth/index.js';
import { ldapConfigSchema, oidcConfigSchema, samlConfigSchema } from '../auth/index.js';

function cronProblem(pattern: string): string | null {
  try {
    new Cron(pattern, { paused: true }).stop();
    return null;
  } catch (err) {
    return (err as Error).message;
  }
}

const port = z.coerce.number({ error: 'expected a port number from 0 to 65535 (0 picks a free one)' }).int().min(0).max(65535);
const positiveInt = z.coerce.number({ error: 'expected a whole number' }).int().positive();
const list = z.preprocess(
  (v) =>
    typeof v === 'string'
      ? v
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean)
      : v,
  z.array(z.string()),
);

/** Structured settings given as JSON in a TANDEM_* variable; a string that is not JSON is left for the schema to refuse. */
function fromJson(value: unknown): unknown {
  if (typeof value !== 'string') return value;
  try {
    return JSON.parse(value) as unknown;
  } catch {
    return value;
  }
}

/**
 * A single sign-on section (a mapping in tandem.yml, JSON in TANDEM_OIDC...) whose values named in
 * `fromFiles` may instead come from a file, `<key>File`, read at start: secrets stay out of the
 * configuration file and the environment. A JSON parse error is not quoted, since the text holds secrets.
 */
function ssoSection<T extends z.ZodType>(schema: T, fromFiles: readonly string[]) {
  return z.preprocess((raw, ctx) => {
    if (typeof raw === 'string' && fromJson(raw) === raw) {
      ctx.addIssue({ code: 'custom', message: 'expected a mapping (in a TANDEM_* variable: a JSON object), and this is not valid JSON' });
      return z.NEVER;
    }
    const value = fromJson(raw);
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return value;
    const section = { ...(value as Record<string, unknown>) };
    for (const key of fromFiles) {
      const fileKey = `${key}File`;
      const file = section[fileKey];
      if (file === undefined) continue;
      delete section[fileKey];
      if (section[key] !== undefined) {
        ctx.addIssue({ code: 'custom', message: `give ${key} or ${fileKey}, not both`, path: [fileKey] });
        continue;
      }
      if (typeof file !== 'string' || file.trim() === '') {
        ctx.addIssue({ code: 'custom', message: 'expected the path of a file', path: [fileKey] });
        continue;
      }
      try {
        const text = readFileSync(resolve(file), 'utf8').trim();
        if (text === '') ctx.addIssue({ code: 'custom', message: `${file} is empty`, path: [fileKey] });
        else section[key] = text;
      } catch (err) {
        ctx.addIssue({
          code: 'custom',
          message: `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
          path: [fileKey],
        });
      }
    }
    return section;
  }, schema.optional());
}

/** Command-line flags for a tool: a list, or one string split at whitespace (`--runtime runc`). */
const flags = z.preprocess((v) => (typeof v === 'string' ? v.split(/\s+/).filter(Boolean) : v), z.array(z.string()));

export const configSchema = z
  .object({
    dataDir: z.string().default('.tandem'),
    port: port.default(8080),
    listen: z.string().default('127.0.0.1'),
    /** A SQLite path or a postgresql:// URL; default `<dataDir>/tandem.db`. */
    databaseUrl: z.string().optional(),
    /** A directory or `s3://bucket/prefix[?endpoint=…&region=…]`; default `<dataDir>/artifacts`. */
    artifactsUrl: z.string().optional(),
    /** A second artifact store (directory or s3://) that receives every blob too, for disaster recovery. */
    artifactsReplicaUrl: z.string().optional(),
    /** When the leader makes a backup (a cron expression, e.g. `0 3 * * *`); unset: no scheduled backups. */
    backupSchedule: z
      .string()
      .optional()
      .superRefine((pattern, ctx) => {
        const problem = pattern === undefined ? null : cronProblem(pattern);
        if (problem) ctx.addIssue({ code: 'custom', message: `not a cron expression: ${problem}` });
      }),
    /** Where scheduled backups go: a directory or `s3://bucket/prefix`. */
    backupTo: z.string().optional(),
    /** Scheduled backups kept at `backupTo`; older ones (and blobs only they use) are deleted. */
    backupKeep: positiveInt.default(7),
    /** The key (base64 of 32 bytes) that encrypts the master key, admin token and configuration into backups. */
    backupKeyFile: z.string().optional(),
    /** The URL agents and users reach this server by; default http://listen:port. */
    externalUrl: z.string().optional(),
    logLevel: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
    /** Log lines: pretty on a terminal and JSON otherwise (auto), or always one of them. */
    logFormat: z.enum(['auto', 'json', 'pretty']).default('auto'),
    /** Job timeout when the pipeline file names none (GitLab's project default is one hour). */
    jobTimeoutSeconds: positiveInt.default(3600),
    /** Most jobs one pipeline may define (parallel and matrix jobs counted); GitLab's is configurable too. */
    maxPipelineJobs: positiveInt.default(2000),
    /** Lease length for claimed jobs; agents heartbeat three times per lease. */
    leaseSeconds: positiveInt.default(15),
    /**
     * A killed agent's presence stream breaks at once; its jobs are freed this long after, unless it
     * reconnects (a load balancer restart) first. A frozen or unreachable agent waits for its leases.
     */
    agentDisconnectGraceSeconds: positiveInt.default(3),
    /**
     * How long a replica's claim on an outbox message (a forge status, a notification) lasts: when a
     * replica dies while sending, another sends the message this long after. It must outlast the
     * slowest attempt: a forge request gets an eighth of it, at most 10 s.
     */
    outboxClaimSeconds: positiveInt.default(60),
    /** Tries for a job whose agent is lost, whatever the file's `retry` says. */
    maxSystemAttempts: positiveInt.default(2),
    /** An Alertmanager alert for an environment rolls back a deploy that went live at most this long ago. */
    alertRollbackWindowSeconds: positiveInt.default(900),
    /**
     * The master key (base64 of 32 bytes) that wraps the data keys of secrets at rest. Meant for
     * TANDEM_MASTER_KEY; a file (masterKeyFile) keeps it out of the environment of child processes.
     */
    masterKey: z.string().optional(),
    /** A file holding the master key; default `<dataDir>/master.key`, generated on first start. */
    masterKeyFile: z.string().optional(),
    /** Job ID tokens (`id_tokens:`) expire this long after the job starts. */
    idTokenLifetimeSeconds: positiveInt.default(600),
    /** A new key signs the tokens Tandem issues after this many days; the old one stays published as long again. */
    signingKeyRotationDays: positiveInt.default(30),
    /** SLOs of deployed services (PromQL), beside Tandem's built-in ones: docs/slo.md. */
    slos: sloListSchema.default([]),
    // Authentication.
    /** The first admin's password, used once when the user `admin` is created at first start. */
    adminPassword: z.string().optional(),
    passwordMinLength: positiveInt.max(128).default(12),
    /** Failed sign-ins within the window that lock an account, and an address (counted across replicas). */
    loginMaxFailures: positiveInt.default(5),
    loginMaxFailuresPerAddress: positiveInt.default(50),
    loginFailureWindowSeconds: positiveInt.default(900),
    loginLockoutSeconds: positiveInt.default(900),
    /** A session ends this long after sign-in, or after this long without a request. */
    sessionMaxAgeSeconds: positiveInt.default(7 * 86_400),
    sessionIdleSeconds: positiveInt.default(86_400),
    /** The session cookie's Secure attribute; auto: when externalUrl is https. */
    sessionCookieSecure: z.enum(['auto', 'true', 'false']).default('auto'),
    sessionCookieSameSite: z.enum(['strict', 'lax']).default('lax'),
    /** Addresses or CIDRs of load balancers whose X-Forwarded-For gives the client address. */
    trustedProxies: list.default([]),
    /**
     * Directories under which maintainers may point a repository at a local path or file:// URL.
     * Instance admins may use any path; nobody else any other (they would read the server's files).
     */
    allowedLocalRepoPaths: list.default([]),
    /** Single sign-on with OpenID Connect (TANDEM_OIDC as JSON); the client secret may come from clientSecretFile. */
    oidc: ssoSection(oidcConfigSchema, ['clientSecret']),
    /** Sign-in with an LDAP directory (TANDEM_LDAP as JSON); the service account's password may come from bindPasswordFile. */
    ldap: ssoSection(ldapConfigSchema, ['bindPassword']),
    /** Single sign-on with SAML 2.0 (TANDEM_SAML as JSON); the identity provider's certificate may come from idpCertFile. */
    saml: ssoSection(samlConfigSchema, ['idpCert']),
    /** Roles from an identity provider's groups (OIDC, LDAP, SAML), applied at each sign-in. */
    groupRoles: z
      .preprocess(
        fromJson,
        z.array(
          z
            .object({
              group: z.string().min(1),
              provider: z.string().min(1).optional(),
              admin: z.boolean().optional(),
              repo: z.string().min(1).optional(),
              role: z.enum(ROLES).optional(),
            })
            .strict()
            .refine((m) => m.admin === true || (m.repo !== undefined && m.role !== undefined), 'give admin: true, or repo and role'),
          { error: 'expected a list of {group, provider?, admin?, repo?, role?} (as JSON in TANDEM_GROUP_ROLES)' },
        ),
      )
      .default([]),
    /**
     * A GitLab-compatible forge that include:project and include:component read projects from when
     * no registered repository has their path, and include:template reads templates from
     * (TANDEM_FORGE as JSON); the token may come from tokenFile.
     */
    forge: ssoSection(z.object({ url: z.string().url(), token: z.string().min(1).optional() }).strict(), ['token']),
    /** include:remote and include:template: the time limit of one fetch. */
    includeFetchTimeoutSeconds: positiveInt.default(10),
    /** Remote files, templates and the forge's refs are reused this long (a compile fetches each at most once). */
    includeCacheSeconds: positiveInt.default(300),
    /** Prometheus's base URL: the alerting duty evaluates the declared SLOs with instant queries there. */
    prometheusUrl: z.string().url().optional(),
    /**
     * Divides every SLO window (5m ... 30d) and the SLI count buckets: 1 in production, the workbook's
     * windows. 60 makes an hour last a minute, for demonstrations and tests of alerting (docs/slo.md).
     */
    sloWindowScale: z.coerce.number({ error: 'expected a number' }).min(1).default(1),
    /** Alerting: notifiers, routes by severity, evaluation interval, thresholds (docs/slo.md, docs/operations.md). */
    alerting: alertingSchema.prefault({}),
    /** The SMTP server that pipeline notification emails go out through (TANDEM_SMTP as JSON); unset: email subscriptions fail. */
    smtp: smtpSchema.optional(),
    maxArtifactBytes: positiveInt.default(1024 * 1024 * 1024),
    /** UTF-8 bytes of log kept per job (GitLab's ci_jobs_trace_size_limit is 100 MB); the rest is dropped with a notice. */
    maxJobLogBytes: positiveInt.default(100 * 1024 * 1024),
    /** A request body of the JSON API (and of anonymous callers) at most this big; routes that need more declare it. */
    maxRequestBytes: positiveInt.default(64 * 1024),
    /** Bodies of authenticated bulk routes: the agent protocol (log batches, artifact manifests), variables, alert webhooks. */
    maxBulkRequestBytes: positiveInt.default(16 * 1024 * 1024),
    /** Forge webhook bodies (GitHub sends up to 25 MB). */
    maxWebhookBytes: positiveInt.default(25 * 1024 * 1024),
    /** A request's headers must arrive within this time, and a buffered body within bodyTimeoutSeconds. */
    headersTimeoutSeconds: positiveInt.default(10),
    /**
     * Time to receive a whole buffered request body (JSON, forms, webhooks); a streamed upload (an
     * artifact) may take longer but is cut when no byte arrives for this long. The response may last
     * longer (long-polls, SSE).
     */
    bodyTimeoutSeconds: positiveInt.default(30),
    /** An idle keep-alive connection is closed after this long (above a load balancer's idle timeout). */
    keepAliveTimeoutSeconds: positiveInt.default(72),
    /** Open connections of one client address (trusted proxies are not counted), and in total. */
    maxConnectionsPerAddress: positiveInt.default(512),
    maxConnections: positiveInt.default(10_000),
    /** Open event streams (live logs, pipeline events) of one user or job, and of this replica. */
    maxEventStreamsPerPrincipal: positiveInt.default(32),
    maxEventStreams: positiveInt.default(2_000),
    // Agent settings.
    server: list.default([]),
    token: z.string().optional(),
    concurrency: positiveInt.default(2),
    workDir: z.string().optional(),
    tags: list.default([]),
    /**
     * How jobs without an image run; `container` also makes a container engine mandatory. `auto`
     * (the default) takes the sandbox where bubblewrap works and warns when it falls back to the shell.
     */
    executor: z.enum(['shell', 'sandbox', 'auto', 'container']).default('auto'),
    /** Runs jobs that name an image: `auto` finds podman, else docker with a daemon; `none` runs them on the host. */
    containerEngine: z.enum(['auto', 'podman', 'docker', 'none']).default('auto'),
    /** Flags before every engine command, e.g. `--runtime runc`. */
    containerEngineArgs: flags.default([]),
    /** Flags for every container the agent starts, e.g. `--ulimit nofile=1024:1024`. */
    containerRunArgs: flags.default([]),
    /** The image of jobs that name none (GitLab's runner `image`); unset, they run on the host. */
    defaultImage: z.string().optional(),
    name: z.string().optional(),
  })
  .strict();

export type TandemConfig = z.infer<typeof configSchema>;
/** Settings that may hold passwords, keys or tokens: an error names where they came from, never their value. */
const SECRET_KEYS: ReadonlySet<string> = new Set([
  'adminPassword',
  'token',
  'oidc',
  'ldap',
  'saml',
  'masterKey',
  'alerting',
  'forge',
  'smtp',
]);
type ConfigKey = keyof TandemConfig;
const configKeys = Object.keys(configSchema.shape) as ConfigKey[];

export function envNameFor(key: string): string {
  return 'TANDEM_' + key.replace(/[A-Z]/g, (c) => '_' + c).toUpperCase();
}

export class ConfigError extends Error {}

export function readConfigFile(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`${path}: cannot read configuration file: ${(err as Error).message}`);
  }
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const e = doc.errors[0];
    const pos = lineCounter.linePos(e.pos[0]);
    throw new ConfigError(`${path}:${pos.line}:${pos.col}: ${e.message.split('\n')[0]}`);
  }
  const value = doc.toJS() as unknown;
  if (value === null || value === undefined) return {};
  if (typeof value !== 'object' || Array.isArray(value)) throw new ConfigError(`${path}:1:1: expected a mapping of settings`);
  return value as Record<string, unknown>;
}

/** The configuration file named by `--config` or TANDEM_CONFIG, if any. */
export function configFileOf(flags: Record<string, unknown>, env: NodeJS.ProcessEnv = process.env): string | undefined {
  return (flags.config as string | undefined) ?? env.TANDEM_CONFIG;
}

/**
 * Builds the effective configuration. `flags` holds only what the user passed on the command line
 * (commander leaves absent options undefined); keys that are not settings are ignored.
 */
export function loadConfig(flags: Record<string, unknown>, env: NodeJS.ProcessEnv = process.env): TandemConfig {
  const merged: Record<string, unknown> = {};
  /** Where each value came from, so an error can say which setting to fix. */
  const source: Record<string, string> = {};
  const configPath = configFileOf(flags, env);
  if (configPath) {
    Object.assign(merged, readConfigFile(configPath));
    for (const key of Object.keys(merged)) source[key] = configPath;
  }
  for (const key of configKeys) {
    // A secret's value never appears in an error message.
    const shown = (separator: string, value: unknown) => (SECRET_KEYS.has(key) ? '' : `${separator}${JSON.stringify(value)}`);
    const fromEnv = env[envNameFor(key)];
    if (fromEnv !== undefined && fromEnv !== '') {
      merged[key] = fromEnv;
      source[key] = `${envNameFor(key)}${shown('=', fromEnv)}`;
    }
    if (flags[key] !== undefined) {
      merged[key] = flags[key];
      source[key] = `--${key.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase())}${shown(' ', flags[key])}`;
    }
  }
  const parsed = configSchema.safeParse(merged);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => {
      const key = i.path.join('.');
      const from = source[String(i.path[0])];
      if (i.code === 'unrecognized_keys' && i.path.length > 0)
        return `${key}${from ? ` (from ${from})` : ''}: unknown key ${i.keys.join(', ')}`;
      if (i.code === 'unrecognized_keys') return `${configPath}: unknown setting ${i.keys.join(', ')} (known: ${configKeys.join(', ')})`;
      return `${key}${from ? ` (from ${from})` : ''}: ${i.message}`;
    });
    throw new ConfigError(`invalid configuration:\n  ${issues.join('\n  ')}`);
  }
  const config = parsed.data;
  config.dataDir = resolve(config.dataDir);
  if (config.backupSchedule && !config.backupTo) {
    throw new ConfigError(
      `invalid configuration:\n  backupSchedule${source.backupSchedule ? ` (from ${source.backupSchedule})` : ''}: needs backupTo (a directory or s3://bucket/prefix)`,
    );
  }
  return config;
}

export function databaseUrlOf(config: TandemConfig): string {
  return config.databaseUrl ?? resolve(config.dataDir, 'tandem.db');
}

export function artifactsDirOf(config: TandemConfig): string {
  return config.artifactsUrl ?? resolve(config.dataDir, 'artifacts');
}

/** What an agent (or `tandem exec`) needs to run jobs in containers. */
export function containerSettingsOf(config: TandemConfig): {
  engine: TandemConfig['containerEngine'];
  engineArgs: string[];
  runArgs: string[];
  defaultImage?: string;
} {
  return {
    engine: config.containerEngine,
    engineArgs: config.containerEngineArgs,
    runArgs: config.containerRunArgs,
    defaultImage: config.defaultImage,
  };
}
