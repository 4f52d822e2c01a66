// Pipelines that deploy the demo web service (examples/deploy/service) to a local target of a test's
// own: a deploy dir with a free port, a health check, and app/ holding the version to deploy.
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { writeDeployableDemoRelease } from './demo-service.js';
import { freePort } from './ports.js';
import type { TestTandem } from './tandem.js';

export interface LocalDeployTarget {
  /** The deploy dir: stop its services with stopDeployedDemoServices when done. */
  dir: string;
  /** Where the deployed service answers. */
  url: string;
  /** The pipeline file: a build job, then `deploy-<name>` deploying app/ to environment `name`. */
  file: string;
}

/** A deploy dir in the server's data dir with its own port, and the pipeline file deploying to it. */
export async function localDeployTarget(tandem: TestTandem, name: string, opts: { bake?: string } = {}): Promise<LocalDeployTarget> {
  const dir = path.join(tandem.dataDir, `deploy-${name}`);
  await mkdir(dir, { recursive: true });
  const port = await freePort();
  await writeFile(path.join(dir, 'port'), `${port}\n`);
  const url = `http://127.0.0.1:${port}`;
  const file = `stages: [build, deploy]
build:
  stage: build
  script: [echo "building $CI_COMMIT_SHORT_SHA"]
deploy-${name}:
  stage: deploy
  script: [echo "deploying $(cat app/VERSION)"]
  environment: { name: ${name}, url: "${url}" }
  deploy:
    source: app
    target: { local: { dir: "${dir}", keep: 5 } }
    service: { restart: sh service.sh }
    verify:
      - http: ${url}/health
        expect_status: 200
        interval: 200ms
        failures: 2
    bake: ${opts.bake ?? '300ms'}
`;
  return { dir, url, file };
}

/** The files of app/: the demo service reporting `version`, as repository files. */
export async function demoAppFiles(
  tandem: TestTandem,
  version: string,
  options: { unhealthy?: boolean } = {},
): Promise<Record<string, string | null>> {
  const dir = await mkdtemp(path.join(tandem.dataDir, 'app-'));
  await writeDeployableDemoRelease(dir, version, options);
  const files: Record<string, string | null> = {};
  for (const name of await readdir(dir)) files[`app/${name}`] = await readFile(path.join(dir, name), 'utf8');
  await rm(dir, { recursive: true });
  return files;
}

/** The version the deployed service reports now. */
export async function servingVersion(url: string): Promise<string> {
  const res = await fetch(`${url}/version`, { signal: AbortSignal.timeout(2000) });
  return (await res.text()).trim();
}
