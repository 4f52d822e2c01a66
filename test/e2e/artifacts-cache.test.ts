// Artifacts between jobs (needs, stage order, dependencies), their when/exclude rules, downloads
// through the API (one file and the .tar.gz, checked with the real tar), path traversal, and caches
// carried from one pipeline to the next; on a server whose artifact store is a directory, and on
// one whose store is S3 (s3rver).
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { s3ForFile, s3SkipReason } from '../support/s3.js';
import { jobNamed, TestTandem } from '../support/tandem.js';

const run = promisify(execFile);
const s3 = s3ForFile(after);

const STORES: { name: string; skip: () => string | false; settings: () => Promise<Record<string, unknown>> }[] = [
  { name: 'a directory', skip: () => false, settings: async () => ({}) },
  { name: 'S3', skip: s3SkipReason, settings: async () => ({ artifactsUrl: (await s3()).url() }) },
];

for (const store of STORES) {
  describe(`artifacts and caches with the artifact store in ${store.name}`, { skip: store.skip() }, () => {
    let tandem: TestTandem;
    let scratch: string;
    before(async () => {
      tandem = await TestTandem.start({ agents: 1, concurrency: 3, settings: await store.settings() });
      scratch = await mkdtemp(path.join(tmpdir(), 'tandem-e2e-artifacts-'));
    });
    after(async () => {
      await tandem.close();
      await rm(scratch, { recursive: true, force: true });
    });

    interface ArtifactList {
      job: string;
      files: { path: string; size: number }[];
    }

    test('artifacts reach later stages by default, only the named ones with dependencies, none with dependencies: []', async () => {
      const { name } = await tandem.repo({
        '.gitlab-ci.yml': `
    stages: [build, test]
    make-a:
      stage: build
      script: [mkdir -p out, echo alpha > out/a.txt]
      artifacts: { paths: [out/a.txt] }
    make-b:
      stage: build
      script: [mkdir -p out, echo beta > out/b.txt]
      artifacts: { paths: [out/b.txt] }
    all:
      stage: test
      script: [cat out/a.txt out/b.txt]
    only-a:
      stage: test
      dependencies: [make-a]
      script: [cat out/a.txt, test ! -e out/b.txt]
    none:
      stage: test
      dependencies: []
      script: [test ! -e out/a.txt, test ! -e out/b.txt, echo no-artifacts-here]
    via-needs:
      stage: test
      needs: [make-b]
      script: [cat out/b.txt, test ! -e out/a.txt]
    `,
      });
      const p = await tandem.waitForPipeline(await tandem.trigger(name));
      assert.equal(p.status, 'success', JSON.stringify(p.jobs.map((j) => [j.name, j.status])));
      const all = await tandem.log(jobNamed(p, 'all').id);
      assert.match(all, /^alpha$/m);
      assert.match(all, /^beta$/m);
      assert.match(await tandem.log(jobNamed(p, 'none').id), /^no-artifacts-here$/m);
      assert.match(await tandem.log(jobNamed(p, 'via-needs').id), /^beta$/m);
    });

    test('artifacts:when on_failure keeps a failed job’s files and skips a successful one; exclude drops matches', async () => {
      const { name } = await tandem.repo({
        '.gitlab-ci.yml': `
    broken:
      allow_failure: true
      script: [echo "stack trace" > failure.log, exit 1]
      artifacts: { when: on_failure, paths: [failure.log] }
    fine:
      script: [echo ok > failure.log]
      artifacts: { when: on_failure, paths: [failure.log] }
    filtered:
      script: [mkdir -p out/sub, echo keep > out/keep.txt, echo tmp > out/drop.tmp, echo deep > out/sub/deep.tmp]
      artifacts:
        paths: [out/]
        exclude: ["out/**/*.tmp"]
    `,
      });
      const p = await tandem.waitForPipeline(await tandem.trigger(name));
      assert.equal(jobNamed(p, 'broken').status, 'failed');
      const listed = await tandem.api<ArtifactList[]>('GET', `/api/v1/pipelines/${p.id}/artifacts`);
      const byJob = Object.fromEntries(listed.body.map((j) => [j.job, j.files.map((f) => f.path).sort()]));
      assert.deepEqual(byJob.broken, ['failure.log']);
      assert.equal(byJob.fine, undefined, 'on_failure artifacts are not kept for a successful job');
      assert.deepEqual(byJob.filtered, ['out/keep.txt']);
      const file = await tandem.api('GET', `/api/v1/jobs/${jobNamed(p, 'broken').id}/artifacts/failure.log`);
      assert.equal(file.text, 'stack trace\n');
      assert.equal((await tandem.api('GET', `/api/v1/jobs/${jobNamed(p, 'fine').id}/artifacts`)).status, 404);
    });

    test('downloads: one file, the whole .tar.gz (read by tar), and no way out of the job’s artifacts', async () => {
      const { name } = await tandem.repo({
        '.gitlab-ci.yml': `
    pack:
      script:
        - mkdir -p dist/nested
        - printf 'binary\\0data' > dist/app.bin
        - echo nested > dist/nested/readme.txt
        - chmod +x dist/app.bin
      artifacts: { paths: [dist/] }
    `,
      });
      const p = await tandem.waitForPipeline(await tandem.trigger(name));
      assert.equal(p.status, 'success', JSON.stringify(p.jobs));
      const jobId = jobNamed(p, 'pack').id;

      const one = await fetch(`${tandem.url}/api/v1/jobs/${jobId}/artifacts/dist/nested/readme.txt`, {
        headers: { authorization: `Bearer ${tandem.token}` },
      });
      assert.equal(one.status, 200);
      assert.equal(await one.text(), 'nested\n');

      const archive = await fetch(`${tandem.url}/api/v1/jobs/${jobId}/artifacts`, { headers: { authorization: `Bearer ${tandem.token}` } });
      assert.equal(archive.status, 200);
      assert.match(archive.headers.get('content-type') ?? '', /gzip/);
      const tgz = path.join(scratch, 'artifacts.tar.gz');
      await writeFile(tgz, Buffer.from(await archive.arrayBuffer()));
      const listing = (await run('tar', ['-tzf', tgz])).stdout.split('\n').filter((l) => l && !l.endsWith('/'));
      assert.deepEqual(listing.sort(), ['dist/app.bin', 'dist/nested/readme.txt']);
      const out = path.join(scratch, 'extracted');
      await run('mkdir', ['-p', out]);
      await run('tar', ['-xzf', tgz, '-C', out]);
      assert.deepEqual(await readFile(path.join(out, 'dist/app.bin')), Buffer.from('binary\0data'));
      const verbose = (await run('tar', ['-tvzf', tgz])).stdout;
      assert.match(verbose, /^-rwx.* dist\/app\.bin$/m, 'the executable bit survives');

      for (const evil of [
        '..%2F..%2Ftandem.db',
        'dist%2F..%2F..%2F..%2Ftandem.db',
        '%2Fetc%2Fpasswd',
        'dist/..%2F..%2F..%2F..%2F..%2Fetc%2Fpasswd',
      ]) {
        const res = await tandem.api('GET', `/api/v1/jobs/${jobId}/artifacts/${evil}`);
        assert.ok(res.status === 400 || res.status === 404, `${evil}: got ${res.status}`);
        assert.doesNotMatch(res.text, /root:|SQLite format/, `${evil} must not serve a file outside the artifacts`);
      }
      const missing = await tandem.api<{ message: string }>('GET', `/api/v1/jobs/${jobId}/artifacts/dist/nope.txt`);
      assert.equal(missing.status, 404);
      assert.match(missing.body.message, /dist\/nope\.txt/);

      // A blob found corrupt while the archive streams aborts the download: no hang, no bad archive.
      // Tampered with in the directory store, whose files the test can reach.
      if (store.name === 'a directory') {
        const digest = createHash('sha256').update('nested\n').digest('hex');
        await writeFile(path.join(tandem.dataDir, 'artifacts', 'sha256', digest.slice(0, 2), digest), 'tampered\n');
        const broken = await fetch(`${tandem.url}/api/v1/jobs/${jobId}/artifacts`, {
          headers: { authorization: `Bearer ${tandem.token}` },
          signal: AbortSignal.timeout(15_000),
        });
        assert.equal(broken.status, 200, 'the archive starts before the blob is read');
        const ended = await broken.arrayBuffer().then(
          () => 'a whole body',
          (err: Error) => err.name,
        );
        assert.ok(ended !== 'a whole body' && ended !== 'TimeoutError', `the download ended with ${ended}`);
      }
    });

    const CACHE_PROBE = (dir: string) =>
      `if [ -f ${dir}/stamp ]; then echo "cache-hit $(cat ${dir}/stamp)"; else echo cache-miss; mkdir -p ${dir}; echo "from-$CI_PIPELINE_ID" > ${dir}/stamp; fi`;

    test('a cache saved by one pipeline is restored in the next (key and key:files); policy pull never saves', async () => {
      const { name, remote } = await tandem.repo({
        'package-lock.json': '{"v":1}\n',
        '.gitlab-ci.yml': `
    by-key:
      cache: { key: "deps-$CI_COMMIT_REF_SLUG", paths: [vendor/] }
      script: ['${CACHE_PROBE('vendor')}']
    by-files:
      cache:
        key: { files: [package-lock.json], prefix: lock }
        paths: [node_modules/]
      script: ['${CACHE_PROBE('node_modules')}']
    pull-only:
      cache: { key: pulled, paths: [pulled/], policy: pull }
      script: ['${CACHE_PROBE('pulled')}']
    `,
      });
      const logs = async (id: number) => {
        const p = await tandem.waitForPipeline(id);
        assert.equal(p.status, 'success', JSON.stringify(p.jobs));
        return Object.fromEntries(await Promise.all(p.jobs.map(async (j) => [j.name, await tandem.log(j.id)] as const)));
      };
      const first = await tandem.trigger(name);
      const one = await logs(first);
      for (const job of ['by-key', 'by-files', 'pull-only']) assert.match(one[job], /^cache-miss$/m, job);
      assert.doesNotMatch(one['pull-only'], /Saving cache/);

      const two = await logs(await tandem.trigger(name));
      assert.match(two['by-key'], new RegExp(`^cache-hit from-${first}$`, 'm'));
      assert.match(two['by-files'], new RegExp(`^cache-hit from-${first}$`, 'm'));
      assert.match(two['pull-only'], /^cache-miss$/m, 'policy pull must not have saved anything');

      // A new lock file is a new key: by-files starts cold, by-key (same branch) stays warm.
      await remote.commit({ 'package-lock.json': '{"v":2}\n' }, 'bump lock');
      await remote.push('main');
      const three = await logs(await tandem.trigger(name));
      assert.match(three['by-files'], /^cache-miss$/m);
      assert.match(three['by-key'], /^cache-hit from-/m);
    });
  });
}
