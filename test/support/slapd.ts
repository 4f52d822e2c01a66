// A real OpenLDAP slapd for tests (Debian `slapd`): a cn=config directory built by slapadd -n0, the
// test's entries loaded by slapadd -n1, then `slapd -d 0` in the foreground on a free loopback port,
// stopped by its PID. The package's own configuration under /etc/ldap is not used.
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { selfSignedCertificate } from './certs.js';
import { freePort } from './ports.js';
import { serviceSkip } from './skip.js';
import { stopChild } from './stop-child.js';

const execFileP = promisify(execFile);

const SLAPD = '/usr/sbin/slapd';
const SLAPADD = '/usr/sbin/slapadd';
const SCHEMA_DIR = '/etc/ldap/schema';
const MODULE_DIR = '/usr/lib/ldap';

export const BASE_DN = 'dc=tandem,dc=test';
export const ADMIN_DN = `cn=admin,${BASE_DN}`;

/** Why slapd suites are skipped here, or false when they run (see skip.ts). */
export const slapdSkipReason = serviceSkip('the LDAP tests', () =>
  [SLAPD, SLAPADD, path.join(SCHEMA_DIR, 'inetorgperson.ldif')].every((file) => existsSync(file))
    ? null
    : `OpenLDAP is not installed (${SLAPD} missing): run scripts/services.sh install`,
);

/** An RFC 2307 {SSHA} password hash, as directories store them. */
export function sshaPassword(password: string): string {
  const salt = randomBytes(8);
  const digest = createHash('sha1').update(password).update(salt).digest();
  return `{SSHA}${Buffer.concat([digest, salt]).toString('base64')}`;
}

export interface SlapdServer {
  url: string;
  /** With `tls`: an ldaps:// URL on a second port. */
  ldapsUrl: string | null;
  port: number;
  pid: number;
  adminDn: string;
  adminPassword: string;
  /** With `tls`: the PEM file of the server certificate, which is its own CA. */
  caFile: string | null;
  stop(): Promise<void>;
}

export interface StartSlapdOptions {
  /** LDIF of the entries under BASE_DN (the base entry itself is made here). */
  entries: string;
  /** Serve StartTLS, and ldaps:// on a second port, with a self-signed certificate for 127.0.0.1. */
  tls?: boolean;
}

function configLdif(dir: string, adminPassword: string, tls: { certFile: string; keyFile: string } | null): string {
  const tlsLines = tls ? `olcTLSCertificateFile: ${tls.certFile}\nolcTLSCertificateKeyFile: ${tls.keyFile}\n` : '';
  return `dn: cn=config
objectClass: olcGlobal
cn: config
olcPidFile: ${path.join(dir, 'slapd.pid')}
${tlsLines}
dn: cn=module{0},cn=config
objectClass: olcModuleList
cn: module{0}
olcModulePath: ${MODULE_DIR}
olcModuleLoad: back_mdb

dn: cn=schema,cn=config
objectClass: olcSchemaConfig
cn: schema

include: file://${SCHEMA_DIR}/core.ldif

include: file://${SCHEMA_DIR}/cosine.ldif

include: file://${SCHEMA_DIR}/inetorgperson.ldif

dn: olcDatabase={-1}frontend,cn=config
objectClass: olcDatabaseConfig
objectClass: olcFrontendConfig
olcDatabase: {-1}frontend

dn: olcDatabase={0}config,cn=config
objectClass: olcDatabaseConfig
olcDatabase: {0}config
olcAccess: {0}to * by * none

dn: olcDatabase={1}mdb,cn=config
objectClass: olcDatabaseConfig
objectClass: olcMdbConfig
olcDatabase: {1}mdb
olcSuffix: ${BASE_DN}
olcRootDN: ${ADMIN_DN}
olcRootPW: ${adminPassword}
olcDbDirectory: ${path.join(dir, 'data')}
olcDbMaxSize: 16777216
olcAccess: {0}to attrs=userPassword by anonymous auth by * none
olcAccess: {1}to * by users read by * none
`;
}

export async function startSlapd(options: StartSlapdOptions): Promise<SlapdServer> {
  const dir = await mkdtemp(path.join(tmpdir(), 'tandem-slapd-'));
  let child: ChildProcess | null = null;
  const killOnExit = (): void => {
    child?.kill('SIGKILL');
  };
  try {
    const configDir = path.join(dir, 'slapd.d');
    await mkdir(configDir);
    await mkdir(path.join(dir, 'data'));
    const adminPassword = randomBytes(12).toString('hex');
    const tls = options.tls ? await selfSignedCertificate(dir, 'slapd', { commonName: '127.0.0.1', ip: '127.0.0.1' }) : null;
    await writeFile(path.join(dir, 'config.ldif'), configLdif(dir, adminPassword, tls));
    await writeFile(
      path.join(dir, 'data.ldif'),
      `dn: ${BASE_DN}\nobjectClass: dcObject\nobjectClass: organization\ndc: tandem\no: Tandem tests\n\n${options.entries}`,
    );
    await slapadd(['-n0', '-F', configDir, '-l', path.join(dir, 'config.ldif')]);
    await slapadd(['-n1', '-F', configDir, '-l', path.join(dir, 'data.ldif')]);

    let port = 0;
    let tlsPort = 0;
    let log = '';
    for (let tries = 1; ; tries++) {
      port = await freePort();
      const urls = [`ldap://127.0.0.1:${port}/`];
      if (tls) {
        do tlsPort = await freePort();
        while (tlsPort === port);
        urls.push(`ldaps://127.0.0.1:${tlsPort}/`);
      }
      log = '';
      const started = spawn(SLAPD, ['-d', '0', '-h', urls.join(' '), '-F', configDir], { stdio: ['ignore', 'ignore', 'pipe'] });
      child = started;
      started.stderr?.on('data', (chunk: Buffer) => {
        log += chunk.toString();
      });
      process.once('exit', killOnExit);
      if ((await listening(port, started)) && (!tls || (await listening(tlsPort, started)))) break;
      started.kill('SIGKILL');
      process.removeListener('exit', killOnExit);
      // Another process may have taken a port between the check and the start.
      if (tries >= 3) throw new Error(`slapd did not start on 127.0.0.1:${port}:\n${log.slice(-2000)}`);
    }
    const running = child;
    return {
      url: `ldap://127.0.0.1:${port}`,
      ldapsUrl: tls ? `ldaps://127.0.0.1:${tlsPort}` : null,
      port,
      pid: running.pid ?? 0,
      adminDn: ADMIN_DN,
      adminPassword,
      caFile: tls?.certFile ?? null,
      async stop() {
        await stopChild(running);
        process.removeListener('exit', killOnExit);
        await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    killOnExit();
    process.removeListener('exit', killOnExit);
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

async function slapadd(args: string[]): Promise<void> {
  try {
    await execFileP(SLAPADD, args, { timeout: 30_000 });
  } catch (err) {
    const e = err as Error & { stderr?: string };
    throw new Error(`slapadd ${args.join(' ')} failed: ${e.stderr?.trim() || e.message}`, { cause: err });
  }
}

/** Waits until slapd accepts connections (≈0.1 s), or false when it exited first or took over 10 s. */
async function listening(port: number, child: ChildProcess): Promise<boolean> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) return false;
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (open) return true;
    await sleep(50);
  }
  return false;
}
