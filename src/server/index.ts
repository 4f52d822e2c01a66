import { PIPELINE_COMPILE_WORKER } from '../deploy/index.js';
import { keepSpareCompileWorker, releaseSpareCompileWorkers } from '../pipeline/index.js';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import pino, { type Logger } from 'pino';
import { openArtifactStore } from '../artifacts/index.js';
import { openSecrets } from '../auth/index.js';
import { ensureBootstrapAdmin } from '../auth/index.js';
import { artifactsDirOf, databaseUrlOf, type TandemConfig } from '../config/index.js';
import { DrMetrics, readDrStatus } from '../dr/index.js';
import { countAgents } from '../monitor/index.js';
import { Metrics } from '../monitor/index.js';
import { SliRecorder } from '../monitor/index.js';
import { forgeCredentials, IncludeResolver, MirrorCache } from '../source/index.js';
import { gitCredentialsByUrl } from '../repos/index.js';
import { acquireInstanceLock, isPostgresUrl, NewerSchemaError, openStore, sqlitePath, type Store } from '../store/index.js';
import { setTimeout as sleep } from 'node:timers/promises';
import { buildApp } from './app.js';
import { secureDataDir, secureSqliteFiles } from './file-modes.js';
import { internalRemoteHost, moveUrlCredentials } from './repo-url.js';
import type { ServerContext } from './context.js';
import type { AlertingService } from './alerting.js';
import { startDuties } from './duties.js';
import { logMoverIdle } from './log-mover.js';
import { outboxHandlers } from './outbox-handlers.js';
import { forgetForgeRepo, OutboxSender } from '../outbox/index.js';
import { DatabaseClock } from './clock.js';
import { agentsNow, agentWithToken, claimJobs, markAgentsSeen, pendingTagSets } from '../scheduler/index.js';
import { AGENT_DIRECTORY_FORGET_MS, AGENT_DIRECTORY_REFRESH_MS, AgentDirectory } from './agent-directory.js';
import { agentSeenEveryMs, CLAIM_BATCH, Dispatcher, DISPATCH_REPAIR_MS, POSTGRES_CLAIM_LANES } from './dispatcher.js';
import { Hub } from './hub.js';
import { EventStreamLimits } from './sse.js';
import { packageVersion } from '../version.js';

const DRAIN_GRACE_MS = 2000;
const CLOCK_SYNC_MS = 30_000;

export { DatabaseClock } from './clock.js';
export { publishChanges } from './notify.js';

export interface RunningServer {
  url: string;
  ctx: ServerContext;
  /** Alert evaluation and notifications (run by the leader on their own; exposed for benchmarks and checks). */
  alerting: AlertingService;
  /** The admin token when it was created by this start (print it once). */
  newAdminToken: string | null;
  /** The admin's web UI password when this start generated it (print it once). */
  newAdminPassword: string | null;
  /** Graceful stop: refuse new work, let requests finish, stop duties, close the database. */
  close(): Promise<void>;
}

/**
 * A server started before its database (a cluster booting, a failover under way) waits for it,
 * saying why, instead of exiting; it listens only once ready, so load balancers keep it out.
 * A schema newer than this Tandem, or a SQLite file that cannot be opened, fails at once.
 */
async function openStoreWhenReachable(url: string, log: Logger, metrics: Metrics): Promise<Store> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await openStore(url, { observer: metrics.storeObserver });
    } catch (err) {
      if (!isPostgresUrl(url) || err instanceof NewerSchemaError) throw err;
      const retryInMs = Math.min(10_000, 250 * 2 ** attempt);
      log.warn({ err: (err as Error).message, attempt, retryInMs }, 'database unreachable; retrying');
      await sleep(retryInMs);
    }
  }
}

