// Real podman for container tests. There is no image registry here, so images are built from a
// local root filesystem: Debian's static busybox and its applet links, imported under a unique tag
// and removed again by the suite that made it.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { CONTAINER_LABELS, ContainerExecutor, findContainerEngine, type ContainerEngine } from '../../src/executor/index.js';

const run = promisify(execFile);

/** podman 4.3 from Debian works here only with runc and limits below the host's open-files cap. */
export const ENGINE_ARGS = ['--runtime', 'runc'];
export const RUN_ARGS = ['--ulimit', 'nofile=1024:1024', '--ulimit', 'nproc=1024:1024'];

const BUSYBOX = '/bin/busybox';

async function probe(): Promise<ContainerEngine | string> {
  if (!existsSync(BUSYBOX)) return `${BUSYBOX} is missing (apt-get install -y busybox-static)`;
  try {
    return (await findContainerEngine('podman', ENGINE_ARGS)) ?? 'podman is not usable';
  } catch (err) {
    return `${(err as Error).message} (apt-get install -y podman runc)`;
  }
}

const probed = await probe();
/** The engine, or null when the suite must skip. */
export const podman: ContainerEngine | null = typeof probed === 'string' ? null : probed;

/** The `skip` option for a podman suite; prints the loud banner once when podman cannot run. */
export function podmanSkip(suite: string): string | false {
  if (podman) return false;
  const required = process.env.TANDEM_REQUIRE_ALL === '1';
  const banner = '!'.repeat(78);
  console.warn(`\n${banner}\n!!! ${suite} ${required ? 'FAIL' : 'SKIPPED'}: ${String(probed)}\n${banner}\n`);
  return required ? false : `podman unavailable: ${String(probed)} (set TANDEM_REQUIRE_ALL=1 to fail instead)`;
}

async function podmanCli(...args: string[]): Promise<string> {
  return (await run('podman', [...ENGINE_ARGS, ...args], { maxBuffer: 16 * 1024 * 1024 })).stdout;
}

/** A busybox image (sh, wget, httpd, nc... on /bin) that exposes port 80, under a tag of its own. */
export async function busyboxImage(): Promise<{ name: string; remove(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'tandem-rootfs-'));
  try {
    const root = join(dir, 'root');
    await mkdir(join(root, 'bin'), { recursive: true });
    await mkdir(join(root, 'tmp'), { recursive: true });
    await run('cp', [BUSYBOX, join(root, 'bin', 'busybox')]);
    const applets = (await run(BUSYBOX, ['--list'])).stdout.split('\n').filter((a) => a && a !== 'busybox');
    await Promise.all(applets.map((applet) => symlink('busybox', join(root, 'bin', applet))));
    await run('tar', ['-C', root, '-cf', join(dir, 'rootfs.tar'), '.']);
    const name = `localhost/tandem-test-busybox:${process.pid}-${Date.now().toString(36)}`;
    await podmanCli('import', '--change', 'EXPOSE 80', '--change', 'ENV PATH=/bin', join(dir, 'rootfs.tar'), name);
    return { name, remove: async () => void (await podmanCli('rmi', '--force', name).catch(() => undefined)) };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Containers and networks that carry an owner's label: what a job or an agent left behind. */
export async function leftovers(owner: string): Promise<{ containers: number; networks: number }> {
  if (!podman) throw new Error('podman unavailable');
  const label = `${CONTAINER_LABELS.owner}=${owner}`;
  return { containers: (await podman.listContainers(label)).length, networks: (await podman.listNetworks(label)).length };
}

/** Removes whatever carries the owner's label, as an agent's next start would. */
export async function removeAll(owner: string): Promise<void> {
  if (podman) await new ContainerExecutor({ engine: podman, owner }).removeLeftovers();
}

/**
 * Removes the containers whose names start with `prefix` (a deploy target's release containers and
 * the network holders they join, which podman removes only with their dependants: `--depend`).
 */
export async function removeContainersNamed(prefix: string): Promise<void> {
  const ids = (await run('podman', ['ps', '--all', '--quiet', '--filter', `name=^${prefix}`]).catch(() => ({ stdout: '' }))).stdout;
  const list = ids.split('\n').filter(Boolean);
  if (list.length > 0) await run('podman', ['rm', '--force', '--depend', '--time', '0', ...list]).catch(() => undefined);
}

/**
 * A registry endpoint that demands Basic credentials and records the ones it gets; it holds no
 * images (there is no registry here), so a pull ends at "manifest unknown" once it authenticated.
 */
export async function credentialRecorder(): Promise<{
  host: string;
  authorizations: string[];
  registriesConf: string;
  close(): Promise<void>;
}> {
  const authorizations: string[] = [];
  const server = createServer((req, res) => {
    const auth = req.headers.authorization;
    const headers = { 'docker-distribution-api-version': 'registry/2.0', 'content-type': 'application/json' };
    if (!auth) {
      res.writeHead(401, { ...headers, 'www-authenticate': 'Basic realm="tandem-test"' }).end();
      return;
    }
    authorizations.push(auth);
    if (req.url === '/v2/') res.writeHead(200, headers).end('{}');
    else res.writeHead(404, headers).end(JSON.stringify({ errors: [{ code: 'MANIFEST_UNKNOWN', message: 'manifest unknown' }] }));
  });
  // Below the ephemeral range, where an outgoing connection cannot take the port.
  for (;;) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    const listening = await new Promise<boolean>((resolve) => {
      server.once('error', () => resolve(false));
      server.listen(port, '127.0.0.1', () => resolve(true));
    });
    if (listening) break;
  }
  const host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  // Plain HTTP for this host only; engines read it through CONTAINERS_REGISTRIES_CONF.
  const dir = await mkdtemp(join(tmpdir(), 'tandem-registries-'));
  const registriesConf = join(dir, 'registries.conf');
  await writeFile(registriesConf, `[[registry]]\nlocation = "${host}"\ninsecure = true\n`);
  return {
    host,
    authorizations,
    registriesConf,
    close: async () => {
      await new Promise((resolve) => server.close(resolve));
      await rm(dir, { recursive: true, force: true });
    },
  };
}
