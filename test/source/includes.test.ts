// IncludeResolver with real git repositories and loopback HTTP servers: include:project from a
// registered repository, an --include-source and a forge (git over file://, as GitLab's
// `<url>/<path>.git`), include:remote, and include:template from a fake forge's templates API
// (GitLab's GET /api/v4/templates/gitlab_ci_ymls/:key). No GitLab can run here.
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { compilePipeline, type ForeignIncludeResult } from '../../src/pipeline/index.js';
import { forgeCredentials, IncludeResolver, MirrorCache } from '../../src/source/index.js';
import { internalRemoteHost } from '../../src/server/repo-url.js';
import { git, makeRemote, tempDir } from '../support/git.js';

/** A MirrorCache that counts fetches (ensure without a sha is a clone or fetch). */
class CountingMirrors extends MirrorCache {
  fetches = 0;
  override async ensure(url: string, opts: { sha?: string } = {}): Promise<string> {
    if (opts.sha === undefined) this.fetches++;
    return super.ensure(url, opts);
  }
}

async function templatesRepo(t: TestContext) {
  const remote = await makeRemote(tempDir(t, 'include-project'));
  const v1 = await remote.commit(
    {
      'ci/build.yml': 'include: ci/common.yml\nbuild:\n  extends: .common\n  script: make v1\n',
      'ci/common.yml': '.common:\n  variables:\n    FROM: templates\n',
      'templates/lint.yml': 'spec:\n  inputs:\n    level: {default: strict}\n---\nlint:\n  script: lint --$[[ inputs.level ]]\n',
    },
    'v1',
  );
  await git(remote.work, 'tag', 'v1.0');
  await remote.commit({ 'ci/build.yml': 'include: ci/common.yml\nbuild:\n  extends: .common\n  script: make v2\n' }, 'v2');
  await remote.push('main', 'v1.0');
  return { remote, v1 };
}

