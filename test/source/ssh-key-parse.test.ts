// Deploy keys and known hosts are checked when they are set, with keys ssh-keygen really makes:
// what git could not use is refused then, naming the field and never quoting the key.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { describeKnownHosts, parseDeployKey, parseKnownHosts, publicKeyFingerprint, SourceError } from '../../src/source/index.js';

const execFileP = promisify(execFile);

describe('deploy keys and known hosts', () => {
  let dir: string;
  const keys: Record<string, string> = {};
  const fingerprints: Record<string, string> = {};

  async function keygen(name: string, ...args: string[]): Promise<void> {
    const file = path.join(dir, name);
    await execFileP('ssh-keygen', ['-q', '-C', 'test', '-f', file, ...args]);
    keys[name] = await readFile(file, 'utf8');
    fingerprints[name] = (await execFileP('ssh-keygen', ['-l', '-f', `${file}.pub`])).stdout.split(' ')[1];
  }

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'tandem-keys-'));
    await Promise.all([
      keygen('ed25519', '-t', 'ed25519', '-N', ''),
      keygen('rsa', '-t', 'rsa', '-b', '2048', '-N', ''),
      keygen('ecdsa', '-t', 'ecdsa', '-N', ''),
      keygen('locked', '-t', 'ed25519', '-N', 'a passphrase'),
      keygen('pem', '-t', 'rsa', '-b', '2048', '-m', 'PEM', '-N', ''),
    ]);
  });
  after(() => rm(dir, { recursive: true, force: true }));

  function refused(text: string, pattern: RegExp): void {
    assert.throws(
      () => parseDeployKey(text),
      (err: unknown) => {
        assert.ok(err instanceof SourceError);
        assert.equal(err.kind, 'invalid');
        assert.match(err.message, /^credentials\.privateKey: /);
        assert.match(err.message, pattern);
        assert.ok(!err.message.includes(text.split('\n')[1] ?? text), 'the key is not quoted');
        return true;
      },
    );
  }

  it('takes OpenSSH keys of each type, with the fingerprint ssh-keygen prints', () => {
    for (const name of ['ed25519', 'rsa', 'ecdsa']) {
      const key = parseDeployKey(keys[name].replace(/\n/g, '\r\n'));
      assert.ok(key.privateKey.endsWith('-----END OPENSSH PRIVATE KEY-----\n'));
      assert.ok(!key.privateKey.includes('\r'));
      assert.equal(publicKeyFingerprint(key.publicKey), fingerprints[name], name);
    }
  });

  it('refuses passphrases, other formats, public keys and damaged keys', () => {
    refused(keys.locked, /passphrase/);
    refused(keys.pem, /PEM key: give the key in OpenSSH's format/);
    refused(`ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE test`, /this is a public key/);
    refused('hello', /not an OpenSSH private key/);
    const lines = keys.ed25519.trim().split('\n');
    refused([lines[0], lines[1], lines.at(-1)].join('\n'), /malformed/);
    // A changed byte in the private part's first check number: the two no longer agree. It follows
    // the magic (15 bytes), cipher, kdf, kdf options and count (24) and the public key (4 + 51).
    const body = Buffer.from(lines.slice(1, -1).join(''), 'base64');
    const flipped = Buffer.from(body);
    flipped[15 + 24 + 4 + 51 + 4] ^= 0xff;
    const damaged = [lines[0], ...(flipped.toString('base64').match(/.{1,70}/g) ?? []), lines.at(-1)].join('\n');
    assert.throws(() => parseDeployKey(damaged), /credentials\.privateKey: malformed: its check numbers differ/);
  });

  it('wants known hosts that name the repository host, and checks each line', async () => {
    const pub = (await readFile(path.join(dir, 'ed25519.pub'), 'utf8')).trim().split(' ');
    const line = (hosts: string) => `${hosts} ${pub[0]} ${pub[1]}`;
    assert.deepEqual(parseKnownHosts(`# from ssh-keyscan\n\n${line('github.com')}\r\n`, 'github.com'), {
      knownHosts: `${line('github.com')}\n`,
      keys: [{ hosts: 'github.com', type: 'ssh-ed25519', fingerprint: fingerprints.ed25519, marker: null }],
    });
    parseKnownHosts(line('[git.example.com]:2222,10.0.0.1'), '[git.example.com]:2222');
    parseKnownHosts(line('*.example.com,!evil.example.com'), 'git.example.com');
    assert.throws(() => parseKnownHosts(line('*.example.com,!evil.example.com'), 'evil.example.com'), /no line names evil\.example\.com/);
    assert.throws(() => parseKnownHosts(line('git.example.com'), '[git.example.com]:2222'), /ssh-keyscan -p 2222 git\.example\.com/);
    assert.throws(() => parseKnownHosts(`@revoked ${line('github.com')}`, 'github.com'), /no line names github\.com/);
    assert.throws(() => parseKnownHosts('', 'github.com'), /credentials\.knownHosts: required/);
    assert.throws(() => parseKnownHosts(`${line('github.com')}\ngithub.com ssh-ed25519`, 'github.com'), /line 2: not a known_hosts line/);
    assert.throws(() => parseKnownHosts(`github.com ssh-rsa ${pub[1]}`, 'github.com'), /line 1: the key is not a ssh-rsa key/);
    assert.throws(() => parseKnownHosts(`@trusted ${line('github.com')}`, 'github.com'), /unknown marker @trusted/);

    // A hashed file (ssh-keygen -H), as ssh writes it with HashKnownHosts.
    const file = path.join(dir, 'known_hosts');
    await execFileP('sh', ['-c', `echo '${line('[git.example.com]:2222')}' > ${file} && ssh-keygen -q -H -f ${file}`]);
    const hashed = await readFile(file, 'utf8');
    assert.match(hashed, /^\|1\|/);
    assert.equal(parseKnownHosts(hashed, '[git.example.com]:2222').keys[0].hosts, '(hashed)');
    assert.throws(() => parseKnownHosts(hashed, 'git.example.com'), /no line names/);
    assert.deepEqual(
      describeKnownHosts(hashed).map((k) => k.fingerprint),
      [fingerprints.ed25519],
    );
  });
});
