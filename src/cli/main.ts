#!/usr/bin/env node
// The `tandem` command. Each subcommand is a thin layer over a module; errors end with a one-line
// message and a non-zero exit code, never a stack trace for a user mistake.
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Argument, Command, Option } from 'commander';
import { ConfigError } from '../config/index.js';
import { lintFile, formatDiagnostic, pipelineJsonSchema } from '../pipeline/index.js';
import { packageVersion } from '../version.js';
import { CliError } from './api-client.js';
import { completionScript, completionShells } from './completion.js';
import { withCredentialOptions } from './credential-options.js';
import { withForgeOptions } from './forge-options.js';
import { withRegistryOptions } from './registry-options.js';

// Commands load their modules on use: a client command or `exec` should not pay for loading the
// server (Fastify, the store, the scheduler) at every start.
const local = () => import('./local.js');
const remote = () => import('./remote.js');
const schedules = () => import('./schedules.js');
const deploy = () => import('./deploy.js');
const secrets = () => import('./secrets.js');
const monitoring = () => import('./monitoring.js');
const auth = () => import('./auth.js');
const alerting = () => import('./alerts.js');
const dr = () => import('./dr.js');
const notifications = () => import('./notifications.js');

const program = new Command();
program
  .name('tandem')
  .description('Tandem: a CI/CD server that keeps building when its parts fail')
  .version(await packageVersion());

const serverOptions = (cmd: Command) =>
  cmd
    .option('--config <file>', 'tandem.yml with settings (TANDEM_CONFIG)')
    .option('--data-dir <dir>', 'data directory (TANDEM_DATA_DIR, default ./.tandem)')
    .option('--port <port>', 'port; 0 picks a free one (TANDEM_PORT, default 8080)')
    .option('--listen <host>', 'address to listen on (TANDEM_LISTEN, default 127.0.0.1)')
    .option('--database-url <url>', 'SQLite path or postgresql:// URL (TANDEM_DATABASE_URL)')
    .option(
      '--artifacts-url <url>',
      'artifact store: a directory or s3://bucket/prefix[?endpoint=…] (TANDEM_ARTIFACTS_URL; AWS_* credentials)',
    )
    .option('--artifacts-replica-url <url>', 'a second artifact store receiving every blob too (TANDEM_ARTIFACTS_REPLICA_URL)')
    .option('--external-url <url>', 'URL agents and users reach this server by (TANDEM_EXTERNAL_URL)')
    .option(
      '--master-key-file <file>',
      'master key of secrets at rest (TANDEM_MASTER_KEY_FILE or TANDEM_MASTER_KEY; default <data-dir>/master.key)',
    )
    .option('--log-level <level>', 'trace, debug, info, warn, error (TANDEM_LOG_LEVEL)')
    .addOption(logFormatOption());

/** Shared by servers and agents: people read a terminal, programs read JSON. */
function logFormatOption(): Option {
  return new Option('--log-format <format>', 'pretty (default on a terminal) or json (default otherwise) (TANDEM_LOG_FORMAT)').choices([
    'auto',
    'json',
    'pretty',
  ]);
}

const agentOptions = (cmd: Command) =>
  cmd
    .option('--concurrency <n>', 'jobs run at once per agent (TANDEM_CONCURRENCY, default 2)')
    .option('--tags <tags>', 'comma-separated agent tags (TANDEM_TAGS)')
    .addOption(
      new Option(
        '--executor <kind>',
        'jobs without an image: shell, sandbox (bubblewrap), auto, or container (an engine is required) (TANDEM_EXECUTOR, default auto: the sandbox where bubblewrap works)',
      ).choices(['shell', 'sandbox', 'auto', 'container']),
    )
    .addOption(containerEngineOption());

/** Container settings shared by agents and `tandem exec`. */
const containerOptions = (cmd: Command) =>
  cmd
    .option('--container-engine-args <flags>', 'flags before every engine command, e.g. "--runtime runc" (TANDEM_CONTAINER_ENGINE_ARGS)')
    .option('--container-run-args <flags>', 'flags for every container, e.g. "--ulimit nofile=1024:1024" (TANDEM_CONTAINER_RUN_ARGS)')
    .option('--default-image <image>', 'image of jobs that name none (TANDEM_DEFAULT_IMAGE)');

function containerEngineOption(): Option {
  return new Option(
    '--container-engine <engine>',
    'runs jobs that name an image: auto, podman, docker or none (TANDEM_CONTAINER_ENGINE, default auto)',
  ).choices(['auto', 'podman', 'docker', 'none']);
}

const clientOptions = (cmd: Command) =>
  cmd
    .option('--server <url>', 'server URL (TANDEM_SERVER; default: that of the last tandem login)')
    .option('--token <token>', 'API token (TANDEM_TOKEN; default: the one tandem login saved)')
    .option('--data-dir <dir>', 'read the admin token of a local server from here');

