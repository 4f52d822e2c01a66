import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseSsoConfig, rolesForGroups, type GroupRole } from '../../src/auth/sso/config.js';

const MAPPING: GroupRole[] = [
  { group: 'ci-admins', admin: true },
  { group: 'developers', repo: 'web', role: 'developer' },
  { group: 'web-leads', repo: 'web', role: 'maintainer' },
  { group: 'everyone', repo: 'web', role: 'guest' },
  { group: 'everyone', repo: 'docs', role: 'reporter' },
  { group: 'docs-team', repo: 'docs', role: 'owner' },
];

test('rolesForGroups: the highest role per repository wins, whatever the order', () => {
  const expected = { admin: false, repoRoles: { web: 'maintainer', docs: 'reporter' } };
  assert.deepEqual(rolesForGroups(['everyone', 'developers', 'web-leads'], MAPPING), expected);
  assert.deepEqual(rolesForGroups(['web-leads', 'developers', 'everyone'], [...MAPPING].reverse()), expected);
  assert.deepEqual(rolesForGroups(['everyone', 'docs-team'], MAPPING).repoRoles, { web: 'guest', docs: 'owner' });
});

test('rolesForGroups: admin comes from a group, independent of repository roles', () => {
  assert.deepEqual(rolesForGroups(['ci-admins'], MAPPING), { admin: true, repoRoles: {} });
  assert.deepEqual(rolesForGroups(['ci-admins', 'developers'], MAPPING), { admin: true, repoRoles: { web: 'developer' } });
});

test('rolesForGroups: unknown groups and near-misses grant nothing', () => {
  assert.deepEqual(rolesForGroups([], MAPPING), { admin: false, repoRoles: {} });
  // Group names are compared exactly: a provider's "CI-Admins" is not "ci-admins".
  assert.deepEqual(rolesForGroups(['CI-Admins', 'developer', 'web'], MAPPING), { admin: false, repoRoles: {} });
  assert.deepEqual(rolesForGroups(['developers'], []), { admin: false, repoRoles: {} });
});

test('rolesForGroups: a repository named like an Object property stays a plain key', () => {
  const granted = rolesForGroups(['x'], [{ group: 'x', repo: '__proto__', role: 'owner' }]);
  assert.deepEqual(Object.keys(granted.repoRoles), ['__proto__']);
  assert.equal(Object.getPrototypeOf(granted.repoRoles), Object.prototype);
});

test('parseSsoConfig: defaults fill in, and nothing is required', () => {
  assert.deepEqual(parseSsoConfig({}), { groupRoles: [] });
  const config = parseSsoConfig({
    oidc: { issuer: 'https://idp.example.com', clientId: 'tandem', clientSecret: 's' },
    ldap: {
      url: 'ldaps://ldap.example.com',
      bindDn: 'cn=tandem,dc=example,dc=com',
      bindPassword: 'p',
      userBase: 'ou=people,dc=example,dc=com',
    },
    groupRoles: [{ group: 'g', repo: 'web', role: 'owner' }],
  });
  assert.deepEqual(config.oidc?.scopes, ['openid', 'profile', 'email']);
  assert.equal(config.oidc?.usernameClaim, 'preferred_username');
  assert.equal(config.ldap?.userFilter, '(uid={username})');
  assert.equal(config.ldap?.memberAttribute, 'member');
  assert.equal(config.ldap?.startTls, false);
});

test('parseSsoConfig: each bad key is named with its file and path', () => {
  assert.throws(
    () =>
      parseSsoConfig(
        {
          oidc: { issuer: 'not a url', clientId: 'tandem', clientSecret: 's' },
          groupRoles: [
            { group: 'g', repo: 'web', role: 'superuser' },
            { group: 'h', admin: false },
            { group: 'i', repo: 'web' },
          ],
          kerberos: {},
        },
        '/etc/tandem/tandem.yml',
      ),
    (err: Error) => {
      assert.match(err.message, /^\/etc\/tandem\/tandem\.yml: oidc\.issuer: expected an http\(s\) URL$/m);
      assert.match(
        err.message,
        /^\/etc\/tandem\/tandem\.yml: groupRoles\.0: expected \{ group, admin: true \} or \{ group, repo, role \} with role one of guest, reporter, developer, maintainer, owner$/m,
      );
      assert.match(err.message, /^\/etc\/tandem\/tandem\.yml: groupRoles\.1: /m);
      assert.match(err.message, /^\/etc\/tandem\/tandem\.yml: groupRoles\.2: /m);
      assert.match(err.message, /kerberos/);
      return true;
    },
  );
});
