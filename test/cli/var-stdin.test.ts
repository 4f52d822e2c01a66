// `tandem var set` without the value on the command line: from stdin (`--value-stdin`), so a secret
// never lands in the shell history or `ps`. A real server; the stored value is read back decrypted.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { repoVariablesFor } from '../../src/repos/index.js';
import { AuthServer } from '../auth/helpers.js';
import { CLI_ARGV, cleanEnv, tandem } from './helpers.js';

describe('tandem var set --value-stdin', () => {
  let server: AuthServer;
  let repoId: number;

  before(async () => {
    server = await AuthServer.start();
    await server.repo('shop');
    repoId = (await server.api<{ id: number }>('GET', '/api/v1/repos/shop')).body.id;
  });
  after(() => server.close());

  const env = () => ({ TANDEM_SERVER: server.url, TANDEM_TOKEN: server.adminToken });
  async function stored(key: string): Promise<string | undefined> {
    const vars = await repoVariablesFor(server.server.ctx, { repoId, protectedRef: true, fromFork: false });
    return vars.find((v) => v.key === key)?.value;
  }

  test('the value is read from stdin, less one trailing newline; inner newlines stay', async () => {
    const r = await tandem(['var', 'set', 'shop', 'DEPLOY_KEY', '--value-stdin', '--masked'], {
      env: env(),
      input: 'hunter2-very-secret\n',
    });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Set DEPLOY_KEY on shop/);
    assert.equal(await stored('DEPLOY_KEY'), 'hunter2-very-secret');

    const pem = '-----BEGIN KEY-----\nabc\n-----END KEY-----\n';
    const file = await tandem(['var', 'set', 'shop', 'TLS_KEY', '--value-stdin', '--file'], { env: env(), input: pem });
    assert.equal(file.code, 0, file.stderr);
    assert.equal(await stored('TLS_KEY'), pem.slice(0, -1));
  });

  test('a value both as argument and --value-stdin is refused, as is none without a terminal', async () => {
    const both = await tandem(['var', 'set', 'shop', 'COLOUR', 'teal', '--value-stdin'], { env: env(), input: 'red\n' });
    assert.notEqual(both.code, 0);
    assert.match(both.stderr, /value: give it as an argument or with --value-stdin, not both/);
    const none = await tandem(['var', 'set', 'shop', 'COLOUR'], { env: env() });
    assert.notEqual(none.code, 0);
    assert.match(none.stderr, /value: missing; .*--value-stdin \(no terminal to ask on\)/);
    assert.equal(await stored('COLOUR'), undefined);
  });

  // util-linux `script` gives the command a pseudo-terminal, as a user's shell would.
  const hasScript = spawnSync('script', ['--version']).status === 0;
  test('without a value on a terminal it asks, and what is typed is not echoed', { skip: !hasScript && 'no script(1)' }, async () => {
    const command = [process.execPath, ...CLI_ARGV, 'var', 'set', 'shop', 'TYPED_KEY', '--masked'].map((a) => `'${a}'`).join(' ');
    const child = spawn('script', ['-qec', command, '/dev/null'], { env: cleanEnv(env()), stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    const code = new Promise<number | null>((resolve) => child.on('close', resolve));
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    await new Promise<void>((resolve) =>
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('Value of TYPED_KEY: ')) resolve();
      }),
    );
    child.stdin.write('typed-secret-42\r');
    assert.equal(await code, 0, out);
    clearTimeout(timer);
    assert.match(out, /Set TYPED_KEY on shop/);
    assert.doesNotMatch(out, /typed-secret-42/);
    assert.equal(await stored('TYPED_KEY'), 'typed-secret-42');
  });
});