serverOptions(
  containerOptions(agentOptions(program.command('up').description('server and two local agents in one process (the embedded default)'))),
)
  .option('--demo', 'register examples/demo and build it at once')
  .option('--agents <n>', 'local agents to start', '2')
  .action(async (opts) => (await local()).runUp(opts));

serverOptions(program.command('server').description('run a server replica')).action(async (opts) => (await local()).runServer(opts));

containerOptions(agentOptions(program.command('agent').description('run an agent that takes jobs from servers')))
  .option('--server <urls>', 'server URL(s), comma-separated (TANDEM_SERVER)')
  .option('--token <token>', 'agent token, or an agent registration token (or an admin token) to register with (TANDEM_TOKEN)')
  .option('--work-dir <dir>', 'workspaces and mirror cache (TANDEM_WORK_DIR)')
  .option('--name <name>', 'agent name (TANDEM_NAME, default host-pid)')
  .option('--data-dir <dir>', 'directory hidden from sandboxed jobs')
  .option('--config <file>', 'tandem.yml with settings')
  .option('--log-level <level>', 'log level')
  .addOption(logFormatOption())
  .action(async (opts) => (await local()).runAgent(opts));

program
  .command('lint')
  .description('check a pipeline file; errors name file:line:column')
  .argument('[file]', 'pipeline file', '.tandem.yml|.gitlab-ci.yml')
  .option('--json', 'diagnostics as JSON')
  .option('--include-source <group/name=URL...>', 'read include:project and include:component from this project (git URL or local path)')
  .option('--forge-url <url>', 'read other projects and include:template from this forge')
  .option(
    '--remote',
    'read foreign includes (remote, template, project) even without the flags above; without any of these, lint skips them with a warning',
  )
  .action(async (file: string, opts: { json?: boolean; includeSource?: string[]; forgeUrl?: string; remote?: boolean }) => {
    const { existsSync } = await import('node:fs');
    const path = file === '.tandem.yml|.gitlab-ci.yml' ? (existsSync('.tandem.yml') ? '.tandem.yml' : '.gitlab-ci.yml') : file;
    if (!existsSync(path)) throw new CliError(`${path}: no such file`);
    const { checkDeployBlock } = await import('../deploy/index.js');
    const reads = opts.includeSource !== undefined || opts.forgeUrl !== undefined || opts.remote === true;
    const readIncludeFile = reads ? (await import('./include-sources.js')).includeReader(path, opts) : undefined;
    const result = await lintFile(path, { checkDeployBlock, readIncludeFile });
    if (opts.json) console.log(JSON.stringify(result.diagnostics, null, 2));
    else for (const d of result.diagnostics) console.log(formatDiagnostic(d));
    if (!result.ok) process.exitCode = 1;
    else if (!opts.json) console.log(`${path}: valid`);
  });

program
  .command('schema')
  .description('print the JSON Schema of pipeline files (for editor completion)')
  .action(() => console.log(JSON.stringify(pipelineJsonSchema(), null, 2)));

containerOptions(program.command('exec'))
  .description('run a pipeline file here, without a server (uncommitted changes included)')
  .argument('[jobs...]', 'run only these jobs')
  .option('--file <file>', 'pipeline file (default .tandem.yml, else .gitlab-ci.yml)')
  .option('--concurrency <n>', 'jobs at once', '2')
  .option('--manual <job...>', 'manual jobs to play')
  .option('--variable <KEY=VALUE...>', 'extra variables')
  .option('--include-source <group/name=URL...>', 'where include:project and include:component find a project (git URL or local path)')
  .option('--forge-url <url>', 'a GitLab-compatible forge for other projects and include:template (e.g. https://gitlab.com)')
  .addOption(
    new Option('--executor <kind>', 'jobs without an image: shell, sandbox, auto, or container (TANDEM_EXECUTOR, default shell)').choices([
      'shell',
      'sandbox',
      'auto',
      'container',
    ]),
  )
  .addOption(containerEngineOption())
  .option('--quiet', 'no job logs, only the summary')
  .option('--from-job <id>', "run a server's job again here: its commit, variables (secrets withheld) and dependencies' artifacts")
  .option('--dir <dir>', 'with --from-job: where its commit is checked out (default ./tandem-job-<id>)')
  .option('--repo-url <url>', "with --from-job: clone from here instead of the server's repository URL")
  .option('--server <url>', 'with --from-job: server URL (TANDEM_SERVER; default: that of the last tandem login)')
  .option('--token <token>', 'with --from-job: API token (TANDEM_TOKEN; default: the one tandem login saved)')
  .action(async (jobs: string[], opts) => (await import('./exec.js')).runExec(jobs, opts));

