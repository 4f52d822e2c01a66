// The single sign-on sections of the settings: tandem.yml < TANDEM_OIDC/LDAP/SAML (JSON), checked by
// the SSO schemas, with secrets from files, and errors that name the key but never show a secret.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { loadConfig } from '../../src/config/index.js';

const LDAP = { url: 'ldap://ldap.example.com', bindDn: 'cn=tandem,dc=example,dc=com', userBase: 'ou=people,dc=example,dc=com' };

describe('single sign-on settings', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'tandem-sso-settings-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  function errorOf(flags: Record<string, unknown>, env: NodeJS.ProcessEnv = {}): string {
    try {
      loadConfig({ dataDir: dir, ...flags }, env);
    } catch (err) {
      return (err as Error).message;
    }
    return assert.fail('the settings were accepted');
  }

  test('sections from tandem.yml with the secret from a file; a TANDEM_* variable (JSON) replaces a section', async () => {
    const secretFile = path.join(dir, 'oidc-secret');
    await writeFile(secretFile, 'from-the-file\n');
    const file = path.join(dir, 'tandem.yml');
    await writeFile(
      file,
      `oidc:\n  issuer: https://sso.example.com\n  clientId: tandem\n  clientSecretFile: ${secretFile}\nldap:\n  url: ldap://old.example.com\n  bindDn: x\n  bindPassword: y\n  userBase: z\n`,
    );
    const config = loadConfig({ config: file, dataDir: dir }, { TANDEM_LDAP: JSON.stringify({ ...LDAP, bindPassword: 'from-env' }) });
    assert.equal(config.oidc?.clientSecret, 'from-the-file');
    assert.deepEqual(config.oidc?.scopes, ['openid', 'profile', 'email']);
    assert.equal(config.ldap?.url, LDAP.url);
    assert.equal(config.ldap?.bindPassword, 'from-env');
    assert.equal(config.saml, undefined);
  });

  test('bad keys are named with their source, and the values of secrets never appear', () => {
    const env = {
      TANDEM_OIDC: JSON.stringify({ issuer: 'not a url', clientId: 'tandem', clientSecret: 'hunter2-secret', colour: 'blue' }),
    };
    const message = errorOf({}, env);
    assert.match(message, /oidc\.issuer \(from TANDEM_OIDC\): expected an http\(s\) URL/);
    assert.match(message, /unknown key colour/);
    assert.ok(!message.includes('hunter2-secret'), message);
    const broken = errorOf({}, { TANDEM_LDAP: '{"bindPassword": "hunter2-secret", ' });
    assert.match(broken, /ldap \(from TANDEM_LDAP\): expected a mapping .* not valid JSON/);
    assert.ok(!broken.includes('hunter2-secret'), broken);
    assert.match(errorOf({ ldap: { ...LDAP, bindPassword: 'p', userFilter: '(uid=x)' } }), /ldap\.userFilter .*must contain \{username\}/);
  });

  test('a secret file: exactly one of the value and the file, a readable file, not empty', async () => {
    const missing = path.join(dir, 'no-such-file');
    assert.match(
      errorOf({ ldap: { ...LDAP, bindPasswordFile: missing } }),
      new RegExp(`ldap\\.bindPasswordFile .*cannot read ${missing}: ENOENT`),
    );
    assert.match(
      errorOf({ ldap: { ...LDAP, bindPassword: 'p', bindPasswordFile: missing } }),
      /ldap\.bindPasswordFile .*give bindPassword or bindPasswordFile, not both/,
    );
    const empty = path.join(dir, 'empty');
    await writeFile(empty, '\n');
    assert.match(errorOf({ ldap: { ...LDAP, bindPasswordFile: empty } }), /ldap\.bindPasswordFile .*is empty/);
    assert.match(errorOf({ ldap: LDAP }), /ldap\.bindPassword/);
  });
});