/** `generateAdminPassword`: a first start without `adminPassword` gives the admin a random one (the CLI's servers). */
export async function startServer(
  config: TandemConfig,
  log: Logger = pino({ level: config.logLevel }),
  opts: { generateAdminPassword?: boolean } = {},
): Promise<RunningServer> {
  await secureDataDir(config.dataDir, log);
  const metrics = new Metrics();
  const databaseUrl = databaseUrlOf(config);
  const store = await openStoreWhenReachable(databaseUrl, log, metrics);
  if (store.dialect === 'sqlite' && sqlitePath(databaseUrl) !== ':memory:') await secureSqliteFiles(sqlitePath(databaseUrl), log);
  const replicaId = `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
  const instanceLock = store.dialect === 'sqlite' ? await acquireInstanceLock(store, replicaId) : null;
  const clock = new DatabaseClock(store);
  await clock.sync();
  clock.start(CLOCK_SYNC_MS, (err) => log.warn({ err: err.message }, 'cannot read the database clock'));
  // Refused keys end the start: release the database and the instance lock for the next try.
  const secrets = await openSecrets(store, config, { now: () => clock.now(), log }).catch(async (err: unknown) => {
    clock.stop();
    await instanceLock?.release();
    await store.close();
    throw err;
  });
  await moveUrlCredentials({ store, secrets }, log);
  const bootstrap = await ensureBootstrapAdmin(store, {
    dataDir: config.dataDir,
    now: clock.now(),
    password: config.adminPassword,
    generatePassword: opts.generateAdminPassword,
    passwordMinLength: config.passwordMinLength,
  });
  // Registers the backup and drill gauges, read from the database at each scrape.
  new DrMetrics(
    metrics.registry,
    () => readDrStatus(store.db),
    () => clock.now(),
  );
  // The alerting duty's view: the freshest good backup anywhere, and whether any latest drill failed.
  metrics.drSignalsFrom(async () => {
    const status = await readDrStatus(store.db);
    const newest = Math.max(...status.backups.map((b) => b.snapshotAt));
    return {
      backupAgeSeconds: status.backups.length === 0 ? null : (clock.now() - newest) / 1000,
      drillFailed: status.drills.length === 0 ? null : status.drills.some((d) => !d.ok),
    };
  });
  const blobs = openArtifactStore(artifactsDirOf(config), config.artifactsReplicaUrl, (which, operation, err) => {
    metrics.artifactStoreErrors.inc({ store: which, operation });
    log.warn({ store: which, operation, err: (err as Error).message }, 'artifact store operation failed');
  });
  const repoCredentials = gitCredentialsByUrl({ store, secrets });
  // The forge's token reads its projects; a registered repository's URL keeps its own credentials.
  const mirrors = new MirrorCache(join(config.dataDir, 'mirrors'), {
    credentials: async (url) => (await repoCredentials(url)) ?? forgeCredentials(config.forge, url),
  });
  const includes = new IncludeResolver({
    mirrors,
    forge: config.forge,
    timeoutMs: config.includeFetchTimeoutSeconds * 1000,
    cacheTtlMs: config.includeCacheSeconds * 1000,
    remoteHostRefusal: internalRemoteHost,
  });
  const dispatcher = new Dispatcher({
    claim: (agentIds, tags) => claimJobs(store, { agentIds, agentTags: tags, leaseMs: config.leaseSeconds * 1000, now: clock.now() }),
    pendingTagSets: (limit) => pendingTagSets(store.db, limit),
    markSeen: (agentIds) => markAgentsSeen(store.db, { agentIds, now: clock.now(), everyMs: agentSeenEveryMs(config.leaseSeconds) }),
    onAttempt: (result) => metrics.claimAttempts.inc({ result }),
    onError: (err) => log.warn({ err: (err as Error).message }, 'dispatching jobs to waiting agents failed'),
    claimLanes: store.dialect === 'postgres' ? POSTGRES_CLAIM_LANES : 1,
    claimBatch: CLAIM_BATCH,
    repairMs: DISPATCH_REPAIR_MS,
    seenMs: agentSeenEveryMs(config.leaseSeconds),
  });
  const agents = new AgentDirectory({
    lookup: (tokenHash) => agentWithToken(store.db, tokenHash),
    reread: (agentIds) => agentsNow(store.db, agentIds),
    onChange: (agentId) => dispatcher.release(agentId),
    onError: (err) => log.warn({ err: (err as Error).message }, 'reading the agents held by this replica again failed'),
    now: () => clock.now(),
    refreshMs: AGENT_DIRECTORY_REFRESH_MS,
    forgetAfterMs: AGENT_DIRECTORY_FORGET_MS,
  });
  const base: Omit<ServerContext, 'outbox'> = {
    config,
    store,
    blobs,
    mirrors,
    includes,
    hub: new Hub(replicaId),
    dispatcher,
    agents,
    eventStreams: new EventStreamLimits({ perPrincipal: config.maxEventStreamsPerPrincipal, total: config.maxEventStreams }, (reason) =>
      metrics.refusedLoad.inc({ reason }),
    ),
    clock,
    metrics,
    sli: new SliRecorder({ db: store.db, metrics, now: () => clock.now(), log, scale: config.sloWindowScale }),
    log,
    externalUrl: config.externalUrl ?? '',
    replicaId,
    state: { draining: false },
    version: await packageVersion(),
    secrets,
    compileWorker: PIPELINE_COMPILE_WORKER,
  };
  // The same object, not a copy: the handlers hold `base`, and see what is set on ctx later (externalUrl).
  const ctx: ServerContext = Object.assign(base, {
    outbox: new OutboxSender({
      store,
      handlers: outboxHandlers(base),
      replica: replicaId,
      now: () => clock.now(),
      log,
      observe: (topic, result) => metrics.outboxDeliveries.inc({ topic, result }),
      claimMs: config.outboxClaimSeconds * 1000,
    }),
  });
  metrics.countAgentsWith(() => countAgents(store.db, clock.now(), config.leaseSeconds * 1000));
  metrics.countWaitingWith(() => dispatcher.waiting);
  // Several replicas on PostgreSQL: live events reach every replica's subscribers.
  const stopRelay = store.notifications ? await ctx.hub.relayThrough(store.notifications) : null;
  ctx.hub.subscribe('queue', () => ctx.dispatcher.wake());
  ctx.hub.subscribe('agent', (event) => {
    if (event.type === 'agent') ctx.agents.changed(event.agentId);
  });
  ctx.hub.subscribe('repo_forge', (event) => {
    if (event.type === 'repo_forge') forgetForgeRepo(event.repoId);
  });
  const { app } = buildApp(ctx);
  await app.listen({ port: config.port, host: config.listen });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  const host = config.listen.includes(':') ? `[${config.listen}]` : config.listen;
  const url = `http://${host}:${port}`;
  ctx.externalUrl = (config.externalUrl ?? url).replace(/\/$/, '');
  const duties = startDuties(ctx);
  ctx.sli.start();
  // Pipelines compile in worker threads: one waits ready, so a push does not wait for a thread to start.
  keepSpareCompileWorker(ctx.compileWorker);
  ctx.outbox.start();
  log.info({ url, replicaId, database: store.dialect }, 'server started');

  let closing: Promise<void> | null = null;
  return {
    url,
    ctx,
    alerting: duties.alerting,
    newAdminToken: bootstrap?.token ?? null,
    newAdminPassword: bootstrap?.generatedPassword ?? null,
    close() {
      closing ??= (async () => {
        ctx.state.draining = true;
        // This replica's long-polls answer "no job" at once; the event tells its presence streams to move.
        await ctx.dispatcher.stop();
        ctx.agents.stop();
        ctx.hub.publish({ type: 'queue' });
        await duties.stop();
        await ctx.outbox.stop();
        await releaseSpareCompileWorkers();
        // Requests get a grace period to finish; then the connections still open (SSE streams,
        // idle keep-alives) are closed, and their clients reconnect to another replica.
        const cutOff = setTimeout(() => app.server.closeAllConnections(), DRAIN_GRACE_MS);
        await app.close();
        clearTimeout(cutOff);
        // A log half moved would be finished by the next start, but not with the store closed under it.
        await logMoverIdle(ctx);
        await stopRelay?.();
        await ctx.sli.stop();
        clock.stop();
        await instanceLock?.release();
        await store.close();
        blobs.close?.();
        await mirrors.close();
      })();
      return closing;
    },
  };
}
