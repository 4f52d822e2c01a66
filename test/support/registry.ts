// A real OCI registry for tests: Debian's `docker-registry` (CNCF distribution 2.8) on a loopback
// port of its own, with TLS (a self-signed certificate for 127.0.0.1) and basic auth (a bcrypt
// htpasswd entry), its storage in a temporary directory, stopped by its PID. With `auth: 'token'`
// it asks for Bearer tokens instead (as Docker Hub, GHCR and GitLab do), from a token service
// started here that checks the same credentials and signs JWTs the registry verifies. Images get into it with
// podman (`pushBusybox`); skopeo inspects them. Recipe: ../shared/SERVICES.md, "OCI registry".
//
//   const registry = await startRegistry();          // skip the suite with registrySkip() first
//   const image = await pushBusybox(registry, 'team/app', 'v1');
//   image.pinned  // '127.0.0.1:PORT/team/app@sha256:...'
//   await registry.stop();
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, X509Certificate } from 'node:crypto';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer as createHttpsServer, request } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { importPKCS8, SignJWT } from 'jose';
import { selfSignedCertificate, type TestCertificate } from './certs.js';
import { busyboxImage, ENGINE_ARGS, podman } from './podman.js';
import { freePort } from './ports.js';
import { serviceSkip } from './skip.js';
import { stopChild } from './stop-child.js';

const execFileP = promisify(execFile);

const REGISTRY = '/usr/bin/docker-registry';

/** Why registry suites are skipped here, or false when they run (see skip.ts). */
export const registrySkip = serviceSkip('the OCI registry tests', () => {
  if (!existsSync(REGISTRY)) return `${REGISTRY} is missing (apt-get install -y docker-registry): run scripts/services.sh install`;
  for (const tool of ['skopeo', 'htpasswd']) {
    if (!onPath(tool)) return `${tool} is missing (apt-get install -y skopeo apache2-utils): run scripts/services.sh install`;
  }
  if (!podman) return 'podman is not usable (apt-get install -y podman runc busybox-static)';
  return null;
});

function onPath(tool: string): boolean {
  return (process.env.PATH ?? '').split(path.delimiter).some((dir) => dir && existsSync(path.join(dir, tool)));
}

export interface TestRegistry {
  /** `127.0.0.1:PORT`, the registry part of an image reference. */
  host: string;
  /** `https://127.0.0.1:PORT`. */
  url: string;
  username: string;
  password: string;
  /** The registry's certificate (its own CA), PEM. */
  caFile: string;
  /** A directory holding only `ca.crt`, for `podman --cert-dir` / `skopeo --cert-dir`. */
  certDir: string;
  pid: number;
  /** With `auth: 'token'`: the token service's URL (the realm of the registry's challenge). */
  tokenRealm: string | null;
  stop(): Promise<void>;
}

export interface StartRegistryOptions {
  /** `basic` (default): htpasswd. `token`: Bearer tokens from a token service checking the same credentials. */
  auth?: 'basic' | 'token';
}

