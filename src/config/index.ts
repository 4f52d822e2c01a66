// One configuration model for servers and agents: defaults < tandem.yml < TANDEM_* environment < flags.
// Every key has an environment name derived from it (dataDir -> TANDEM_DATA_DIR) so the three
// sources can never disagree about what a key is called.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseDocument, LineCounter } from 'yaml';
import { z } from 'zod';
import { Cron } from 'croner';
import { sloListSchema } from '../monitor/slo.js';

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
  (v) => (typeof v === 'string' ? v.split(',').map((s) => s.trim()).filter(Boolean) : v),
  z.array(z.string()),
);

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
    /** Job timeout when the pipeline file names none (GitLab's project default is one hour). */
    jobTimeoutSeconds: positiveInt.default(3600),
    /** Lease length for claimed jobs; agents heartbeat three times per lease. */
    leaseSeconds: positiveInt.default(15),
    /**
     * A killed agent's presence stream breaks at once; its jobs are freed this long after, unless it
     * reconnects (a load balancer restart) first. A frozen or unreachable agent waits for its leases.
     */
    agentDisconnectGraceSeconds: positiveInt.default(3),
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
    maxArtifactBytes: positiveInt.default(1024 * 1024 * 1024),
    maxRequestBytes: positiveInt.default(16 * 1024 * 1024),
    // Agent settings.
    server: list.default([]),
    token: z.string().optional(),
    concurrency: positiveInt.default(2),
    workDir: z.string().optional(),
    tags: list.default([]),
    /** How jobs without an image run; `container` also makes a container engine mandatory. */
    executor: z.enum(['shell', 'sandbox', 'auto', 'container']).default('shell'),
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
type ConfigKey = keyof TandemConfig;
const configKeys = Object.keys(configSchema.shape) as ConfigKey[];

export function envNameFor(key: string): string {
  return 'TANDEM_' + key.replace(/[A-Z]/g, (c) => '_' + c).toUpperCase();
}

export class ConfigError extends Error {}

function readConfigFile(path: string): Record<string, unknown> {
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

/**
 * Builds the effective configuration. `flags` holds only what the user passed on the command line
 * (commander leaves absent options undefined); keys that are not settings are ignored.
 */
export function loadConfig(
  flags: Record<string, unknown>,
  env: NodeJS.ProcessEnv = process.env,
): TandemConfig {
  const merged: Record<string, unknown> = {};
  /** Where each value came from, so an error can say which setting to fix. */
  const source: Record<string, string> = {};
  const configPath = (flags.config as string | undefined) ?? env.TANDEM_CONFIG;
  if (configPath) {
    Object.assign(merged, readConfigFile(configPath));
    for (const key of Object.keys(merged)) source[key] = configPath;
  }
  for (const key of configKeys) {
    const fromEnv = env[envNameFor(key)];
    if (fromEnv !== undefined && fromEnv !== '') {
      merged[key] = fromEnv;
      source[key] = `${envNameFor(key)}=${JSON.stringify(fromEnv)}`;
    }
    if (flags[key] !== undefined) {
      merged[key] = flags[key];
      source[key] = `--${key.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase())} ${JSON.stringify(flags[key])}`;
    }
  }
  const parsed = configSchema.safeParse(merged);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => {
      const key = i.path.join('.');
      const from = source[String(i.path[0])];
      if (i.code === 'unrecognized_keys' && i.path.length > 0) return `${key}${from ? ` (from ${from})` : ''}: unknown key ${i.keys.join(', ')}`;
      if (i.code === 'unrecognized_keys') return `${configPath}: unknown setting ${i.keys.join(', ')} (known: ${configKeys.join(', ')})`;
      return `${key}${from ? ` (from ${from})` : ''}: ${i.message}`;
    });
    throw new ConfigError(`invalid configuration:\n  ${issues.join('\n  ')}`);
  }
  const config = parsed.data;
  config.dataDir = resolve(config.dataDir);
  if (config.backupSchedule && !config.backupTo) {
    throw new ConfigError(`invalid configuration:\n  backupSchedule${source.backupSchedule ? ` (from ${source.backupSchedule})` : ''}: needs backupTo (a directory or s3://bucket/prefix)`);
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
export function containerSettingsOf(config: TandemConfig): { engine: TandemConfig['containerEngine']; engineArgs: string[]; runArgs: string[]; defaultImage?: string } {
  return { engine: config.containerEngine, engineArgs: config.containerEngineArgs, runArgs: config.containerRunArgs, defaultImage: config.defaultImage };
}