async function loopback(
  t: TestContext,
  handler: (req: IncomingMessage, res: ServerResponse) => void,
): Promise<{ url: string; hits: string[] }> {
  const hits: string[] = [];
  const server = createServer((req, res) => {
    hits.push(req.url ?? '');
    handler(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => {
    server.closeAllConnections();
    server.close();
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, hits };
}

function compileWith(yaml: string, read: (r: Parameters<ReturnType<IncludeResolver['reader']>>[0]) => Promise<ForeignIncludeResult>) {
  return compilePipeline('.gitlab-ci.yml', yaml, {
    readFile: async () => null,
    variables: { CI_COMMIT_BRANCH: 'main', CI_PIPELINE_SOURCE: 'push' },
    changedFiles: async () => null,
    readIncludeFile: read,
  });
}

describe('include:project through git', () => {
  it('reads a registered repository by path at its default branch or a tag, nested local files from it', async (t) => {
    const { remote } = await templatesRepo(t);
    const mirrors = new CountingMirrors(tempDir(t, 'include-mirrors'));
    const resolver = new IncludeResolver({ mirrors });
    const read = resolver.reader({
      forge: true,
      registered: async (p) => (p === 'group/templates' ? { url: remote.bare, defaultBranch: 'main' } : null),
    });
    const result = await compileWith(
      'include:\n  - project: group/templates\n    file: ci/build.yml\n  - project: group/templates\n    ref: v1.0\n    file: templates/lint.yml\n    inputs: {level: relaxed}\n',
      read,
    );
    assert.ok(result.ok, JSON.stringify(result));
    assert.deepEqual(
      result.pipeline.jobs.map((j) => [j.name, j.script, j.variables]),
      [
        ['build', ['make v2'], { FROM: 'templates' }],
        ['lint', ['lint --relaxed'], {}],
      ],
    );
    // One fetch for the compilation, whatever the number of files and refs; and none again within the TTL.
    assert.equal(mirrors.fetches, 1);
    assert.equal((await read({ kind: 'project', project: 'group/templates', ref: null, file: 'ci/common.yml' })).ok, true);
    assert.equal(mirrors.fetches, 1);

    const missing = await read({ kind: 'project', project: 'group/templates', ref: 'v1.0', file: 'nope.yml' });
    assert.deepEqual(missing, { ok: false, missing: true, message: '`nope.yml` does not exist in project `group/templates` at `v1.0`' });
    const noRef = await read({ kind: 'project', project: 'group/templates', ref: 'v9', file: 'ci/build.yml' });
    assert.match((noRef as { message: string }).message, /has no branch, tag or commit `v9`/);
    const unknown = await read({ kind: 'project', project: 'other/thing', ref: null, file: 'x.yml' });
    assert.match(
      (unknown as { message: string }).message,
      /not a repository registered in Tandem .* no forge is configured \(forge\.url\)/,
    );
  });

  it("a refusal of the access rule is the include's error", async (t) => {
    const resolver = new IncludeResolver({ mirrors: new MirrorCache(tempDir(t, 'include-mirrors')) });
    const read = resolver.reader({ forge: true, registered: async () => ({ refused: 'project `a/b`: not for you' }) });
    assert.deepEqual(await read({ kind: 'project', project: 'a/b', ref: null, file: 'x.yml' }), {
      ok: false,
      message: 'project `a/b`: not for you',
    });
  });

  it('reads a forge project at <forge.url>/<path>.git, its default branch from the remote HEAD; a fork may not', async (t) => {
    const { remote } = await templatesRepo(t);
    const forgeRoot = tempDir(t, 'include-forge');
    await git(forgeRoot, 'clone', '--quiet', '--bare', remote.bare, path.join(forgeRoot, 'group', 'templates.git'));
    const resolver = new IncludeResolver({
      mirrors: new MirrorCache(tempDir(t, 'include-mirrors')),
      forge: { url: `file://${forgeRoot}` },
    });
    const result = await resolver.reader({ forge: true })({ kind: 'project', project: 'group/templates', ref: null, file: 'ci/build.yml' });
    assert.ok(result.ok && result.content.includes('make v2'), JSON.stringify(result));
    const fork = await resolver.reader({ forge: false })({ kind: 'project', project: 'group/templates', ref: null, file: 'ci/build.yml' });
    assert.match((fork as { message: string }).message, /a fork's pipeline may not read the forge's projects/);
    // Components name the forge's (or this server's) host; any other is refused.
    const elsewhere = await resolver.reader({ forge: true, serverHost: 'ci.example.com' })({
      kind: 'project',
      project: 'group/templates',
      ref: 'v1.0',
      file: 'templates/lint.yml',
      host: 'gitlab.com',
    });
    assert.match((elsewhere as { message: string }).message, /component host `gitlab.com` is neither/);
  });

  it('a project path that would walk out of the forge is refused', async (t) => {
    const resolver = new IncludeResolver({ mirrors: new MirrorCache(tempDir(t, 'include-mirrors')), forge: { url: 'file:///srv/forge' } });
    const read = resolver.reader({ forge: true });
    for (const project of ['../etc/secrets', 'group/../../x', 'a b/c']) {
      assert.deepEqual(await read({ kind: 'project', project, ref: null, file: 'x.yml' }), {
        ok: false,
        message: `\`${project}\` is not a project path (group/name)`,
      });
    }
  });

  it("the forge's token goes to its URLs only", () => {
    const forge = { url: 'https://GitLab.example.com/', token: 'glpat-1' };
    assert.deepEqual(forgeCredentials(forge, 'https://gitlab.example.com/g/p.git'), { username: 'oauth2', password: 'glpat-1' });
    assert.equal(forgeCredentials(forge, 'https://gitlab.example.com.evil/g/p.git'), null);
    assert.equal(forgeCredentials({ url: forge.url }, 'https://gitlab.example.com/g/p.git'), null);
  });
});

describe('include:remote over a loopback server', () => {
  it('fetches once within the TTL, and reports HTTP errors, time limits and size caps', async (t) => {
    const { url, hits } = await loopback(t, (req, res) => {
      if (req.url === '/ci.yml') res.end('remote-job:\n  script: echo remote\n');
      else if (req.url === '/big.yml') res.end('#'.repeat(2048));
      else if (req.url === '/slow.yml') setTimeout(() => res.end('late: {script: x}\n'), 5_000);
      else {
        res.statusCode = 404;
        res.end('no');
      }
    });
    let now = 0;
    const resolver = new IncludeResolver({
      mirrors: new MirrorCache(tempDir(t, 'include-mirrors')),
      allowHttp: true,
      maxBytes: 1024,
      timeoutMs: 1_000,
      cacheTtlMs: 60_000,
      now: () => now,
    });
    const read = resolver.reader({ forge: true });
    const first = await compileWith(`include: ${url}/ci.yml\n`, read);
    assert.ok(first.ok && first.pipeline.jobs[0].name === 'remote-job', JSON.stringify(first));
    await compileWith(`include:\n  - remote: ${url}/ci.yml\n`, read);
    assert.deepEqual(hits, ['/ci.yml']);
    now = 61_000;
    await read({ kind: 'remote', url: `${url}/ci.yml` });
    assert.deepEqual(hits, ['/ci.yml', '/ci.yml']);

    assert.deepEqual(await read({ kind: 'remote', url: `${url}/gone.yml` }), {
      ok: false,
      message: `cannot fetch \`${url}/gone.yml\`: HTTP 404`,
    });
    assert.deepEqual(await read({ kind: 'remote', url: `${url}/big.yml` }), {
      ok: false,
      message: `\`${url}/big.yml\` is larger than 1024 bytes`,
    });
    assert.deepEqual(await read({ kind: 'remote', url: `${url}/slow.yml` }), {
      ok: false,
      message: `cannot fetch \`${url}/slow.yml\`: no answer within 1 s`,
    });
  });

  it('refuses plain http:// unless the test-only allowHttp is set (no configuration key sets it)', async (t) => {
    const resolver = new IncludeResolver({ mirrors: new MirrorCache(tempDir(t, 'include-mirrors')) });
    const result = await compileWith('j: {script: x}\ninclude:\n  remote: http://127.0.0.1:9/ci.yml\n', resolver.reader({ forge: true }));
    assert.ok(!result.ok && !result.skipped);
    assert.deepEqual(
      result.errors.map((e) => [e.line, e.column, e.message]),
      [[3, 11, 'remote include `http://127.0.0.1:9/ci.yml`: only https:// URLs are fetched']],
    );
  });
});

describe('include:remote on the server', () => {
  it('refuses hosts inside the server network (SSRF), as repository URLs are', async (t) => {
    const resolver = new IncludeResolver({
      mirrors: new MirrorCache(tempDir(t, 'include-mirrors')),
      remoteHostRefusal: internalRemoteHost,
    });
    const read = resolver.reader({ forge: true });
    assert.deepEqual(await read({ kind: 'remote', url: 'https://169.254.169.254/latest/meta-data' }), {
      ok: false,
      message:
        "remote include `https://169.254.169.254/latest/meta-data`: host `169.254.169.254` is an address inside the server's network (loopback, private or link-local)",
    });
    assert.match((await read({ kind: 'remote', url: 'https://localhost:8443/ci.yml' })).ok ? '' : 'refused', /refused/);
  });
});

describe('include:template from a fake forge', () => {
  it("reads GET /api/v4/templates/gitlab_ci_ymls/<name> with the forge's token; without a forge, names forge.url", async (t) => {
    const seen: { url?: string; token?: string | string[] }[] = [];
    const { url } = await loopback(t, (req, res) => {
      seen.push({ url: req.url, token: req.headers['private-token'] });
      if (req.url === '/api/v4/templates/gitlab_ci_ymls/Jobs%2FBuild') {
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ name: 'Jobs/Build', content: 'build-template:\n  script: build\n' }));
      } else {
        res.statusCode = 404;
        res.end('{"message":"404 Template Not Found"}');
      }
    });
    const resolver = new IncludeResolver({ mirrors: new MirrorCache(tempDir(t, 'include-mirrors')), forge: { url, token: 'glpat-x' } });
    const result = await compileWith('include:\n  - template: Jobs/Build.gitlab-ci.yml\n', resolver.reader({ forge: true }));
    assert.ok(result.ok && result.pipeline.jobs[0].name === 'build-template', JSON.stringify(result));
    assert.deepEqual(seen, [{ url: '/api/v4/templates/gitlab_ci_ymls/Jobs%2FBuild', token: 'glpat-x' }]);
    const unknown = await resolver.reader({ forge: true })({ kind: 'template', name: 'Nope.gitlab-ci.yml' });
    assert.match((unknown as { message: string }).message, /HTTP 404/);

    const noForge = new IncludeResolver({ mirrors: new MirrorCache(tempDir(t, 'include-mirrors')) });
    const e = await compileWith('include:\n  template: Jobs/Build.gitlab-ci.yml\n', noForge.reader({ forge: true }));
    assert.ok(!e.ok && !e.skipped);
    assert.match(e.errors[0].message, /set `forge\.url` in tandem\.yml/);
  });
});
