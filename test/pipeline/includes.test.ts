// Includes beyond `local` (project, component, remote, template) and `include:local` wildcards,
// compiled with a fake context that serves foreign files: GitLab's documented behaviour,
// https://docs.gitlab.com/ci/yaml/#include and https://docs.gitlab.com/ci/components/.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { compilePipeline } from '../../src/pipeline/index.js';
import type { CompileResult, ForeignIncludeRequest, ForeignIncludeResult } from '../../src/pipeline/index.js';
import { PUSH_MAIN } from './helpers.js';

/** Projects by path, each with refs (the first one is the default branch) holding files. */
type Projects = Record<string, Record<string, Record<string, string>>>;

function fakeForeign(projects: Projects, other: Record<string, string> = {}) {
  const asked: ForeignIncludeRequest[] = [];
  const read = async (request: ForeignIncludeRequest): Promise<ForeignIncludeResult> => {
    asked.push(request);
    if (request.kind !== 'project') {
      const key = request.kind === 'remote' ? request.url : `template:${request.name}`;
      return key in other ? { ok: true, content: other[key] } : { ok: false, message: `cannot fetch ${key}` };
    }
    const refs = projects[request.project];
    if (!refs) return { ok: false, message: `project \`${request.project}\` not found` };
    const ref = request.ref ?? Object.keys(refs)[0];
    const files = refs[ref];
    if (!files) return { ok: false, message: `no ref \`${ref}\` in \`${request.project}\`` };
    const content = files[request.file];
    const sha = `sha-of-${ref}`;
    if (content === undefined) return { ok: false, missing: true, message: `\`${request.file}\` does not exist in \`${request.project}\`` };
    return { ok: true, content, project: { path: request.project, sha: ref.startsWith('sha-of-') ? ref : sha } };
  };
  // Nested reads come back at the resolved sha: serve every ref's files under its sha too.
  for (const refs of Object.values(projects)) for (const [ref, files] of Object.entries(refs)) refs[`sha-of-${ref}`] = files;
  return { read, asked };
}

async function compileWith(
  yaml: string,
  foreign: ReturnType<typeof fakeForeign>,
  files: Record<string, string> = {},
  variables: Record<string, string> = {},
): Promise<CompileResult> {
  return compilePipeline('.gitlab-ci.yml', yaml, {
    readFile: async (path) => files[path] ?? null,
    listFiles: async () => Object.keys(files),
    variables: { ...PUSH_MAIN, CI_SERVER_FQDN: 'ci.example.com', ...variables },
    changedFiles: async () => null,
    readIncludeFile: foreign.read,
  });
}

function ok(result: CompileResult) {
  if (!result.ok)
    assert.fail(result.skipped ? result.reason : result.errors.map((e) => `${e.file}:${e.line}:${e.column} ${e.message}`).join('\n'));
  return result.pipeline;
}

function errors(result: CompileResult) {
  if (result.ok || result.skipped) assert.fail('expected errors');
  return result.errors;
}

