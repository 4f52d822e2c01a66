// An agent with `--executor sandbox` runs jobs under bubblewrap: the job sees a read-only system and
// its own workspace, never the agent's or the server's data (admin token, database, other builds).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sandboxAvailable } from '../../src/executor/index.js';
import { jobNamed, TestTandem } from '../support/tandem.js';

const available = await sandboxAvailable();
const required = process.env.TANDEM_REQUIRE_ALL === '1';
if (!available) {
  const banner = '!'.repeat(72);
  console.error(
    `${banner}\n!!! bubblewrap (bwrap) is missing: the sandbox e2e test ${required ? 'FAILS (TANDEM_REQUIRE_ALL=1)' : 'is SKIPPED'}\n!!! run: bash scripts/services.sh install\n${banner}`,
  );
}

describe('sandbox executor through a real agent', { skip: !available && !required ? 'bwrap unavailable' : false }, () => {
  let tandem: TestTandem;
  before(async () => {
    tandem = await TestTandem.start({ agents: 0 });
    await tandem.addAgent({ executor: 'sandbox', name: 'sandboxed' });
  });
  after(() => tandem?.close());

  it('hides the data dir and the admin token and keeps the system read-only', async () => {
    const dataDir = tandem.dataDir;
    const { name } = await tandem.repo({
      '.gitlab-ci.yml': `
probe:
  script:
    - echo built > out.txt
    - test -f out.txt
    - if cat "${dataDir}/admin.token" 2>/dev/null; then echo TOKEN-VISIBLE; else echo token-hidden; fi
    - if ls "${dataDir}/tandem.db" 2>/dev/null; then echo DB-VISIBLE; else echo db-hidden; fi
    - if touch /usr/tandem-probe 2>/dev/null; then echo USR-WRITABLE; else echo usr-read-only; fi
  artifacts:
    paths: [out.txt]
`,
    });
    const p = await tandem.waitForPipeline(await tandem.trigger(name));
    const job = jobNamed(p, 'probe');
    const log = await tandem.log(job.id);
    assert.equal(p.status, 'success', log);
    assert.match(log, /executor: sandbox/);
    // Output lines only: the echoed commands mention both answers.
    assert.match(log, /^token-hidden$/m);
    assert.match(log, /^db-hidden$/m);
    assert.match(log, /^usr-read-only$/m);
    assert.doesNotMatch(log, /^(TOKEN-VISIBLE|DB-VISIBLE|USR-WRITABLE)$/m);
    assert.ok(!log.includes(tandem.token), 'the admin token never reaches the log');
    const artifact = await tandem.api('GET', `/api/v1/jobs/${job.id}/artifacts/out.txt`);
    assert.equal(artifact.text, 'built\n', 'the workspace stays writable and its files are collected');
  });
});
