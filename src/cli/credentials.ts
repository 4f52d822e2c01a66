// Tokens saved by `tandem login`, per server, in the user's config dir (0600): later commands use
// them when no --token or TANDEM_TOKEN is given.
import { chmodSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

export interface SavedLogin {
  username: string;
  token: string;
  tokenId: number;
}

export interface Credentials {
  /** The server of the last login, used when no --server or TANDEM_SERVER is given. */
  current: string | null;
  servers: Record<string, SavedLogin>;
}

/** $TANDEM_CONFIG_DIR, else $XDG_CONFIG_HOME/tandem, else ~/.config/tandem. */
export function configDir(): string {
  return process.env.TANDEM_CONFIG_DIR || join(process.env.XDG_CONFIG_HOME || join(homedir(), '.config'), 'tandem');
}

export function credentialsFile(): string {
  return join(configDir(), 'credentials.json');
}

export function readCredentials(): Credentials {
  try {
    const parsed = JSON.parse(readFileSync(credentialsFile(), 'utf8')) as Partial<Credentials>;
    return { current: parsed.current ?? null, servers: parsed.servers ?? {} };
  } catch {
    return { current: null, servers: {} };
  }
}

export function writeCredentials(credentials: Credentials): void {
  const dir = configDir();
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const file = credentialsFile();
  // Written aside and renamed: a crash never leaves a half-written file, and the token is never world-readable.
  writeFileSync(`${file}.tmp`, JSON.stringify(credentials, null, 2) + '\n', { mode: 0o600 });
  chmodSync(`${file}.tmp`, 0o600);
  renameSync(`${file}.tmp`, file);
}