describe('include:project', () => {
  const projects = (): Projects => ({
    'group/templates': {
      main: {
        'ci/build.yml': 'include:\n  - local: ci/common.yml\nbuild:\n  extends: .common\n  script: make\n',
        'ci/common.yml': '.common:\n  variables:\n    FROM: templates-main\n',
        'ci/test.yml': 'test:\n  script: test\n',
      },
      'v1.0': { 'ci/build.yml': 'build:\n  script: make-v1\n' },
    },
  });

  it('reads `file` (a string or a list) at `ref`, default the default branch', async () => {
    const foreign = fakeForeign(projects());
    const p = ok(await compileWith('include:\n  - project: group/templates\n    file: [ci/build.yml, /ci/test.yml]\n', foreign));
    assert.deepEqual(
      p.jobs.map((j) => [j.name, j.script]),
      [
        ['build', ['make']],
        ['test', ['test']],
      ],
    );
    const v1 = ok(
      await compileWith("include:\n  project: 'group/templates'\n  ref: v1.0\n  file: ci/build.yml\n", fakeForeign(projects())),
    );
    assert.deepEqual(v1.jobs[0].script, ['make-v1']);
  });

  // GitLab: "include:local in a file included with include:project resolves in that project"
  // (https://docs.gitlab.com/ci/yaml/includes/#use-nested-includes): the nested local file is the
  // project's, at the commit its ref resolved to, not the pipeline's repository.
  it('nested include:local in a project file reads that project at the resolved commit', async () => {
    const foreign = fakeForeign(projects());
    const p = ok(
      await compileWith('include:\n  project: group/templates\n  file: ci/build.yml\n', foreign, {
        'ci/common.yml': '.common:\n  variables:\n    FROM: own-repository\n',
      }),
    );
    assert.deepEqual(p.jobs[0].variables, { FROM: 'templates-main' });
    assert.deepEqual(foreign.asked[1], { kind: 'project', project: 'group/templates', ref: 'sha-of-main', file: 'ci/common.yml' });
  });

  it('a file missing in the project is an error at the include, naming it', async () => {
    const e = errors(
      await compileWith('include:\n  project: group/templates\n  file: nope.yml\nj:\n  script: x\n', fakeForeign(projects())),
    );
    assert.equal(e.length, 1);
    assert.deepEqual([e[0].line, e[0].column], [2, 12]);
    assert.match(e[0].message, /`nope.yml` does not exist in `group\/templates`/);
  });

  it('variables are expanded in project, ref and file', async () => {
    const foreign = fakeForeign(projects());
    ok(
      await compileWith(
        'include:\n  project: $CI_PROJECT_NAMESPACE/templates\n  ref: $TAG\n  file: ci/$FILE\n',
        foreign,
        {},
        {
          CI_PROJECT_NAMESPACE: 'group',
          TAG: 'v1.0',
          FILE: 'build.yml',
        },
      ),
    );
    assert.deepEqual(foreign.asked[0], { kind: 'project', project: 'group/templates', ref: 'v1.0', file: 'ci/build.yml' });
  });

  it('`file` without `project`, and several kinds in one entry, are errors', async () => {
    const e1 = errors(await compileWith('include:\n  local: a.yml\n  file: b.yml\n', fakeForeign({})));
    assert.match(e1[0].message, /`file` go with `include:project` only/);
    const e2 = errors(await compileWith('include:\n  local: a.yml\n  remote: https://x/a.yml\n', fakeForeign({})));
    assert.match(e2[0].message, /takes one of `local`, `remote`, not several/);
    const e3 = errors(await compileWith('include:\n  project: a/b\n', fakeForeign({})));
    assert.match(e3[0].message, /needs `file`/);
  });

  it('each foreign file is asked for once per compilation', async () => {
    const foreign = fakeForeign(projects());
    ok(
      await compileWith('include:\n  - project: group/templates\n    file: ci/test.yml\n  - local: a.yml\n', foreign, {
        'a.yml': 'include:\n  - project: group/templates\n    file: ci/test.yml\n',
      }),
    );
    assert.equal(foreign.asked.length, 1);
  });
});

describe('include:component', () => {
  const projects = (): Projects => ({
    'my-org/security': {
      main: {},
      '1.0.0': {
        'templates/secret-detection.yml':
          'spec:\n  inputs:\n    stage:\n      default: test\n---\nsecret-detection:\n  stage: $[[ inputs.stage ]]\n  script: scan\n',
        'templates/sast/template.yml': 'sast:\n  script: sast\n',
      },
    },
  });

  // https://docs.gitlab.com/ci/components/#component-project: templates/<name>.yml, or
  // templates/<name>/template.yml for a component with other files beside it.
  it('reads templates/<name>.yml or templates/<name>/template.yml at the version, with inputs', async () => {
    const foreign = fakeForeign(projects());
    const p = ok(
      await compileWith(
        `stages: [build, test, scan]
include:
  - component: $CI_SERVER_FQDN/my-org/security/secret-detection@1.0.0
    inputs:
      stage: scan
  - component: ci.example.com/my-org/security/sast@1.0.0
`,
        foreign,
      ),
    );
    assert.deepEqual(
      p.jobs.map((j) => [j.name, j.stage]),
      [
        ['secret-detection', 'scan'],
        ['sast', 'test'],
      ],
    );
    assert.deepEqual(foreign.asked[0], {
      kind: 'project',
      project: 'my-org/security',
      ref: '1.0.0',
      file: 'templates/secret-detection.yml',
      host: 'ci.example.com',
    });
  });

  it('~latest is refused with a clear error; an unknown component names both layouts', async () => {
    const e1 = errors(await compileWith('include:\n  - component: h/my-org/security/sast@~latest\n', fakeForeign(projects())));
    assert.match(e1[0].message, /`~latest` is not supported/);
    const e2 = errors(await compileWith('include:\n  - component: h/my-org/security/nope@1.0.0\n', fakeForeign(projects())));
    assert.match(e2[0].message, /neither `templates\/nope.yml` nor `templates\/nope\/template.yml`/);
    const e3 = errors(await compileWith('include:\n  - component: not-a-component\n', fakeForeign(projects())));
    assert.match(e3[0].message, /not a component address/);
  });
});

