// `id_tokens` in pipeline files (GitLab's keyword): compiled per job, from `default` unless the
// job opts out, audiences variable-expanded, malformed entries reported at their line.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { idTokenClaims, idTokenSubject, type JobIdentity } from '../../src/auth/id-tokens.js';
import { compile, compileOk } from '../pipeline/helpers.js';

describe('id_tokens in a pipeline file', () => {
  it('compiles into the job, from default unless inherit:default leaves it out, audiences expanded', async () => {
    const p = await compileOk(`
variables:
  AUD: https://vault.example
default:
  id_tokens:
    VAULT_TOKEN:
      aud: $AUD
own:
  id_tokens:
    A: { aud: [one, "$AUD/two"] }
  script: [echo]
inherits:
  script: [echo]
opts-out:
  inherit: { default: false }
  script: [echo]
`);
    const byName = Object.fromEntries(p.jobs.map((j) => [j.name, j.idTokens]));
    assert.deepEqual(byName, {
      own: { A: { aud: ['one', 'https://vault.example/two'] } },
      inherits: { VAULT_TOKEN: { aud: 'https://vault.example' } },
      'opts-out': undefined,
    });
  });

  it('reports a token without aud and a name that is no variable name, at their line', async () => {
    const result = await compile(
      'job:\n  script: [echo]\n  id_tokens:\n    OK: { aud: x }\n    NO_AUD: { audience: x }\n    9LIVES: { aud: x }\n',
    );
    assert.ok(!result.ok && !result.skipped);
    const messages = result.errors.map((e) => `${e.line}: ${e.message}`);
    assert.ok(
      messages.some((m) => /^5: .*NO_AUD.*aud/.test(m)),
      messages.join('\n'),
    );
    assert.ok(
      messages.some((m) => /^6: `job\.id_tokens\.9LIVES`: a token name is a variable name/.test(m)),
      messages.join('\n'),
    );
  });
});

describe('id token claims', () => {
  const identity: JobIdentity = {
    repo: { id: 7, name: 'shop' },
    pipeline: { id: 42, source: 'push', ref: 'v1.2.0', isTag: true, sha: 'a'.repeat(40) },
    job: { id: 99, name: 'deploy', stage: 'deploy' },
    refProtected: false,
    environment: { name: 'production', tier: null, protected: true },
  };

  it("follow GitLab's names and subject; environment claims only for jobs with one", () => {
    assert.equal(idTokenSubject(identity), 'project_path:shop:ref_type:tag:ref:v1.2.0');
    assert.deepEqual(idTokenClaims(identity), {
      project_id: '7',
      project_path: 'shop',
      pipeline_id: '42',
      pipeline_source: 'push',
      job_id: '99',
      job_name: 'deploy',
      job_stage: 'deploy',
      ref: 'v1.2.0',
      ref_type: 'tag',
      ref_path: 'refs/tags/v1.2.0',
      ref_protected: 'false',
      sha: 'a'.repeat(40),
      environment: 'production',
      environment_protected: 'true',
    });
    assert.equal(idTokenClaims({ ...identity, environment: null }).environment, undefined);
  });
});
