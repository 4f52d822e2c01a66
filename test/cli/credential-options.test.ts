// `tandem repo add|edit` read a repository's credential from files, never from the command line,
// and refuse combinations that could not be meant before anything is sent.
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { credentialsBody } from '../../src/cli/credential-options.js';
import { tempDir } from '../support/git.js';

test('a token file (trimmed) with an optional username, a key with its known hosts, or removal', async (t) => {
  const dir = tempDir(t, 'cli-credentials');
  const file = (name: string, text: string) => writeFile(path.join(dir, name), text).then(() => path.join(dir, name));
  const token = await file('token', 'glpat-abc123\n');
  const key = await file('key', '-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n-----END OPENSSH PRIVATE KEY-----\n');
  const hosts = await file('known_hosts', 'github.com ssh-ed25519 AAAA\n');

  assert.equal(await credentialsBody({}), undefined, 'no option: the credential is left as it is');
  assert.equal(await credentialsBody({ credentials: true }), undefined);
  assert.deepEqual(await credentialsBody({ tokenFile: token }), { type: 'token', token: 'glpat-abc123' });
  assert.deepEqual(await credentialsBody({ tokenFile: token, username: 'deployer' }), {
    type: 'token',
    token: 'glpat-abc123',
    username: 'deployer',
  });
  assert.deepEqual(await credentialsBody({ sshKeyFile: key, knownHostsFile: hosts }), {
    type: 'ssh',
    privateKey: '-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n-----END OPENSSH PRIVATE KEY-----\n',
    knownHosts: 'github.com ssh-ed25519 AAAA\n',
  });
  assert.equal(await credentialsBody({ credentials: false }), null);

  await assert.rejects(credentialsBody({ sshKeyFile: key }), /--ssh-key-file needs --known-hosts-file/);
  await assert.rejects(credentialsBody({ tokenFile: token, sshKeyFile: key, knownHostsFile: hosts }), /not both/);
  await assert.rejects(credentialsBody({ username: 'x' }), /--username goes with --token-file/);
  await assert.rejects(credentialsBody({ knownHostsFile: hosts }), /--known-hosts-file goes with --ssh-key-file/);
  await assert.rejects(credentialsBody({ credentials: false, tokenFile: token }), /--no-credentials removes/);
  await assert.rejects(credentialsBody({ tokenFile: path.join(dir, 'missing') }), /--token-file: cannot read .*missing: ENOENT/);
});