describe('include:remote and include:template', () => {
  it('a URL (as `remote:` or a plain string) and a template are read through the context', async () => {
    const foreign = fakeForeign(
      {},
      {
        'https://example.com/ci/lint.yml': 'include: local.yml\nlint:\n  script: lint\n',
        'template:Workflows/MergeRequest-Pipelines.gitlab-ci.yml': 'workflow:\n  rules:\n    - when: always\n',
      },
    );
    const p = ok(
      await compileWith(
        'include:\n  - https://example.com/ci/lint.yml\n  - template: Workflows/MergeRequest-Pipelines.gitlab-ci.yml\n',
        foreign,
        // GitLab reads a remote file's nested local includes in the pipeline's project.
        { 'local.yml': 'own:\n  script: own\n' },
      ),
    );
    assert.deepEqual(
      p.jobs.map((j) => j.name),
      ['own', 'lint'],
    );
  });

  // https://docs.gitlab.com/ci/yaml/#includeintegrity: sha256-<base64>; another content fails the pipeline.
  it('include:integrity checks the remote file', async () => {
    const content = 'lint:\n  script: lint\n';
    const hash = `sha256-${createHash('sha256').update(content).digest('base64')}`;
    const foreign = () => fakeForeign({}, { 'https://example.com/ci.yml': content });
    const good = await compileWith(`include:\n  - remote: https://example.com/ci.yml\n    integrity: '${hash}'\n`, foreign());
    assert.deepEqual(
      ok(good).jobs.map((j) => j.name),
      ['lint'],
    );
    const bad = errors(await compileWith(`include:\n  - remote: https://example.com/ci.yml\n    integrity: sha256-AAAA\n`, foreign()));
    assert.deepEqual(
      [bad[0].line, bad[0].column, bad[0].message],
      [2, 13, 'remote include `https://example.com/ci.yml` does not match its integrity hash (sha256-AAAA)'],
    );
    const misplaced = errors(await compileWith('include:\n  - local: a.yml\n    integrity: sha256-AAAA\n', foreign()));
    assert.match(misplaced[0].message, /`integrity` go with `include:remote` only/);
  });

  it('the files of one include list are fetched side by side, and merged in order', async () => {
    let inFlight = 0;
    let most = 0;
    const read = async (request: ForeignIncludeRequest): Promise<ForeignIncludeResult> => {
      inFlight++;
      most = Math.max(most, inFlight);
      await new Promise((resolve) => setTimeout(resolve, 20));
      inFlight--;
      const name = request.kind === 'remote' ? request.url.slice(-5, -4) : 'x';
      return { ok: true, content: `variables:\n  LAST: ${name}\n${name}:\n  script: x\n` };
    };
    const result = await compilePipeline('.gitlab-ci.yml', 'include:\n  - https://e.com/a.yml\n  - https://e.com/b.yml\n', {
      readFile: async () => null,
      variables: PUSH_MAIN,
      changedFiles: async () => null,
      readIncludeFile: read,
    });
    const p = ok(result);
    assert.equal(most, 2);
    assert.deepEqual([p.jobs.map((j) => j.name), p.variables.LAST], [['a', 'b'], 'b']);
  });

  it("the context's failure is an error at the include", async () => {
    const e = errors(await compileWith('j:\n  script: x\ninclude:\n  remote: https://example.com/gone.yml\n', fakeForeign({})));
    assert.deepEqual([e[0].line, e[0].column, e[0].message], [4, 11, 'cannot fetch https://example.com/gone.yml']);
  });
});

// https://docs.gitlab.com/ci/yaml/#includelocal: "/configs/*.yml matches all .yml files in the
// configs directory; /configs/**.yml matches all .yml files in configs and any subdirectory of it;
// /configs/**/*.yml matches all .yml files only in subdirectories of configs".
describe('include:local wildcards', () => {
  const files = {
    'configs/a.yml': 'a:\n  script: x\n',
    'configs/sub/b.yml': 'b:\n  script: x\n',
    'configs/sub/deep/c.yaml': 'c:\n  script: x\n',
    'configs/readme.md': 'not yaml',
    'other/d.yml': 'd:\n  script: x\n',
  };
  const jobsOf = async (glob: string) => ok(await compileWith(`include: '${glob}'\n`, fakeForeign({}), files)).jobs.map((j) => j.name);

  it('`*` matches files directly in the folder', async () => {
    assert.deepEqual(await jobsOf('/configs/*.yml'), ['a']);
  });
  it('`**.yml` matches the folder and every folder below', async () => {
    assert.deepEqual(await jobsOf('/configs/**.yml'), ['a', 'b']);
    assert.deepEqual(await jobsOf('/configs/**'), ['a', 'b', 'c']);
  });
  it('`**/*.yml` matches only the subfolders', async () => {
    assert.deepEqual(await jobsOf('/configs/**/*.yml'), ['b']);
    assert.deepEqual(await jobsOf('configs/**/*.y*ml'), ['b', 'c']);
  });
});