const repo = program.command('repo').description('manage repositories');
/** The options `repo add` and `repo edit` share: the settings of remote.ts RepoSettingsOptions. */
const repoSettingsOptions = (cmd: Command, pathDefault: string) =>
  withRegistryOptions(withForgeOptions(withCredentialOptions(clientOptions(cmd))))
    .option('--path <group/name>', `GitLab's project path, named by include:project${pathDefault}`)
    .option('--default-branch <branch>')
    .option('--poll-interval <seconds>', 'poll with git ls-remote every N seconds (0: off)')
    .addOption(
      new Option('--visibility <visibility>', 'public: its badges are readable without a token (default private)').choices([
        'private',
        'public',
      ]),
    )
    .addOption(
      new Option('--quarantine-flaky-tests <on|off>', 'on: a job failing only known-flaky tests is allowed to fail (default off)').choices([
        'on',
        'off',
      ]),
    )
    .option('--max-concurrent-jobs <n|none>', 'run at most N of its jobs at once; none: no limit (the default)')
    .option('--json');
repoSettingsOptions(
  repo
    .command('add')
    .description('register a repository: it gets pipelines on push (webhook or polling)')
    .argument('<name>')
    .argument('<url>', 'git URL or local path'),
  ' (default: the name)',
)
  .option('--webhook-secret <secret>', 'secret for webhook signatures')
  .action(async (name: string, url: string, opts) => (await remote()).repoAdd(name, url, opts));
repoSettingsOptions(
  repo
    .command('edit')
    .description("change a repository's settings; only the options given change")
    .argument('<name>')
    .argument('[url]', 'a new git URL or local path')
    .option('--no-credentials', "remove the repository's token or deploy key"),
  '',
).action(async (name: string, url: string | undefined, opts) => (await remote()).repoEdit(name, url, opts));
clientOptions(repo.command('list').description('repositories you can read').option('--json')).action(async (opts) =>
  (await remote()).repoList(opts),
);
clientOptions(repo.command('rm').description('remove a repository').argument('<name>')).action(async (name: string, opts) =>
  (await remote()).repoRemove(name, opts),
);

const variable = program.command('var').description('manage CI/CD variables of a repository');
clientOptions(
  variable
    .command('set')
    .description('add or change a variable')
    .argument('<repo>')
    .argument('<key>')
    .argument('[value]', 'the value; without it and --value-stdin, asked on the terminal without echo'),
)
  .option('--value-stdin', 'read the value from stdin (it stays out of the shell history)')
  .option('--masked', 'hide the value in job logs and the API')
  .option('--protected', 'only for pipelines on protected branches (tandem branch protect)')
  .option('--file', 'the job gets a file holding the value')
  .action(async (r: string, key: string, value: string | undefined, opts) => (await remote()).varSet(r, key, value, opts));
clientOptions(
  variable.command('list').description("a repository's variables (masked values hidden)").argument('<repo>').option('--json'),
).action(async (r: string, opts) => (await remote()).varList(r, opts));
clientOptions(variable.command('rm').description('remove a variable').argument('<repo>').argument('<key>')).action(
  async (r: string, key: string, opts) => (await remote()).varRemove(r, key, opts),
);

const notification = program
  .command('notification')
  .description('pipeline notifications: email, Slack, Microsoft Teams, signed webhooks (docs/operations.md)');
clientOptions(
  notification
    .command('add')
    .description("tell someone about a repository's pipelines (maintainers), or yourself (--mine)")
    .argument('[repo]', 'the repository (with --mine: only this one; default every repository you can read)'),
)
  .option('--type <type>', 'email, slack, teams or webhook (default email)', 'email')
  .option('--target <target>', 'email addresses (comma-separated) or the webhook URL (--mine email: your own address)')
  .requiredOption('--events <events>', 'comma-separated: failed, fixed, success, manual')
  .option('--secret-file <file>', "a webhook's signing secret (X-Tandem-Signature: HMAC-SHA256 of the body)")
  .option('--mine', "your own notification, not the repository's")
  .option('--json')
  .action(async (r: string | undefined, opts) => (await notifications()).notificationAdd(r, opts));
clientOptions(
  notification
    .command('list')
    .description('notifications of a repository, or yours (--mine)')
    .argument('[repo]')
    .option('--mine', 'your own notifications')
    .option('--json'),
).action(async (r: string | undefined, opts) => (await notifications()).notificationList(r, opts));
clientOptions(notification.command('rm').description('stop a notification').argument('<id>')).action(async (id: string, opts) =>
  (await notifications()).notificationRemove(id, opts),
);

