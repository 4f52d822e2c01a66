// The forge that include:project, include:component and include:template read (tandem.yml `forge`,
// TANDEM_FORGE as JSON), its token from a file, and the include fetch settings.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { loadConfig } from '../../src/config/index.js';
import { tempDir } from '../support/git.js';

test('forge: url and token (or tokenFile); include fetch settings with defaults', (t) => {
  const dir = tempDir(t, 'config-forge');
  const tokenFile = path.join(dir, 'forge.token');
  writeFileSync(tokenFile, 'glpat-secret\n');
  const config = loadConfig({}, { TANDEM_FORGE: JSON.stringify({ url: 'https://gitlab.example.com', tokenFile }) });
  assert.deepEqual(config.forge, { url: 'https://gitlab.example.com', token: 'glpat-secret' });
  assert.equal(config.includeFetchTimeoutSeconds, 10);
  assert.equal(config.includeCacheSeconds, 300);
  assert.equal(loadConfig({}, {}).forge, undefined);
  // A bad forge setting is refused without echoing the token.
  assert.throws(
    () => loadConfig({}, { TANDEM_FORGE: JSON.stringify({ url: 'not a url', token: 'glpat-hidden' }) }),
    (err: Error) => /forge/i.test(err.message) && !err.message.includes('glpat-hidden'),
  );
});
