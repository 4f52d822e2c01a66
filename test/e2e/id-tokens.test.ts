// Job ID tokens end to end: a job's `id_tokens` arrive as masked variables holding JWTs that a
// relying party verifies with nothing but the server's discovery document and JWKS (jose's
// createRemoteJWKSet, as a cloud or Vault would); claims name the repository, ref, job and
// environment; another audience is refused; after a key rotation old and new tokens verify.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify, type JWTPayload } from 'jose';
import { git } from '../support/git.js';
import { jobNamed, TestTandem, type PipelineView } from '../support/tandem.js';

const LIFETIME = 120;
const PIPELINE = `
stages: [build, deploy]
build:
  stage: build
  id_tokens:
    VAULT_ID_TOKEN:
      aud: https://vault.example
    CLOUD_TOKEN:
      aud: [sts.example, "$AUD_FROM_VARIABLE"]
  variables:
    AUD_FROM_VARIABLE: https://other.example
  script:
    - printf %s "$VAULT_ID_TOKEN" > vault.jwt
    - printf %s "$CLOUD_TOKEN" > cloud.jwt
    - echo "token $VAULT_ID_TOKEN"
  artifacts:
    paths: [vault.jwt, cloud.jwt]
deploy:
  stage: deploy
  environment:
    name: production
    deployment_tier: production
  id_tokens:
    DEPLOY_TOKEN: { aud: deployer }
  script:
    - printf %s "$DEPLOY_TOKEN" > deploy.jwt
  artifacts:
    paths: [deploy.jwt]
`;

let tandem: TestTandem;
before(async () => {
  tandem = await TestTandem.start({ agents: 1, settings: { idTokenLifetimeSeconds: LIFETIME } });
});
after(() => tandem.close());

async function artifact(p: PipelineView, job: string, path: string): Promise<string> {
  const res = await tandem.api('GET', `/api/v1/jobs/${jobNamed(p, job).id}/artifacts/${path}`);
  assert.equal(res.status, 200, res.text);
  return res.text;
}

async function discovery(): Promise<{ issuer: string; jwks_uri: string; id_token_signing_alg_values_supported: string[] }> {
  const res = await fetch(`${tandem.url}/.well-known/openid-configuration`);
  assert.equal(res.status, 200);
  return (await res.json()) as { issuer: string; jwks_uri: string; id_token_signing_alg_values_supported: string[] };
}

test('job ID tokens verify against the published JWKS, with the claims of the job, and only for their audience', async () => {
  const { name, remote, sha } = await tandem.repo({ '.gitlab-ci.yml': PIPELINE });
  const p = await tandem.waitForPipeline(await tandem.trigger(name));
  assert.equal(p.status, 'success', JSON.stringify(p.jobs));

  const config = await discovery();
  assert.equal(config.issuer, tandem.url);
  assert.equal(config.jwks_uri, `${tandem.url}/.well-known/jwks.json`);
  assert.deepEqual(config.id_token_signing_alg_values_supported, ['RS256']);
  const jwks = createRemoteJWKSet(new URL(config.jwks_uri));

  const vault = await artifact(p, 'build', 'vault.jwt');
  const { payload, protectedHeader } = await jwtVerify(vault, jwks, {
    issuer: tandem.url,
    audience: 'https://vault.example',
    algorithms: ['RS256'],
  });
  const build = jobNamed(p, 'build');
  const expected: JWTPayload = {
    iss: tandem.url,
    aud: 'https://vault.example',
    sub: `project_path:${name}:ref_type:branch:ref:main`,
    project_path: name,
    pipeline_id: String(p.id),
    pipeline_source: 'api',
    job_id: String(build.id),
    job_name: 'build',
    job_stage: 'build',
    ref: 'main',
    ref_type: 'branch',
    ref_path: 'refs/heads/main',
    ref_protected: 'true',
    sha,
  };
  for (const [claim, value] of Object.entries(expected)) assert.deepEqual(payload[claim], value, claim);
  assert.equal(payload.environment, undefined);
  assert.equal(payload.exp! - payload.iat!, LIFETIME);
  assert.ok(Math.abs(payload.iat! - Date.now() / 1000) < 60);
  assert.equal(protectedHeader.typ, 'JWT');

  await assert.rejects(jwtVerify(vault, jwks, { issuer: tandem.url, audience: 'deployer' }), {
    code: 'ERR_JWT_CLAIM_VALIDATION_FAILED',
    claim: 'aud',
  });
  await assert.rejects(jwtVerify(vault, jwks, { issuer: 'https://someone-else.example', audience: 'https://vault.example' }), {
    code: 'ERR_JWT_CLAIM_VALIDATION_FAILED',
    claim: 'iss',
  });

  const cloud = await jwtVerify(await artifact(p, 'build', 'cloud.jwt'), jwks, { issuer: tandem.url, audience: 'https://other.example' });
  assert.deepEqual(cloud.payload.aud, ['sts.example', 'https://other.example']);
  assert.notEqual(cloud.payload.jti, payload.jti);

  const deploy = await jwtVerify(await artifact(p, 'deploy', 'deploy.jwt'), jwks, { issuer: tandem.url, audience: 'deployer' });
  assert.equal(deploy.payload.environment, 'production');
  assert.equal(deploy.payload.deployment_tier, 'production');
  assert.equal(deploy.payload.job_name, 'deploy');

  const log = await tandem.log(build.id);
  assert.match(log, /^token \[MASKED\]$/m);
  assert.ok(!log.includes(vault), 'the token is in the log');

  // A rotation: tokens issued after it use the new key, those issued before still verify.
  const newKid = await tandem.server.ctx.secrets.signer.rotate();
  assert.notEqual(newKid, protectedHeader.kid);
  await git(remote.work, 'tag', 'v1');
  await remote.push('v1');
  const tagged = await tandem.waitForPipeline(await tandem.trigger(name, { ref: 'v1' }));
  assert.equal(tagged.status, 'success', JSON.stringify(tagged.jobs));
  const later = await artifact(tagged, 'build', 'vault.jwt');
  assert.equal(decodeProtectedHeader(later).kid, newKid);
  const afterRotation = createRemoteJWKSet(new URL(config.jwks_uri));
  const verified = await jwtVerify(later, afterRotation, { issuer: tandem.url, audience: 'https://vault.example' });
  assert.deepEqual(
    [verified.payload.ref, verified.payload.ref_type, verified.payload.ref_protected, verified.payload.sub],
    ['v1', 'tag', 'false', `project_path:${name}:ref_type:tag:ref:v1`],
  );
  await jwtVerify(vault, afterRotation, { issuer: tandem.url, audience: 'https://vault.example' });
  const published = ((await (await fetch(config.jwks_uri)).json()) as { keys: { kid: string }[] }).keys.map((k) => k.kid);
  assert.deepEqual(published, [newKid, protectedHeader.kid]);
});

test('id_tokens in the pipeline file: a name must be a variable name and aud is required', async () => {
  const { name } = await tandem.repo({ '.gitlab-ci.yml': 'job:\n  id_tokens:\n    1BAD: { aud: x }\n    GOOD: {}\n  script: [echo]\n' });
  const p = await tandem.waitForPipeline(await tandem.trigger(name));
  assert.equal(p.status, 'failed');
  assert.match(p.error ?? '', /`job\.id_tokens\.1BAD`: a token name is a variable name/);
  assert.match(p.error ?? '', /id_tokens\.GOOD.*aud/);
});
