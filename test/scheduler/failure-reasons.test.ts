// Every failure reason the scheduler, the agents or the pipeline file's `retry:when` can name has a
// sentence of its own on the pages (src/api/failure-reasons.ts); an unknown one is shown as it is.
import assert from 'node:assert/strict';
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import { failureReasonText } from '../../src/api/index.js';
import { USER_FAILURE_REASONS } from '../../src/monitor/failure-cause.js';
import { RETRY_WHEN } from '../../src/pipeline/keys.js';
import { repoRoot } from '../support/git.js';

/** The reason codes written in the code that records them (literals such as 'script_failure'). */
async function recordedReasons(): Promise<Set<string>> {
  const found = new Set<string>();
  for (const dir of ['src/scheduler', 'src/scheduler/sql', 'src/agent', 'src/server', 'src/exec']) {
    for (const file of await readdir(path.join(repoRoot(), dir))) {
      if (!file.endsWith('.ts')) continue;
      const text = await readFile(path.join(repoRoot(), dir, file), 'utf8');
      for (const m of text.matchAll(/failure_?[rR]eason:\s*'([a-z_]+)'|'([a-z_]+_(?:failure|failed))'/g)) found.add(m[1] ?? m[2]);
    }
  }
  found.delete('allow_failure');
  found.delete('on_failure');
  return found;
}

describe('failure reasons in words', () => {
  it('has a sentence for each reason Tandem records or a file may name', async () => {
    const recorded = await recordedReasons();
    assert.ok(recorded.has('script_failure') && recorded.has('superseded') && recorded.has('stale_claim'), [...recorded].join(' '));
    const all = new Set([...recorded, ...USER_FAILURE_REASONS, ...RETRY_WHEN.filter((r) => r !== 'always')]);
    for (const reason of all) {
      const text = failureReasonText(reason, null);
      assert.ok(text && !text.includes(reason), `${reason}: ${text}`);
    }
  });

  it('gives the exit code of a failed script, and an unknown reason as it came', () => {
    assert.equal(failureReasonText('script_failure', 3), 'The script exited with code 3.');
    assert.equal(failureReasonText('script_failure'), 'The script failed.');
    assert.equal(failureReasonText('disk_on_fire'), 'The job failed (disk_on_fire).');
    assert.equal(failureReasonText(null, 1), null);
  });
});