const run = program.command('run').description('pipelines and jobs');
clientOptions(
  run.command('list').description('pipelines of a repository, newest first').argument('<repo>').option('--limit <n>').option('--json'),
).action(async (r: string, opts) => (await remote()).runList(r, opts));
clientOptions(run.command('show').description('a pipeline with its jobs').argument('<pipeline>').option('--json')).action(
  async (id: string, opts) => (await remote()).runShow(id, opts),
);
clientOptions(
  run.command('logs').description("a job's log (--follow: live)").argument('<job>').option('-f, --follow', 'stream until the job ends'),
).action(async (id: string, opts) => (await remote()).runLogs(id, opts));
clientOptions(
  run
    .command('tests')
    .description("a pipeline's test report: the summary, then each failing test with its message")
    .argument('<pipeline>')
    .option('--job <name>', 'only the report of this job')
    .option('--failed', 'only the failing tests, without the summary')
    .option('--json'),
).action(async (id: string, opts) => (await import('./tests.js')).runTests(id, opts));
clientOptions(run.command('trigger').description('start a pipeline on a branch, tag or commit').argument('<repo>'))
  .option('--ref <ref>', 'branch or tag (default: the default branch)')
  .option('--sha <sha>', 'exact commit')
  .option('--variable <KEY=VALUE...>', 'pipeline variables')
  .option('--follow', 'follow until the pipeline ends; exit 1 unless it succeeds')
  .option('--json')
  .action(async (r: string, opts) => (await remote()).runTrigger(r, opts));
clientOptions(
  run
    .command('cancel')
    .description('cancel a job, or a pipeline with --pipeline')
    .argument('<id>')
    .option('--pipeline', 'the id is a pipeline (default: a job)')
    .option('--json'),
).action(async (id: string, opts) => (await remote()).runAction('cancel', id, opts));
clientOptions(
  run
    .command('retry')
    .description("retry a job, or a pipeline's failed jobs with --pipeline")
    .argument('<id>')
    .option('--pipeline', 'the id is a pipeline: retry its failed and canceled jobs (default: the id is a job)')
    .option('--json'),
).action(async (id: string, opts) => (await remote()).runAction('retry', id, opts));
clientOptions(
  run
    .command('watch')
    .description('follow the pipeline a push starts: exit 0 when it succeeds, 1 when it fails, 2 on timeout')
    .argument('<repo>'),
)
  .option('--ref <ref>', 'only a pipeline of this branch or tag')
  .option('--sha <sha>', 'the pipeline of this commit, even one made before the command started')
  .option('--timeout <seconds>', 'give up after this long (finding the pipeline included)', '3600')
  .option('--json', 'events as JSON lines')
  .action(async (r: string, opts) => (await import('./watch.js')).runWatch(r, opts));
clientOptions(
  run
    .command('play')
    .description('start a manual job (on a protected environment: approve its deploy)')
    .argument('<job>')
    .option('--comment <text>', 'why: kept with the job, shown on the release timeline')
    .option('--json'),
).action(async (id: string, opts) => (await remote()).runAction('play', id, opts));

const test = program.command('test').description('test history: flaky tests and one test across pipelines (docs/test-reports.md)');
clientOptions(
  test
    .command('flaky')
    .description('tests that failed, then passed on a retry of the same commit, most recent first')
    .argument('<repo>')
    .option('--limit <n>', 'at most this many (default 100)')
    .option('--json'),
).action(async (r: string, opts) => (await import('./test-history.js')).testFlaky(r, opts));
clientOptions(
  test
    .command('history')
    .description('one test on the default branch: its last runs, how often it failed, when its failing streak began')
    .argument('<repo>')
    .argument('<test>', 'its name, or class.name as listings show it')
    .option('--case <key>', 'the case key (from --json listings) when several tests share the name')
    .option('--runs <n>', 'runs to show and count failures in (default 20)')
    .option('--json'),
).action(async (r: string, name: string, opts) => (await import('./test-history.js')).testHistory(r, name, opts));

const schedule = program.command('schedule').description('pipeline schedules: cron patterns that run a ref (docs/api.md)');
const scheduleFields = (cmd: Command) =>
  cmd
    .option('--timezone <tz>', 'IANA time zone of the pattern (default UTC)')
    .option('--ref <ref>', 'branch or tag to run (default: the default branch)')
    .option('--description <text>')
    .option('--variable <KEY=VALUE...>', 'pipeline variables (on edit: replace all of them)')
    .option('--json');
scheduleFields(clientOptions(schedule.command('add').description('add a schedule to a repository').argument('<repo>')))
  .requiredOption('--cron <pattern>', 'cron pattern: 5 fields, or 6 with seconds first')
  .option('--inactive', 'added switched off')
  .action(async (r: string, opts) => (await schedules()).scheduleAdd(r, opts));