/** Starts a registry with TLS and basic auth (≈0.5 s). Call `stop()` in the suite's `after`. */
export async function startRegistry(options: StartRegistryOptions = {}): Promise<TestRegistry> {
  const dir = await mkdtemp(path.join(tmpdir(), 'tandem-registry-'));
  let child: ChildProcess | null = null;
  let tokens: TokenService | null = null;
  const killOnExit = (): void => {
    child?.kill('SIGKILL');
  };
  try {
    const cert = await selfSignedCertificate(dir, 'registry', { commonName: '127.0.0.1', ip: '127.0.0.1' });
    // Kept apart from the key: in a --cert-dir, a *.key file asks for a client certificate beside it.
    const certDir = path.join(dir, 'certs.d');
    await mkdir(certDir);
    await copyFile(cert.certFile, path.join(certDir, 'ca.crt'));
    const username = 'tandem';
    const password = randomBytes(12).toString('hex');
    const htpasswd = (await execFileP('htpasswd', ['-Bbn', username, password], { timeout: 30_000 })).stdout;
    await writeFile(path.join(dir, 'htpasswd'), htpasswd);
    if (options.auth === 'token') tokens = await startTokenService(cert, username, password);

    for (let tries = 1; ; tries++) {
      const port = await freePort();
      const host = `127.0.0.1:${port}`;
      const config = path.join(dir, 'config.yml');
      await writeFile(config, registryConfig(dir, host, cert, tokens?.realm ?? null));
      let log = '';
      const started = spawn(REGISTRY, ['serve', config], { stdio: ['ignore', 'pipe', 'pipe'] });
      child = started;
      const append = (chunk: Buffer): void => {
        log = (log + chunk.toString()).slice(-4000);
      };
      started.stdout?.on('data', append);
      started.stderr?.on('data', append);
      process.once('exit', killOnExit);
      if (await answering(host, cert.cert, started)) {
        return {
          host,
          url: `https://${host}`,
          username,
          password,
          caFile: cert.certFile,
          certDir,
          pid: started.pid ?? 0,
          tokenRealm: tokens?.realm ?? null,
          async stop() {
            await stopChild(started);
            await tokens?.close();
            process.removeListener('exit', killOnExit);
            await rm(dir, { recursive: true, force: true });
          },
        };
      }
      started.kill('SIGKILL');
      process.removeListener('exit', killOnExit);
      // Another process may have taken the port between the check and the start.
      if (tries >= 3) throw new Error(`docker-registry did not start on ${host}:\n${log}`);
    }
  } catch (err) {
    killOnExit();
    process.removeListener('exit', killOnExit);
    await tokens?.close();
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

const TOKEN_ISSUER = 'tandem-test-issuer';
const TOKEN_SERVICE = 'tandem-test-registry';

function registryConfig(dir: string, host: string, cert: { certFile: string; keyFile: string }, tokenRealm: string | null): string {
  const auth = tokenRealm
    ? `auth: { token: { realm: ${JSON.stringify(tokenRealm)}, service: ${TOKEN_SERVICE}, issuer: ${TOKEN_ISSUER}, rootcertbundle: ${JSON.stringify(cert.certFile)} } }`
    : `auth: { htpasswd: { realm: tandem-test, path: ${JSON.stringify(path.join(dir, 'htpasswd'))} } }`;
  return [
    'version: 0.1',
    'log: { level: warn }',
    `storage: { filesystem: { rootdirectory: ${JSON.stringify(path.join(dir, 'data'))} }, delete: { enabled: true } }`,
    `http: { addr: ${JSON.stringify(host)}, tls: { certificate: ${JSON.stringify(cert.certFile)}, key: ${JSON.stringify(cert.keyFile)} } }`,
    auth,
    '',
  ].join('\n');
}

/** Waits until `GET /v2/` answers (401 without credentials), or false when the process exited first or 10 s passed. */
async function answering(host: string, ca: string, child: ChildProcess): Promise<boolean> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) return false;
    const status = await new Promise<number>((resolve) => {
      const req = request(`https://${host}/v2/`, { ca, timeout: 2_000 }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.once('error', () => resolve(0));
      req.once('timeout', () => req.destroy());
      req.end();
    });
    if (status === 401) return true;
    await sleep(50);
  }
  return false;
}

interface TokenService {
  realm: string;
  close(): Promise<void>;
}

/**
 * Docker's token protocol: `GET /token?service=&scope=repository:NAME:pull,push` with Basic
 * credentials → `{ token }`, a JWT signed with the registry's own key and its certificate in `x5c`
 * (distribution verifies the chain against `rootcertbundle`). Wrong credentials get 401.
 */
