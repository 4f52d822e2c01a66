import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { ConfigError, containerSettingsOf, databaseUrlOf, envNameFor, loadConfig } from '../../src/config/index.js';

function configFile(t: { after(fn: () => void): void }, text: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'tandem-config-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'tandem.yml');
  writeFileSync(file, text);
  return file;
}

test('environment names derive from keys', () => {
  assert.equal(envNameFor('dataDir'), 'TANDEM_DATA_DIR');
  assert.equal(envNameFor('jobTimeoutSeconds'), 'TANDEM_JOB_TIMEOUT_SECONDS');
  assert.equal(envNameFor('port'), 'TANDEM_PORT');
});

test('defaults, then file, then environment, then flags', (t) => {
  const file = configFile(t, 'port: 9000\nlisten: 0.0.0.0\nleaseSeconds: 12\ntags: [a, b]\n');
  const fromFile = loadConfig({ config: file }, {});
  assert.equal(fromFile.port, 9000);
  assert.equal(fromFile.listen, '0.0.0.0');
  assert.deepEqual(fromFile.tags, ['a', 'b']);
  assert.equal(fromFile.jobTimeoutSeconds, 3600);
  const fromEnv = loadConfig({ config: file }, { TANDEM_PORT: '9100', TANDEM_TAGS: 'x, y' });
  assert.equal(fromEnv.port, 9100);
  assert.deepEqual(fromEnv.tags, ['x', 'y']);
  assert.equal(fromEnv.leaseSeconds, 12);
  const fromFlag = loadConfig({ config: file, port: '0' }, { TANDEM_PORT: '9100' });
  assert.equal(fromFlag.port, 0);
});

test('the database defaults to a SQLite file in the data dir', () => {
  const config = loadConfig({ dataDir: '/srv/tandem' }, {});
  assert.equal(databaseUrlOf(config), '/srv/tandem/tandem.db');
  assert.equal(databaseUrlOf(loadConfig({ databaseUrl: '/other.db' }, {})), '/other.db');
});

test('unknown keys and bad values are errors that name the key', (t) => {
  const file = configFile(t, 'port: 8080\nlisten_address: 0.0.0.0\n');
  assert.throws(
    () => loadConfig({ config: file }, {}),
    (err: Error) => err instanceof ConfigError && /listen_address/.test(err.message) && err.message.includes(file),
  );
  assert.throws(() => loadConfig({}, { TANDEM_PORT: 'abc' }), /port/);
  assert.throws(() => loadConfig({ port: '70000' }, {}), /port/);
});

test('malformed YAML names file, line and column', (t) => {
  const file = configFile(t, 'port: 8080\nlisten: [unclosed\n');
  assert.throws(
    () => loadConfig({ config: file }, {}),
    (err: Error) =>
      err instanceof ConfigError && new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:\\d+:\\d+: `).test(err.message),
  );
});

test('container settings: engine flags as a YAML list or one string split at spaces; a bad engine names its source', (t) => {
  const file = configFile(t, 'executor: container\ncontainerEngine: podman\ncontainerEngineArgs: [--runtime, runc]\n');
  const fromFile = loadConfig({ config: file }, {});
  assert.equal(fromFile.executor, 'container');
  assert.deepEqual(containerSettingsOf(fromFile), {
    engine: 'podman',
    engineArgs: ['--runtime', 'runc'],
    runArgs: [],
    defaultImage: undefined,
  });
  const fromEnv = loadConfig(
    {},
    { TANDEM_CONTAINER_RUN_ARGS: ' --ulimit nofile=1024:1024  --ulimit nproc=1024:1024 ', TANDEM_DEFAULT_IMAGE: 'debian:12' },
  );
  assert.equal(fromEnv.containerEngine, 'auto');
  assert.deepEqual(fromEnv.containerRunArgs, ['--ulimit', 'nofile=1024:1024', '--ulimit', 'nproc=1024:1024']);
  assert.equal(fromEnv.defaultImage, 'debian:12');
  assert.throws(
    () => loadConfig({ containerEngine: 'lxc' }, {}),
    (err: Error) => err instanceof ConfigError && /containerEngine \(from --container-engine "lxc"\)/.test(err.message),
  );
});
