// `tandem server`, `tandem agent` and `tandem up`: long-running processes with graceful shutdown.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import pino from 'pino';
import { Agent } from '../agent/index.js';
import { containerSettingsOf, loadConfig, type TandemConfig } from '../config/index.js';
import { secretPathsOf } from './secret-paths.js';
import { chooseHostExecutor } from '../executor/index.js';
import { startServer, type RunningServer } from '../server/index.js';
import { packageVersion } from '../version.js';
import { CliError } from './api-client.js';
import { registerDemo } from './demo.js';
import { prettyDestination, prettyLogs } from './log-format.js';

type Flags = Record<string, unknown>;

function logger(config: TandemConfig) {
  const destination = prettyLogs(config.logFormat, process.stderr) ? prettyDestination(process.stderr) : pino.destination(2);
  return pino({ level: config.logLevel }, destination);
}

/** Stops on the first SIGINT/SIGTERM; a second one exits at once. */
function onShutdown(stop: () => Promise<void>): void {
  let stopping = false;
  const handler = (signal: NodeJS.Signals) => {
    if (stopping) process.exit(130);
    stopping = true;
    console.error(`${signal}: draining (send again to exit at once)`);
    stop().then(
      () => process.exit(0),
      (err: unknown) => {
        console.error(`shutdown failed: ${(err as Error).message}`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
}

function announce(server: RunningServer, embedded = false): void {
  const dataDir = server.ctx.config.dataDir;
  if (server.newAdminToken) console.log(`Admin token (shown once; also in ${join(dataDir, 'admin.token')}): ${server.newAdminToken}`);
  if (server.newAdminPassword)
    console.log(
      `Web UI sign-in: admin / ${server.newAdminPassword} (shown once; also in ${join(dataDir, 'admin.password')}; change it with tandem user passwd)`,
    );
  console.log(`Tandem listening on ${server.url} (web UI at ${server.url}/)`);
  // What a new user needs next: the CLI is this package's bin, so npx finds it in a checkout.
  console.log(
    `Command line: npx tandem --help, e.g. npx tandem run list <repo> (it reads the admin token in ${dataDir}; from elsewhere pass --data-dir or TANDEM_TOKEN)`,
  );
  if (embedded) console.log('Another port: npm start -- --port 9000 (or tandem up --port 9000, or TANDEM_PORT=9000)');
}

export async function runServer(flags: Flags): Promise<void> {
  const config = loadConfig(flags);
  const server = await startServer(config, logger(config), { generateAdminPassword: true });
  // Handlers first: whoever waits for the announcement may send SIGTERM right after it.
  onShutdown(() => server.close());
  announce(server);
}

export async function runAgent(flags: Flags): Promise<void> {
  const config = loadConfig(flags);
  if (config.server.length === 0) throw new CliError('agent: --server URL (or TANDEM_SERVER) is required');
  if (!config.token)
    throw new CliError(
      'agent: --token (or TANDEM_TOKEN) is required: an agent token, or an agent registration token (tandem token create --scope register_agent)',
    );
  const agent = new Agent({
    servers: config.server,
    token: config.token,
    concurrency: config.concurrency,
    workDir: config.workDir ?? join(config.dataDir, 'agent'),
    tags: config.tags,
    executor: config.executor,
    container: containerSettingsOf(config),
    name: config.name,
    hiddenPaths: secretPathsOf(config, flags),
    log: logger(config),
    version: await packageVersion(),
  });
  await agent.start();
  console.log(`Tandem agent ${agent.name} running ${config.concurrency} slot(s) against ${config.server.join(', ')}`);
  onShutdown(() => agent.stop());
}

/** Server and two agents in one process: the embedded default. */
export async function runUp(flags: Flags & { demo?: boolean; agents?: string }): Promise<void> {
  const config = loadConfig(flags);
  const log = logger(config);
  const server = await startServer(config, log, { generateAdminPassword: true });
  const token = (await readFile(join(config.dataDir, 'admin.token'), 'utf8')).trim();
  const agentCount = Number(flags.agents ?? 2);
  const hiddenPaths = secretPathsOf(config, flags);
  // Said once and plainly at startup too: the agents' own warnings go only to the log.
  const { executor, warnings } = await chooseHostExecutor(config.executor === 'container' ? 'auto' : config.executor, { hiddenPaths });
  for (const warning of warnings) console.log(`WARNING: ${warning}`);
  const agents: Agent[] = [];
  for (let i = 1; i <= agentCount; i++) {
    const agent = new Agent({
      servers: [server.url],
      token,
      concurrency: config.concurrency,
      workDir: join(config.dataDir, `agent-${i}`),
      tags: config.tags,
      executor: config.executor,
      container: containerSettingsOf(config),
      name: `local-${i}`,
      hiddenPaths,
      // Same process as the server: share its mirrors, which already hold every commit it queued.
      mirrors: server.ctx.mirrors,
      log: log.child({ agent: `local-${i}` }),
      version: server.ctx.version,
    });
    await agent.start();
    agents.push(agent);
  }
  onShutdown(async () => {
    server.ctx.state.draining = true;
    await Promise.all(agents.map((a) => a.stop()));
    await server.close();
  });
  announce(server, true);
  console.log(
    `Jobs without an image run with the ${executor.name} executor${executor.name === 'sandbox' ? ' (bubblewrap: read-only system, secrets hidden, no capabilities)' : ''}`,
  );
  if (flags.demo) {
    const pipelineId = await registerDemo(server);
    console.log(`Demo repository registered; pipeline #${pipelineId} is running: ${server.url}/  (tandem run show ${pipelineId})`);
  }
}