clientOptions(
  schedule.command('list').description("a repository's schedules with their next run").argument('<repo>').option('--json'),
).action(async (r: string, opts) => (await schedules()).scheduleList(r, opts));
scheduleFields(clientOptions(schedule.command('edit').description('change a schedule; only the options given change').argument('<id>')))
  .option('--cron <pattern>')
  .option('--active', 'switch on (the next time counts from now)')
  .option('--inactive', 'switch off')
  .option('--take-ownership', 'run with your permissions from now on')
  .action(async (id: string, opts) => (await schedules()).scheduleEdit(id, opts));
clientOptions(schedule.command('rm').description('remove a schedule').argument('<id>')).action(async (id: string, opts) =>
  (await schedules()).scheduleRemove(id, opts),
);
clientOptions(schedule.command('run').description("run a schedule's pipeline now").argument('<id>').option('--json')).action(
  async (id: string, opts) => (await schedules()).scheduleRun(id, opts),
);

const artifact = program.command('artifact').description('job artifacts');
clientOptions(
  artifact
    .command('get')
    .description('download one artifact file of a job, or all as .tar.gz')
    .argument('<job>')
    .argument('[path]', 'one file; all as .tar.gz when absent'),
)
  .option('-o, --output <file>', 'where to write ("-" for stdout)')
  .action(async (job: string, path: string | undefined, opts) => (await remote()).artifactGet(job, path, opts));
clientOptions(
  artifact
    .command('list')
    .description("a job's artifact files, with the report type of those artifacts:reports collected")
    .argument('<job>'),
)
  .option('--json')
  .action(async (job: string, opts) => (await import('./artifact-list.js')).artifactList(job, opts));

const env = program.command('env').description('environments and their releases');
clientOptions(
  env.command('list').description('environments of a repository and what is live in each').argument('<repo>').option('--json'),
).action(async (r: string, opts) => (await deploy()).envList(r, opts));
clientOptions(
  env
    .command('releases')
    .description("an environment's releases, newest first")
    .argument('<repo>')
    .argument('<env>')
    .option('--limit <n>')
    .option('--json'),
).action(async (r: string, e: string, opts) => (await deploy()).envReleases(r, e, opts));
clientOptions(
  env
    .command('protect')
    .description('deploys to the environment wait for an approval (--off: no longer)')
    .argument('<repo>')
    .argument('<env>')
    .option('--off', 'no longer protected')
    .option('--json'),
).action(async (r: string, e: string, opts) => (await deploy()).envProtect(r, e, opts));
for (const decision of ['promote', 'abort'] as const) {
  clientOptions(
    env
      .command(decision)
      .description(decision === 'promote' ? 'let a paused release go on (canary promote)' : 'stop a paused release: it is rolled back')
      .argument('<repo>')
      .argument('<env>')
      .argument('<release>')
      .option('--json'),
  ).action(async (r: string, e: string, id: string, opts) => (await deploy()).envDecide(decision, r, e, id, opts));
}
clientOptions(
  program
    .command('rollback')
    .description('roll an environment back to an earlier release (default: the one before the current)')
    .argument('<repo>')
    .argument('<env>'),
)
  .option('--to <release>', 'release id to bring back')
  .option('-y, --yes', 'do not ask (required when not on a terminal)')
  .option('--follow', 'follow the rollback pipeline; exit 1 unless it succeeds')
  .option('--json')
  .action(async (r: string, e: string, opts) => (await deploy()).rollback(r, e, opts));

const secret = program
  .command('secrets')
  .description('keys of secrets at rest and of the tokens Tandem signs (run with the server configuration)');
const storeOptions = (cmd: Command) =>
  cmd
    .option('--config <file>', 'tandem.yml with settings (TANDEM_CONFIG)')
    .option('--data-dir <dir>', 'data directory (TANDEM_DATA_DIR)')
    .option('--database-url <url>', 'SQLite path or postgresql:// URL (TANDEM_DATABASE_URL)')
    .option('--master-key-file <file>', 'the current master key (TANDEM_MASTER_KEY_FILE or TANDEM_MASTER_KEY)')
    .option('--json');
storeOptions(secret.command('status').description('master key, data keys and signing keys')).action(async (opts) =>
  (await secrets()).secretsStatus(opts),
);
storeOptions(
  secret.command('rotate').description('new data key; re-encrypt every secret under it in batches (resumable); delete unused old keys'),
)
  .option('--batch-size <n>', 'values per transaction', '500')
  .action(async (opts) => (await secrets()).secretsRotate(opts));
storeOptions(secret.command('rotate-master').description('re-wrap the data keys with a new master key'))
  .requiredOption('--new-key-file <file>', 'the new master key (base64 of 32 bytes: `openssl rand -base64 32`)')
  .action(async (opts) => (await secrets()).secretsRotateMaster(opts));
