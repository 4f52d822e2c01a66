// A repository's SSH deploy key and the host keys it may be used with, checked before they are
// stored: a key git could not use (passphrase-protected, another format, damaged) or known hosts
// that do not name the repository's host would only fail later, at the first fetch, in a log.
// Formats: OpenSSH's PROTOCOL.key (openssh-key-v1) and sshd(8)'s SSH_KNOWN_HOSTS FILE FORMAT.
import { createHash, createHmac } from 'node:crypto';
import { SourceError } from './git.js';

const ARMOR_BEGIN = '-----BEGIN OPENSSH PRIVATE KEY-----';
const ARMOR_END = '-----END OPENSSH PRIVATE KEY-----';
const MAGIC = Buffer.from('openssh-key-v1\0', 'latin1');
const MAX_KNOWN_HOST_LINES = 100;

/** Key types OpenSSH accepts as host keys and deploy keys (certificates are for `@cert-authority` lines). */
const KEY_TYPES = new Set([
  'ssh-ed25519',
  'ssh-rsa',
  'ecdsa-sha2-nistp256',
  'ecdsa-sha2-nistp384',
  'ecdsa-sha2-nistp521',
  'sk-ssh-ed25519@openssh.com',
  'sk-ecdsa-sha2-nistp256@openssh.com',
  'ssh-dss',
]);

/** A deploy key checked and normalised: what is sealed, and what may be shown. */
export interface SshDeployKey {
  /** The private key, LF line ends, ending with one newline (ssh refuses a key without it). */
  privateKey: string;
  /** `TYPE BASE64`: the public half, as a forge's "add deploy key" form takes it. */
  publicKey: string;
}

/** A line of a known_hosts file, for display. */
export interface KnownHostKey {
  /** The host patterns as written (`github.com`, `[git.example.com]:2222`), or `(hashed)`. */
  hosts: string;
  type: string;
  /** `SHA256:...`, as `ssh-keygen -lf` prints it. */
  fingerprint: string;
  marker: 'cert-authority' | 'revoked' | null;
}

/** Reads SSH wire-format strings (uint32 length + bytes) one after the other. */
class WireReader {
  private offset = 0;
  constructor(private readonly buf: Buffer) {}

  uint32(): number {
    if (this.offset + 4 > this.buf.length) throw new Error('truncated');
    const value = this.buf.readUInt32BE(this.offset);
    this.offset += 4;
    return value;
  }

  bytes(): Buffer {
    const length = this.uint32();
    if (this.offset + length > this.buf.length) throw new Error('truncated');
    const out = this.buf.subarray(this.offset, this.offset + length);
    this.offset += length;
    return out;
  }

  string(): string {
    return this.bytes().toString('latin1');
  }

  rest(): Buffer {
    return this.buf.subarray(this.offset);
  }
}

/** `SHA256:<base64 without padding>` of a public key blob: OpenSSH's fingerprint. */
export function sshFingerprint(blob: Buffer): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

/** The fingerprint of a `TYPE BASE64 [comment]` public key line; null when it is none. */
export function publicKeyFingerprint(line: string): string | null {
  const blob = line.trim().split(/\s+/)[1];
  return blob === undefined ? null : sshFingerprint(Buffer.from(blob, 'base64'));
}

/** The type named inside a public key blob, or null when the blob is not one. */
function blobType(blob: Buffer): string | null {
  try {
    return new WireReader(blob).string();
  } catch {
    return null;
  }
}

function invalidKey(reason: string): SourceError {
  return new SourceError(`credentials.privateKey: ${reason}`);
}

/**
 * Checks a private key for an SSH deploy key: one unencrypted key in OpenSSH's format. Refuses a
 * passphrase (no one is there to type it), other formats (PEM, PuTTY) with how to convert them,
 * and damaged keys. Messages never quote the key.
 */
export function parseDeployKey(text: string): SshDeployKey {
  const normalised = text.replace(/\r\n?/g, '\n').trim();
  if (!normalised.startsWith(ARMOR_BEGIN)) {
    const pem = /^-----BEGIN ([A-Z ]*)PRIVATE KEY-----/.exec(normalised);
    if (pem)
      throw invalidKey(
        `a ${pem[1].trim() || 'PKCS#8'} PEM key: give the key in OpenSSH's format (\`ssh-keygen -p -f FILE\` rewrites it so; new keys: \`ssh-keygen -t ed25519 -N "" -f FILE\`)`,
      );
    if (/^PuTTY-User-Key-File/.test(normalised))
      throw invalidKey('a PuTTY key: export it in OpenSSH format (puttygen FILE -O private-openssh-new -o KEY)');
    if (/^(ssh-|ecdsa-|sk-)/.test(normalised)) throw invalidKey('this is a public key: give the private key (the file without .pub)');
    throw invalidKey(`not an OpenSSH private key (a text starting with ${ARMOR_BEGIN})`);
  }
  const end = normalised.indexOf(ARMOR_END);
  if (end < 0 || normalised.slice(end + ARMOR_END.length).trim() !== '') throw invalidKey(`malformed: it must end with ${ARMOR_END}`);
  const body = normalised.slice(ARMOR_BEGIN.length, end).replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(body)) throw invalidKey('malformed: the key is not base64 between its BEGIN and END lines');
  const raw = Buffer.from(body, 'base64');
  if (!raw.subarray(0, MAGIC.length).equals(MAGIC)) throw invalidKey('malformed: not an openssh-key-v1 key');
  let publicBlob: Buffer;
  try {
    const r = new WireReader(raw.subarray(MAGIC.length));
    const cipher = r.string();
    const kdf = r.string();
    r.bytes(); // kdf options
    if (cipher !== 'none' || kdf !== 'none')
      throw invalidKey(
        'the key is protected by a passphrase, which no one can type when git fetches: remove it (`ssh-keygen -p -N "" -f FILE`, on a copy) or make a deploy key without one',
      );
    const count = r.uint32();
    if (count !== 1) throw invalidKey(`the file holds ${count} keys: give exactly one`);
    publicBlob = r.bytes();
    const secret = new WireReader(r.bytes());
    if (secret.uint32() !== secret.uint32()) throw invalidKey('malformed: its check numbers differ (a damaged key)');
    const type = blobType(publicBlob);
    if (type === null || !KEY_TYPES.has(type)) throw invalidKey(`unsupported key type ${JSON.stringify(type)}`);
    if (secret.string() !== type) throw invalidKey('malformed: the private part is not of the public part’s type');
  } catch (err) {
    if (err instanceof SourceError) throw err;
    throw invalidKey('malformed: the key is truncated');
  }
  return {
    privateKey: `${normalised}\n`,
    publicKey: `${blobType(publicBlob)} ${publicBlob.toString('base64')}`,
  };
}

