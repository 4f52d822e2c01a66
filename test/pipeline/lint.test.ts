import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { checkDeployBlock } from '../../src/deploy/index.js';
import { formatDiagnostic, lintFile, pipelineJsonSchema } from '../../src/pipeline/index.js';
import { jobShape, topLevelKeys } from '../../src/pipeline/keys.js';

describe('lintFile', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'tandem-lint-'));
    await mkdir(path.join(dir, 'ci'));
    await writeFile(path.join(dir, 'ci', 'jobs.yml'), 'test:\n  script: npm test\n  tags: [a]\n  artifact: {}\n');
    await writeFile(path.join(dir, 'package.json'), '{}');
    await writeFile(
      path.join(dir, '.gitlab-ci.yml'),
      'include: ci/jobs.yml\nbuild:\n  script: make\n  rules:\n    - exists: [package.json]\n  artifacts:\n    reports: {codequality: r.json}\n',
    );
    await writeFile(
      path.join(dir, 'ok.yml'),
      'build:\n  script: make\n  rules:\n    - exists: [package.json]\n    - if: $CI_COMMIT_BRANCH == "main"\n',
    );
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reports errors of included files relative to the linted file, and warnings', async () => {
    const file = path.join(dir, '.gitlab-ci.yml');
    const result = await lintFile(file);
    assert.equal(result.ok, false);
    const lines = result.diagnostics.map(formatDiagnostic);
    assert.deepEqual(lines, [
      `${path.join(dir, 'ci', 'jobs.yml')}:4:3: error: unknown key \`artifact\` in \`test\` (did you mean \`artifacts\`?)`,
      `${file}:7:28: warning: \`build.artifacts.reports.codequality\` is accepted but ignored: only dotenv and junit reports are processed`,
    ]);
  });

  it('checks a deploy block with the deploy parser, at the line and column of the bad value', async () => {
    const deploy = (target: string, extra = '') =>
      `deploy:\n  script: [make]\n  environment: production\n  deploy:\n    source: dist/\n    target:\n      ${target}\n    verify:\n      - http: http://127.0.0.1:8080/health\n${extra}`;
    await writeFile(path.join(dir, 'relative.yml'), deploy('local: { dir: srv/app }'));
    await writeFile(path.join(dir, 'typo.yml'), deploy('local: { dir: /srv/app }', '        intervall: 1s\n'));
    await writeFile(path.join(dir, 'variables.yml'), deploy('local: { dir: $DEPLOY_DIR }'));
    const relative = await lintFile(path.join(dir, 'relative.yml'), { checkDeployBlock });
    assert.deepEqual(
      relative.diagnostics.map((d) => [d.line, d.column, d.message]),
      [[7, 21, 'deploy.deploy.target.local.dir: must be an absolute path, got "srv/app"']],
    );
    const typo = await lintFile(path.join(dir, 'typo.yml'), { checkDeployBlock });
    assert.equal(typo.diagnostics.length, 1);
    assert.equal(typo.diagnostics[0].line, 10);
    assert.match(typo.diagnostics[0].message, /^deploy\.deploy\.verify\[0\]\.intervall: unknown key.*did you mean .interval./);
    // $DEPLOY_DIR is known only when the job runs: the agent checks the block then.
    assert.equal((await lintFile(path.join(dir, 'variables.yml'), { checkDeployBlock })).ok, true);
  });

  it('passes a valid file, with rules:exists read from the directory', async () => {
    const result = await lintFile(path.join(dir, 'ok.yml'));
    assert.equal(result.ok, true);
    assert.ok(result.result.ok);
    assert.deepEqual(
      result.result.pipeline.jobs.map((j) => j.name),
      ['build'],
    );
  });
});

describe('pipelineJsonSchema', () => {
  it('is draft-07 and lists exactly the keys the validator accepts', () => {
    const schema = pipelineJsonSchema() as {
      $schema: string;
      properties: Record<string, unknown>;
      definitions: { job: { properties: Record<string, unknown>; additionalProperties: boolean } };
    };
    assert.equal(schema.$schema, 'http://json-schema.org/draft-07/schema#');
    assert.deepEqual(Object.keys(schema.properties).sort(), Object.keys(topLevelKeys).sort());
    const jobKeys = jobShape.kind === 'object' ? Object.keys(jobShape.keys) : [];
    assert.deepEqual(Object.keys(schema.definitions.job.properties).sort(), jobKeys.sort());
    assert.equal(schema.definitions.job.additionalProperties, false);
    assert.ok(jobKeys.includes('needs') && jobKeys.includes('rules'));
    assert.doesNotThrow(() => JSON.stringify(schema));
  });

  it('accepts a key left empty (null) where GitLab reads it as unset: job, default, workflow and top-level keys', () => {
    type Node = { anyOf?: Node[]; type?: string | string[]; properties?: Record<string, Node>; description?: string };
    const schema = pipelineJsonSchema() as { properties: Record<string, Node>; definitions: { job: Node } };
    const allowsNull = (node: Node | undefined): boolean => node?.anyOf?.some((s) => s.type === 'null') === true;
    const objectOf = (node: Node | undefined): Node | undefined => node?.anyOf?.find((s) => s.type === 'object');
    assert.ok(allowsNull(schema.definitions.job.properties?.image), 'job image: null');
    assert.ok(allowsNull(schema.definitions.job.properties?.rules), 'job rules: null');
    assert.ok(allowsNull(schema.properties.variables), 'variables: null');
    assert.ok(allowsNull(objectOf(schema.properties.default)?.properties?.cache), 'default: cache: null');
    assert.ok(allowsNull(objectOf(schema.properties.workflow)?.properties?.rules), 'workflow: rules: null');
    assert.ok(schema.definitions.job.properties?.image?.description, 'descriptions stay where editors look');
  });
});
