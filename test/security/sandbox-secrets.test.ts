// Issue 14 items 8 and 15, through a real server and agents in one process (as `tandem up` runs).
// Item 8: the sandbox hid only the data dir, so a job read the master key file, the configuration
// file, the SQLite files and the artifact directory kept elsewhere, and every job (shell executor
// too) inherited the server's environment (AWS_*, PGPASSWORD). Item 15: in the sandbox, git failed
// (the workspace borrows objects from the hidden mirror cache) and file variables were unreadable.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadConfig } from '../../src/config/index.js';
import { secretPathsOf } from '../../src/cli/secret-paths.js';
import { SandboxExecutor, sandboxAvailable } from '../../src/executor/index.js';
import { capture, spec } from '../executor/helpers.js';
import { jobNamed, TestTandem } from '../support/tandem.js';

const available = await sandboxAvailable();
const skip = !available && process.env.TANDEM_REQUIRE_ALL !== '1' ? 'bwrap unavailable (set TANDEM_REQUIRE_ALL=1 to fail instead)' : false;

describe('sandboxed jobs see no configured secret and no server environment; git and file variables work', { skip }, () => {
  let tandem: TestTandem;
  // Under /var/tmp: the sandbox's private /tmp would hide anything under /tmp whatever the fix.
  let root: string;
  const paths = { masterKey: '', config: '', database: '', artifacts: '' };
  const awsSecret = `AWS-SECRET-${randomBytes(6).toString('hex')}`;
  const pgPassword = `PG-PASSWORD-${randomBytes(6).toString('hex')}`;
  const masterKey = randomBytes(32).toString('base64');
  const saved = { aws: process.env.AWS_SECRET_ACCESS_KEY, pg: process.env.PGPASSWORD };

  before(async () => {
    root = await mkdtemp('/var/tmp/tandem-sec-secrets-');
    paths.masterKey = join(root, 'keys', 'master.key');
    paths.config = join(root, 'etc', 'tandem.yml');
    paths.database = join(root, 'db', 'tandem.db');
    paths.artifacts = join(root, 'blobs');
    await mkdir(join(root, 'keys'));
    await mkdir(join(root, 'etc'));
    await mkdir(join(root, 'db'));
    await writeFile(paths.masterKey, masterKey, { mode: 0o600 });
    await writeFile(paths.config, '# CONFIG-FILE-MARKER\njobTimeoutSeconds: 600\n');
    // The server's own secrets in its environment, as an operator sets them for S3 and PostgreSQL.
    process.env.AWS_SECRET_ACCESS_KEY = awsSecret;
    process.env.PGPASSWORD = pgPassword;
    const settings = { config: paths.config, masterKeyFile: paths.masterKey, databaseUrl: paths.database, artifactsUrl: paths.artifacts };
    tandem = await TestTandem.start({ agents: 0, dataDir: join(root, 'data'), settings });
    const hiddenPaths = secretPathsOf(loadConfig({ dataDir: tandem.dataDir, ...settings }, {}), { config: paths.config }, {});
    await tandem.addAgent({ executor: 'sandbox', name: 'sandboxed', tags: ['sandboxed'], hiddenPaths });
    await tandem.addAgent({ executor: 'shell', name: 'plain', tags: ['plain'], hiddenPaths });
  });
  after(async () => {
    await tandem?.close();
    if (saved.aws === undefined) delete process.env.AWS_SECRET_ACCESS_KEY;
    else process.env.AWS_SECRET_ACCESS_KEY = saved.aws;
    if (saved.pg === undefined) delete process.env.PGPASSWORD;
    else process.env.PGPASSWORD = saved.pg;
    if (root) await rm(root, { recursive: true, force: true });
  });

  it('a sandboxed job cannot read the master key file, configuration, SQLite files, artifacts or admin token, nor the server environment', async () => {
    const { name } = await tandem.repo({
      '.gitlab-ci.yml': `
seed:
  tags: [plain]
  script: [echo seeded > seed.txt]
  artifacts: {paths: [seed.txt]}
probe:
  tags: [sandboxed]
  needs: [seed]
  script:
    - cat "${paths.masterKey}" "${paths.config}" "${tandem.dataDir}/admin.token" 2>/dev/null || true
    - head -c 64 "${paths.database}" "${paths.database}-wal" 2>/dev/null | tr -c '[:print:]' . || true
    - echo "artifacts=$(ls -A "${paths.artifacts}" 2>/dev/null | wc -l)"
    - echo "data=$(ls -A "${tandem.dataDir}" 2>/dev/null | tr '\\n' ' ')"
    - env
`,
    });
    const p = await tandem.waitForPipeline(await tandem.trigger(name), undefined, 60_000);
    const log = await tandem.log(jobNamed(p, 'probe').id);
    assert.equal(p.status, 'success', log);
    assert.match(log, /executor: sandbox/);
    for (const [what, secret] of Object.entries({
      masterKey,
      config: 'CONFIG-FILE-MARKER',
      adminToken: tandem.token,
      sqlite: 'SQLite format',
      awsSecret,
      pgPassword,
    })) {
      assert.ok(!log.includes(secret), `${what} leaked into the sandboxed job:\n${log}`);
    }
    assert.match(log, /^artifacts=0$/m, 'the artifact directory (it holds seed.txt) is hidden');
    assert.match(log, /^data=sandboxed $/m, 'only the way to the workspace shows in the data dir');
  });

  it('a shell-executor job gets an allow-listed environment, not the agent process environment', async () => {
    const { name } = await tandem.repo({
      '.gitlab-ci.yml': `
probe:
  tags: [plain]
  script:
    - env
    - echo "path=$PATH"
`,
    });
    const p = await tandem.waitForPipeline(await tandem.trigger(name), undefined, 60_000);
    const log = await tandem.log(jobNamed(p, 'probe').id);
    assert.equal(p.status, 'success', log);
    assert.match(log, /executor: shell/);
    assert.ok(!log.includes(awsSecret) && !log.includes(pgPassword), `the server's environment reached the job:\n${log}`);
    assert.doesNotMatch(
      log,
      /^(AWS_SECRET_ACCESS_KEY|PGPASSWORD|NODE_OPTIONS|TANDEM_(?!EXEC_ID=)[A-Z_]+)=/m,
      "the kill's marker TANDEM_EXEC_ID is the only TANDEM_ setting",
    );
    assert.match(log, /^path=\S+/m, 'PATH is passed on');
    assert.match(log, /^CI_JOB_ID=\d+$/m, "the job's own CI variables are there");
  });

  it('git works in a sandboxed workspace, and a file variable is readable (and only read-only) at its path', async () => {
    const { name, sha } = await tandem.repo({
      '.gitlab-ci.yml': `
probe:
  tags: [sandboxed]
  script:
    - echo "head=$(git log -1 --format=%H)"
    - git status --porcelain > status.txt && echo "status-ok lines=$(grep -vc status.txt status.txt || true)"
    - git cat-file -t HEAD
    - echo "file=$(cat "$DEPLOY_CONFIG")"
    - if echo x >> "$DEPLOY_CONFIG" 2>/dev/null; then echo FILE-WRITABLE; else echo file-read-only; fi
`,
    });
    const res = await tandem.api('POST', `/api/v1/repos/${name}/variables`, {
      key: 'DEPLOY_CONFIG',
      value: 'region: eu-west-1',
      file: true,
    });
    assert.equal(res.status, 201, res.text);
    const p = await tandem.waitForPipeline(await tandem.trigger(name), undefined, 60_000);
    const log = await tandem.log(jobNamed(p, 'probe').id);
    assert.equal(p.status, 'success', log);
    assert.match(log, /executor: sandbox/);
    assert.match(log, new RegExp(`^head=${sha}$`, 'm'), 'git log reads the borrowed objects');
    assert.match(log, /^status-ok lines=0$/m, 'git status sees a clean checkout');
    assert.match(log, /^commit$/m);
    assert.match(log, /^file=region: eu-west-1$/m);
    assert.match(log, /^file-read-only$/m);
  });
});