storeOptions(secret.command('rotate-signing-key').description('a new key signs tokens from now on; the old one stays published')).action(
  async (opts) => (await secrets()).secretsRotateSigningKey(opts),
);
const slo = program.command('slo').description('service level objectives: Prometheus rules and error budgets (docs/slo.md)');
slo
  .command('rules')
  .description('print a Prometheus rule file: error ratios per window and burn-rate alerts of the built-in SLOs and those in tandem.yml')
  .option('--config <file>', 'tandem.yml whose slos: to include (TANDEM_CONFIG)')
  .option('--no-builtin', "only the SLOs of tandem.yml, not Tandem's own")
  .option('--runbook-base <url>', "runbook_url of SLOs without their own, at the SLO's section", 'docs/slo.md')
  .action(async (opts) => (await monitoring()).sloRules(opts));
clientOptions(
  slo
    .command('status')
    .description("Tandem's SLOs with their error budget left and burn rates, from the server's own evaluation")
    .option('--json'),
).action(async (opts) => (await monitoring()).sloStatus(opts));
clientOptions(
  program
    .command('dora')
    .description('DORA metrics of a repository per environment: deployment frequency, lead time, change failure rate, time to restore')
    .argument('<repo>'),
)
  .option('--environment <env>', 'one environment only')
  .option('--days <n>', 'window in days (1 to 365)', '30')
  .option('--json')
  .action(async (r: string, opts) => (await monitoring()).dora(r, opts));

const alerts = program
  .command('alerts')
  .description("alerts: burn rates of the SLOs and Tandem's own (docs/slo.md, docs/disaster-recovery.md)");
clientOptions(alerts.command('list').description('alerts, newest first (default: pending and firing)'))
  .option('--state <state>', 'pending, firing, resolved, or all (comma-separated)')
  .option('--json')
  .action(async (opts) => (await alerting()).alertList(opts));
alerts
  .command('rules')
  .description(
    "print a Prometheus rule file of Tandem's own alerts (replica down, leader change, database failover, artifact store errors, backup age, DR drill)",
  )
  .option('--config <file>', 'tandem.yml whose alerting: thresholds to use (TANDEM_CONFIG)')
  .option('--job <name>', "the scrape job of Tandem's servers", 'tandem')
  .action(async (opts) => (await alerting()).alertRules(opts));
const silence = program.command('silence').description('silences: mute the notifications of matching alerts for a while');
clientOptions(
  silence
    .command('add')
    .description('silence alerts matching every matcher')
    .argument('<matchers...>', 'name=value, name!=value, name=~regex, name!~regex'),
)
  .requiredOption('--comment <text>', 'why')
  .option('--duration <duration>', 'for how long, e.g. 2h, 30m')
  .option('--ends-at <time>', 'until (ISO 8601), instead of --duration')
  .option('--starts-at <time>', 'from (ISO 8601; default now)')
  .option('--created-by <name>', "who (default: the token's owner)")
  .option('--json')
  .action(async (matchers: string[], opts) => (await alerting()).silenceAdd(matchers, opts));
clientOptions(
  silence.command('list').description('active and pending silences').option('--all', 'expired ones too').option('--json'),
).action(async (opts) => (await alerting()).silenceList(opts));
clientOptions(silence.command('rm').description('expire a silence now').argument('<id>').option('--json')).action(
  async (id: string, opts) => (await alerting()).silenceRemove(id, opts),
);
const freeze = program
  .command('freeze')
  .description('deploy freezes of SLOs whose error budget is spent (play the waiting deploy job to override one)');
clientOptions(
  freeze
    .command('list')
    .description('active deploy freezes (--all: lifted ones too)')
    .option('--all', 'lifted ones too')
    .option('--repo <repo>')
    .option('--json'),
).action(async (opts) => (await alerting()).freezeList(opts));
const backup = program.command('backup').description('backups of the database, artifacts, keys and settings (docs/disaster-recovery.md)');
const instanceOptions = (cmd: Command) =>
  cmd
    .option('--config <file>', 'tandem.yml with settings (TANDEM_CONFIG)')
    .option('--data-dir <dir>', 'data directory (TANDEM_DATA_DIR)')
    .option('--database-url <url>', 'SQLite path or postgresql:// URL (TANDEM_DATABASE_URL)')
    .option('--artifacts-url <url>', 'artifact store: a directory or s3://bucket/prefix (TANDEM_ARTIFACTS_URL)')
    .option('--json')
    .option('--quiet', 'no progress bars');
const backupKeyOption = (cmd: Command) =>
  cmd.option('--backup-key-file <file>', 'the backup key (base64 of 32 bytes: `openssl rand -base64 32`) (TANDEM_BACKUP_KEY_FILE)');
