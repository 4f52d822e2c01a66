// Everything on disk a job must never read when the agent shares a host (or a process) with the
// server: the sandbox hides these paths (SandboxOptions.hiddenPaths).
import { resolve } from 'node:path';
import { isS3Url } from '../artifacts/index.js';
import { isPostgresUrl, sqlitePath } from '../store/index.js';
import { configFileOf, databaseUrlOf, readConfigFile, envNameFor, type TandemConfig } from '../config/index.js';

/** Single sign-on sections and the settings in them that name a file holding a secret. */
const SSO_SECRET_FILES: Record<'oidc' | 'ldap' | 'saml', string> = {
  oidc: 'clientSecretFile',
  ldap: 'bindPasswordFile',
  saml: 'idpCertFile',
};

/** The files the SSO sections read their secrets from: parsing replaces them with the secrets, so they come from the raw settings. */
function ssoSecretFiles(flags: Record<string, unknown>, env: NodeJS.ProcessEnv): string[] {
  const configPath = configFileOf(flags, env);
  let fromFile: Record<string, unknown> = {};
  try {
    fromFile = configPath ? readConfigFile(configPath) : {};
  } catch {
    // loadConfig has read it already; a file gone since hides nothing more.
  }
  const files: string[] = [];
  for (const [section, key] of Object.entries(SSO_SECRET_FILES)) {
    for (const raw of [fromFile[section], env[envNameFor(section)]]) {
      let value: unknown = raw;
      try {
        if (typeof raw === 'string') value = JSON.parse(raw) as unknown;
      } catch {
        continue;
      }
      const file = typeof value === 'object' && value !== null ? (value as Record<string, unknown>)[key] : undefined;
      if (typeof file === 'string' && file.trim() !== '') files.push(resolve(file));
    }
  }
  return files;
}

/** A local directory setting (not `s3://`), resolved; undefined when unset or remote. */
function localDir(url: string | undefined): string[] {
  return url !== undefined && !isS3Url(url) ? [resolve(url)] : [];
}

/**
 * The data dir (admin token and password, master key, database, artifacts by default), the agent's
 * work dir, the configuration file, and every key, database, artifact or backup location and secret
 * file the configuration names elsewhere.
 */
export function secretPathsOf(config: TandemConfig, flags: Record<string, unknown>, env: NodeJS.ProcessEnv = process.env): string[] {
  const configPath = configFileOf(flags, env);
  const databaseUrl = databaseUrlOf(config);
  const database = isPostgresUrl(databaseUrl) ? [] : [sqlitePath(databaseUrl)].filter((path) => path !== ':memory:');
  const paths = [
    config.dataDir,
    ...(config.workDir ? [config.workDir] : []),
    ...(configPath ? [configPath] : []),
    ...(config.masterKeyFile ? [config.masterKeyFile] : []),
    ...(config.backupKeyFile ? [config.backupKeyFile] : []),
    // SQLite keeps recent writes beside the file until a checkpoint.
    ...database.flatMap((path) => [path, `${path}-wal`, `${path}-shm`, `${path}-journal`]),
    ...localDir(config.artifactsUrl),
    ...localDir(config.artifactsReplicaUrl),
    ...localDir(config.backupTo),
    ...ssoSecretFiles(flags, env),
  ];
  return [...new Set(paths.map((path) => resolve(path)))];
}