async function startTokenService(cert: TestCertificate, username: string, password: string): Promise<TokenService> {
  const key = await importPKCS8(cert.key, 'RS256');
  const x5c = [new X509Certificate(cert.cert).raw.toString('base64')];
  const expected = `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
  const server = createHttpsServer({ key: cert.key, cert: cert.cert }, (req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'https://localhost');
      if (url.pathname !== '/token') return void res.writeHead(404).end();
      if (req.headers.authorization !== expected)
        return void res.writeHead(401, { 'content-type': 'application/json' }).end('{"details":"bad credentials"}');
      const access = url.searchParams.getAll('scope').flatMap((scope) => {
        const [type, name, actions] = scope.split(':');
        return type && name && actions ? [{ type, name, actions: actions.split(',') }] : [];
      });
      const token = await new SignJWT({ access })
        .setProtectedHeader({ alg: 'RS256', x5c })
        .setIssuer(TOKEN_ISSUER)
        .setAudience(url.searchParams.get('service') ?? '')
        .setSubject(username)
        .setIssuedAt()
        .setNotBefore('0s')
        .setExpirationTime('5m')
        .setJti(randomBytes(8).toString('hex'))
        .sign(key);
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token, expires_in: 300 }));
    })().catch((err: unknown) => res.writeHead(500).end(String(err)));
  });
  for (;;) {
    const port = await freePort();
    const listening = await new Promise<boolean>((resolve) => {
      server.once('error', () => resolve(false));
      server.listen(port, '127.0.0.1', () => resolve(true));
    });
    if (listening) break;
  }
  const { port } = server.address() as AddressInfo;
  return {
    realm: `https://127.0.0.1:${port}/token`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

export interface PushedImage {
  /** `HOST/name:tag`, the mutable reference. */
  ref: string;
  /** `sha256:...`, the manifest digest the registry stores. */
  digest: string;
  /** `HOST/name@sha256:...`, the reference a release pins. */
  pinned: string;
}

/**
 * The environment a podman host needs to pull from `registry`, as a host's own would be set up: its
 * credentials in an auth file, and TLS without verification for this registry only (instead of its
 * CA in /etc/containers/certs.d). The two files are written in `dir`.
 */
export async function podmanRegistryEnv(
  registry: TestRegistry,
  dir: string,
): Promise<{ REGISTRY_AUTH_FILE: string; CONTAINERS_REGISTRIES_CONF: string }> {
  const authFile = path.join(dir, 'registry-auth.json');
  const auth = Buffer.from(`${registry.username}:${registry.password}`).toString('base64');
  await writeFile(authFile, JSON.stringify({ auths: { [registry.host]: { auth } } }), { mode: 0o600 });
  const registriesConf = path.join(dir, 'registries.conf');
  await writeFile(registriesConf, `[[registry]]\nlocation = "${registry.host}"\ninsecure = true\n`);
  return { REGISTRY_AUTH_FILE: authFile, CONTAINERS_REGISTRIES_CONF: registriesConf };
}

/**
 * Pushes a busybox image (see busyboxImage in podman.ts: sh, wget, httpd... exposing port 80) to
 * `registry` as `name:tag`, with TLS verified against the test CA and the registry's credentials.
 * Each push imports the root filesystem afresh, so two pushes give two digests (v1, v2).
 */
export async function pushBusybox(registry: TestRegistry, name: string, tag: string): Promise<PushedImage> {
  const local = await busyboxImage();
  const dir = await mkdtemp(path.join(tmpdir(), 'tandem-push-'));
  try {
    const ref = `${registry.host}/${name}:${tag}`;
    const digestFile = path.join(dir, 'digest');
    await execFileP(
      'podman',
      [
        ...ENGINE_ARGS,
        'push',
        '--quiet',
        '--cert-dir',
        registry.certDir,
        '--creds',
        `${registry.username}:${registry.password}`,
        '--digestfile',
        digestFile,
        local.name,
        `docker://${ref}`,
      ],
      { timeout: 60_000 },
    );
    const digest = (await readFile(digestFile, 'utf8')).trim();
    return { ref, digest, pinned: `${registry.host}/${name}@${digest}` };
  } finally {
    await local.remove();
    await rm(dir, { recursive: true, force: true });
  }
}

/** What `skopeo inspect` reports as the image's manifest digest: the independent client's view. */
export async function skopeoDigest(registry: TestRegistry, ref: string): Promise<string> {
  const { stdout } = await execFileP(
    'skopeo',
    [
      'inspect',
      '--cert-dir',
      registry.certDir,
      '--creds',
      `${registry.username}:${registry.password}`,
      '--format',
      '{{.Digest}}',
      `docker://${ref}`,
    ],
    { timeout: 30_000 },
  );
  return stdout.trim();
}