backupKeyOption(
  instanceOptions(
    backup
      .command('create')
      .description('a consistent snapshot of a running or stopped instance; only blobs new to the destination are copied'),
  ),
)
  .option('--to <dest>', 'a directory or s3://bucket/prefix (TANDEM_BACKUP_TO)')
  .option('--master-key-file <file>', "the master key to put into the backup (default: the server's)")
  .option('--keep <n>', 'then delete all but the newest n backups there, and the blobs only they used')
  .action(async (opts) => (await dr()).backupCreate(opts));
instanceOptions(backup.command('list').description('backups at a destination, oldest first'))
  .option('--from <dest>', 'a directory or s3://bucket/prefix (TANDEM_BACKUP_TO)')
  .action(async (opts) => (await dr()).backupList(opts));
instanceOptions(
  backup
    .command('verify')
    .description('read every part back against its checksum, then restore the database into a scratch one and compare row counts'),
)
  .option('--from <dest>', 'a directory or s3://bucket/prefix (TANDEM_BACKUP_TO)')
  .option('--backup <id>', 'default: the newest')
  .option('--scratch-database-url <url>', 'a PostgreSQL server where a scratch database may be created (for PostgreSQL backups)')
  .option('--checksums-only', 'no test restore')
  .action(async (opts) => (await dr()).backupVerify(opts));
backupKeyOption(
  instanceOptions(
    program
      .command('restore')
      .description('a backup into an empty data directory (and empty database); migrations bring an older backup forward'),
  ),
)
  .option('--from <dest>', 'a directory or s3://bucket/prefix (TANDEM_BACKUP_TO)')
  .option('--backup <id>', 'default: the newest')
  .option('--master-key-file <file>', 'bring the master key yourself instead of taking it from the backup')
  .option('--force', 'replace what the data directory and database hold')
  .action(async (opts) => (await dr()).restore(opts));

const drCommand = program.command('dr').description('disaster recovery (docs/disaster-recovery.md)');
backupKeyOption(
  instanceOptions(
    drCommand
      .command('drill')
      .description(
        'restore the newest backup into a scratch instance, check it serves and runs a pipeline; report RPO and RTO and record them for the metrics',
      ),
  ),
)
  .option('--from <dest>', 'a directory or s3://bucket/prefix (TANDEM_BACKUP_TO)')
  .option('--backup <id>', 'default: the newest')
  .option('--scratch-database-url <url>', 'a PostgreSQL server for the scratch database (for PostgreSQL backups)')
  .action(async (opts) => (await dr()).drDrill(opts));

const agents = program.command('agents').description('agents known to the server');
clientOptions(agents.command('list').description('agents the server knows: online, running jobs, tags').option('--json')).action(
  async (opts) => (await remote()).agentList(opts),
);
clientOptions(
  agents
    .command('tags')
    .description("set an agent's tags (admins; an agent cannot change its own)")
    .argument('<id>')
    .argument('<tags>', 'comma-separated, "" for none'),
)
  .option('--json')
  .action(async (id: string, tags: string, opts) => (await remote()).agentTags(id, tags, opts));

clientOptions(
  program
    .command('login')
    .description('sign in (a username and password, or a code approved in a browser); keeps a personal token for later commands'),
)
  .option('--device', 'print a code and a URL; approve the code in a browser signed in to Tandem (single sign-on included)')
  .option('--web', 'as --device, and open the URL (with the code) in a browser ($BROWSER, or the desktop default)')
  .option('--username <name>', 'who signs in (default: $USER)')
  .option('--ldap', "the password is checked by the server's LDAP directory")
  .option('--password-stdin', 'read the password from stdin')
  .option('--expires-in <duration>', 'lifetime of the saved token, e.g. 30d, or never', '90d')
  .option('--json', 'print the result as JSON (progress stays on stderr)')
  .action(async (opts) => (await auth()).login(opts));
clientOptions(program.command('logout').description('revoke and forget the token of tandem login')).action(async (opts) =>
  (await auth()).logout(opts),
);
clientOptions(program.command('whoami').description('who the token or login is').option('--json')).action(async (opts) =>
  (await auth()).whoami(opts),
);

const user = program.command('user').description('users (instance admins)');
clientOptions(user.command('add').description('create a user').argument('<username>'))
  .option('--admin', 'an instance administrator')
  .option('--email <email>')
  .option('--password', 'ask for a password (without it: none, e.g. for single sign-on users)')
  .option('--password-stdin', 'read the password from stdin')
  .option('--json')
  .action(async (name: string, opts) => (await auth()).userAdd(name, opts));