/** OpenSSH's pattern syntax: `*` any run of characters, `?` one character. */
function globMatches(pattern: string, name: string): boolean {
  const re = new RegExp(
    `^${pattern
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replace(/\*/g, '.*')
      .replace(/\?/g, '.')}$`,
    'i',
  );
  return re.test(name);
}

/** Whether a known_hosts host field (comma-separated patterns, `!` negations, or one hashed name) names `name`. */
function hostsMatch(field: string, name: string): boolean {
  if (field.startsWith('|1|')) {
    const [, , salt, hash] = field.split('|');
    if (salt === undefined || hash === undefined) return false;
    return createHmac('sha1', Buffer.from(salt, 'base64')).update(name).digest('base64') === hash;
  }
  let matched = false;
  for (const pattern of field.split(',')) {
    if (pattern.startsWith('!')) {
      if (globMatches(pattern.slice(1), name)) return false;
    } else if (globMatches(pattern, name)) {
      matched = true;
    }
  }
  return matched;
}

/**
 * Checks a known_hosts text for a repository at `host` (a `knownHostName`): every line must be a
 * host key line, and one (not revoked) must name the host, else ssh could never connect. Returns
 * the text normalised (LF, no blank lines).
 */
export function parseKnownHosts(text: string, host: string): { knownHosts: string; keys: KnownHostKey[] } {
  const lines = text
    .replace(/\r\n?/g, '\n')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
  if (lines.length === 0)
    throw new SourceError(
      `credentials.knownHosts: required: the host key line of ${host} (\`ssh-keyscan\` prints it; compare its fingerprint with the one your Git host publishes)`,
    );
  if (lines.length > MAX_KNOWN_HOST_LINES) throw new SourceError(`credentials.knownHosts: at most ${MAX_KNOWN_HOST_LINES} lines`);
  const keys = lines.map((line, i) => knownHostLine(line, i + 1));
  if (!keys.some((k, i) => k.marker !== 'revoked' && hostsMatch(lines[i].split(/\s+/)[k.marker ? 1 : 0], host))) {
    throw new SourceError(
      `credentials.knownHosts: no line names ${host}, the repository's host (a line starts with its name${host.startsWith('[') ? ' and port, as written here' : ''}: \`ssh-keyscan${host.startsWith('[') ? ` -p ${host.slice(host.lastIndexOf(':') + 1)}` : ''} ${host.replace(/^\[|\]:\d+$/g, '')}\` prints it)`,
    );
  }
  return { knownHosts: `${lines.join('\n')}\n`, keys };
}

function knownHostLine(line: string, n: number): KnownHostKey {
  const fields = line.split(/\s+/);
  let marker: KnownHostKey['marker'] = null;
  if (fields[0].startsWith('@')) {
    const name = fields.shift()!.slice(1);
    if (name !== 'cert-authority' && name !== 'revoked')
      throw new SourceError(`credentials.knownHosts: line ${n}: unknown marker @${name} (@cert-authority or @revoked)`);
    marker = name;
  }
  const [hosts, type, key] = fields;
  if (hosts === undefined || type === undefined || key === undefined)
    throw new SourceError(`credentials.knownHosts: line ${n}: not a known_hosts line (HOSTS KEYTYPE BASE64KEY)`);
  if (!KEY_TYPES.has(type)) throw new SourceError(`credentials.knownHosts: line ${n}: unknown key type ${JSON.stringify(type)}`);
  const blob = Buffer.from(key, 'base64');
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(key) || blobType(blob) !== type)
    throw new SourceError(`credentials.knownHosts: line ${n}: the key is not a ${type} key in base64`);
  return { hosts: hosts.startsWith('|1|') ? '(hashed)' : hosts, type, fingerprint: sshFingerprint(blob), marker };
}

/** The known_hosts text as stored, for display: unreadable lines (none are stored) are left out. */
export function describeKnownHosts(text: string): KnownHostKey[] {
  const out: KnownHostKey[] = [];
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    try {
      out.push(knownHostLine(line.trim(), i + 1));
    } catch {
      // Stored lines were checked when they were set.
    }
  });
  return out;
}