describe('secretPathsOf: every secret location the configuration names is hidden from a sandboxed job', { skip }, () => {
  it('a job cannot read SSO secret files, the backup key, backup and replica directories, or SQLite side files', async () => {
    const root = await mkdtemp('/var/tmp/tandem-sec-paths-');
    try {
      const file = (name: string, content: string) => writeFile(join(root, name), content).then(() => join(root, name));
      const oidcSecret = await file('oidc.secret', 'OIDC-CLIENT-SECRET');
      const ldapPassword = await file('ldap.password', 'LDAP-BIND-PASSWORD');
      const backupKey = await file('backup.key', 'BACKUP-KEY-DATA');
      await file('tandem.db', 'SQLITE-MAIN');
      await file('tandem.db-wal', 'SQLITE-WAL-DATA');
      await mkdir(join(root, 'backups'));
      await file('backups/tandem-backup', 'BACKUP-DATA');
      await mkdir(join(root, 'replica'));
      await file('replica/blob', 'REPLICA-DATA');
      const configFile = await file('tandem.yml', `oidc:\n  clientSecretFile: ${oidcSecret}\n  issuer: https://id.example.com\n`);
      const env = { TANDEM_LDAP: JSON.stringify({ url: 'ldap://127.0.0.1', bindPasswordFile: ldapPassword }) };
      const config = loadConfig(
        {
          dataDir: join(root, 'data'),
          databaseUrl: join(root, 'tandem.db'),
          backupKeyFile: backupKey,
          backupTo: join(root, 'backups'),
          artifactsReplicaUrl: join(root, 'replica'),
          artifactsUrl: 's3://bucket/prefix',
        },
        {},
      );
      const hidden = secretPathsOf(config, { config: configFile }, env);
      const workspace = join(root, 'workspace');
      await mkdir(workspace);
      const result = await capture(
        new SandboxExecutor({ hiddenPaths: hidden }),
        spec(workspace, {
          script: [
            `cat ${root}/*.secret ${root}/*.password ${root}/*.key ${root}/tandem.db* ${root}/tandem.yml ${root}/backups/* ${root}/replica/* 2>/dev/null || true`,
          ],
        }),
      );
      assert.equal(result.outcome, 'success', result.plain);
      for (const secret of [
        'OIDC-CLIENT-SECRET',
        'LDAP-BIND-PASSWORD',
        'BACKUP-KEY-DATA',
        'SQLITE-MAIN',
        'SQLITE-WAL-DATA',
        'BACKUP-DATA',
        'REPLICA-DATA',
        'clientSecretFile',
      ]) {
        assert.ok(!result.plain.includes(secret), `${secret} leaked:\n${result.plain}`);
      }
      assert.ok(!hidden.some((path) => path.includes('s3:')), 'an S3 URL is no path to hide');
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