clientOptions(user.command('list').description('users').option('--json')).action(async (opts) => (await auth()).userList(opts));
clientOptions(user.command('rm').description('remove a user').argument('<username>')).action(async (name: string, opts) =>
  (await auth()).userRemove(name, opts),
);
clientOptions(
  user.command('passwd').argument('<username>').description("set a password: yours (asks the current one) or, as an admin, anyone's"),
)
  .option('--password-stdin', 'read the new password (and then the current one, for your own) from stdin, one per line')
  .action(async (name: string, opts) => (await auth()).userPasswd(name, opts));
clientOptions(
  user
    .command('admin')
    .argument('<username>')
    .description('make a user an instance admin')
    .option('--revoke', 'no longer an admin')
    .option('--json'),
).action(async (name: string, opts) => (await auth()).userAdmin(name, opts));

const token = program.command('token').description('personal API tokens');
clientOptions(token.command('create').description('create a token; prints it once'))
  .requiredOption('--name <name>', 'what it is for')
  .option('--scope <scopes...>', 'api, read_api, register_agent (an agent registration token; admins)', ['api'])
  .option('--expires-in <duration>', 'e.g. 30d; default: never')
  .option('--expires-at <time>', 'ISO 8601 time')
  .option('--user <username>', 'for another user (admins)')
  .option('--json')
  .action(async (opts) => (await auth()).tokenCreate(opts));
clientOptions(
  token
    .command('list')
    .description('your tokens (admins: --all, --user)')
    .option('--all', "everyone's (admins)")
    .option('--user <username>', "another user's (admins)")
    .option('--json'),
).action(async (opts) => (await auth()).tokenList(opts));
clientOptions(token.command('revoke').description('revoke a token').argument('<id>')).action(async (id: string, opts) =>
  (await auth()).tokenRevoke(id, opts),
);

const member = program.command('member').description('who may do what in a repository: guest, reporter, developer, maintainer, owner');
clientOptions(
  member
    .command('set')
    .description('give a user a role in a repository')
    .argument('<repo>')
    .argument('<username>')
    .argument('<role>')
    .option('--json'),
).action(async (r: string, u: string, role: string, opts) => (await auth()).memberSet(r, u, role, opts));
clientOptions(member.command('rm').description("take a user's role in a repository away").argument('<repo>').argument('<username>')).action(
  async (r: string, u: string, opts) => (await auth()).memberRemove(r, u, opts),
);
clientOptions(member.command('list').description('members of a repository with their roles').argument('<repo>').option('--json')).action(
  async (r: string, opts) => (await auth()).memberList(r, opts),
);

const branch = program.command('branch').description('protected branches: protected variables, and the role that runs pipelines there');
clientOptions(
  branch
    .command('protect')
    .description('protect branches matching a name or glob')
    .argument('<repo>')
    .argument('<pattern>', 'a branch name or glob, e.g. release/*'),
)
  .addOption(new Option('--role <role>', 'least role to run pipelines and manual jobs').choices(['developer', 'maintainer', 'owner']))
  .option('--json')
  .action(async (r: string, pattern: string, opts) => (await auth()).branchProtect(r, pattern, opts));
clientOptions(
  branch.command('unprotect').description('no longer protect a branch pattern').argument('<repo>').argument('<pattern>'),
).action(async (r: string, pattern: string, opts) => (await auth()).branchUnprotect(r, pattern, opts));
clientOptions(branch.command('list').description('protected branch patterns of a repository').argument('<repo>').option('--json')).action(
  async (r: string, opts) => (await auth()).branchList(r, opts),
);

clientOptions(program.command('audit').description('the audit log, newest first (instance admins)'))
  .option('--actor <username>')
  .option('--action <permission>', 'e.g. member.set, token.create, pipeline.create')
  .option('--since <time>', 'ISO 8601 time, or a duration ago like 2h')
  .option('--until <time>', 'ISO 8601 time, or a duration ago')
  .option('--limit <n>', 'at most this many (1 to 1000)', '100')
  .option('--json')
  .action(async (opts) => (await auth()).audit(opts));

program
  .command('completion')
  .description('print a shell completion script: source <(tandem completion bash)')
  .addArgument(new Argument('<shell>', 'the shell').choices(completionShells))
  .action((shell: string) => {
    process.stdout.write(completionScript(shell, program));
  });

// Tests import the program to walk its command tree; only the `tandem` binary itself parses argv.
export { program };
if (process.argv[1] !== undefined && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    await program.parseAsync(process.argv);
  } catch (err) {
    if (err instanceof CliError || err instanceof ConfigError) {
      console.error(`tandem: ${err.message}`);
      process.exit(err instanceof CliError ? err.exitCode : 2);
    }
    const message = (err as Error).message ?? String(err);
    console.error(`tandem: ${message}`);
    if (process.env.TANDEM_DEBUG) console.error(err);
    process.exit(1);
  }
}
