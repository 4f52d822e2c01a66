// Runs test files with node's test runner. Node 20's --test takes no globs, so the files are chosen here.
//
//   node scripts/run-tests.mjs                      every compiled test under dist/test (the CI gate's run)
//   node scripts/run-tests.mjs webhook pipeline     compiled tests whose path contains a substring
//   node scripts/run-tests.mjs test/pipeline 'test/security/fuzz-*'   a folder, a file, or a glob
//   node scripts/run-tests.mjs --source test/pipeline                 the .ts sources under tsx, no build
//   node scripts/run-tests.mjs --unit [selectors]   the unit suites (UNIT_SUITES) from source
//
// Folders, files and globs are written as source paths (test/…, .ts); they select the compiled twin
// under dist/test too. A selector containing * ? [ or { is a glob (picomatch) on that source path,
// matched from test/ when it starts so and from any folder otherwise ('fuzz-*'); one naming a folder
// or file under test/ selects it; anything else is, as it always was, a substring of the path run.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import picomatch from 'picomatch';

// The inner loop (`npm run test:unit`): suites that need nothing but node, the source and SQLite
// files in a temporary folder, so they run from source in seconds. Chosen by what they need: no
// PostgreSQL, Patroni, slapd, Chromium, podman, sshd, Prometheus, git remotes, network listeners,
// the dist/ CLI binary or the web build. Suites that also run on PostgreSQL run on SQLite only here.
const UNIT_SUITES = [
  'test/architecture', // the folder graph and the import-boundary lint rule, from the source files
  'test/pipeline', // the pure pipeline compiler: YAML in, compiled jobs or located errors out; the corpus without exec
  'test/config', // config file and environment parsing, temporary files only
  'test/security/fuzz-expression.test.ts', // fast-check over the expression evaluator
  'test/security/fuzz-pipeline.test.ts', // fast-check over the compiler
  'test/security/fuzz-webhooks.test.ts', // fast-check over the webhook parsers, fixtures from disk
  'test/security/pipeline-*.test.ts', // the compiler's limits (size, regex, expansion): pure
  'test/source/webhooks.test.ts', // webhook payload parsers and ref filters: pure
  'test/store/{store,columns}.test.ts', // migrations, the instance lock and the JSON column readers on SQLite files
  'test/scheduler', // claim/complete/state rules on SQLite (PostgreSQL runs are left out below)
  'test/server/{delivery-once,leader,error-kinds}.test.ts', // webhook de-duplication, the leader lease, error statuses
  'test/monitor/sli-store.test.ts', // SLI counts and DORA figures on SQLite
  'test/auth/{sso-config,sso-settings,secrets-id-tokens,secrets-signing}.test.ts', // parsers; keys on SQLite
  'test/deploy/{deploy-spec,targets-spec,release-view}.test.ts', // deploy spec parsers and a view
  'test/executor/{mask,log-stream}.test.ts', // secret masking and log chunking: pure
  'test/artifacts/{paths,s3-url,dotenv,oci-reference}.test.ts', // path containment, s3:// URL, dotenv and image-ref parsing: pure
];
// ...except where a file in those folders needs a real service after all.
const UNIT_EXCLUDED = [
  'test/security/pipeline-masking.test.ts', // a real server and agents
  'test/security/pipeline-size.test.ts', // a real server and agents
];

const args = process.argv.slice(2);
const unit = args.includes('--unit');
const fromSource = unit || args.includes('--source');
const selectors = args.filter((a) => !a.startsWith('--'));
const unknown = args.filter((a) => a.startsWith('--') && a !== '--unit' && a !== '--source');
if (unknown.length > 0) {
  console.error(`unknown option ${unknown.join(' ')} (known: --source, --unit)`);
  process.exit(2);
}

function walk(dir, ending) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const full = join(dir, name);
    if (statSync(full).isDirectory()) out.push(...walk(full, ending));
    else if (name.endsWith(ending)) out.push(full);
  }
  return out;
}

/** The source path a run file stands for: dist/test/a/b.test.js → test/a/b.test.ts. */
function sourcePathOf(file) {
  return fromSource ? file : file.replace(/^dist\//, '').replace(/\.js$/, '.ts');
}

/** A predicate on run files for one selector (see the header). */
function matcherFor(selector) {
  const asSource = selector
    .replace(/^\.\//, '')
    .replace(/^dist\//, '')
    .replace(/\/+$/, '')
    .replace(/\.test\.js$/, '.test.ts');
  if (/[*?[\]{}]/.test(asSource)) {
    const isMatch = picomatch(asSource.startsWith('test/') ? asSource : `**/${asSource}`);
    return (file) => isMatch(sourcePathOf(file));
  }
  const underTest = asSource === 'test' || asSource.startsWith('test/');
  if (underTest && (existsSync(asSource) || existsSync(join('dist', asSource)))) {
    return (file) => {
      const source = sourcePathOf(file);
      return source === asSource || source.startsWith(`${asSource}/`);
    };
  }
  return (file) => file.includes(selector);
}

const anyOf = (list) => {
  const matchers = list.map(matcherFor);
  return (file) => matchers.some((m) => m(file));
};
const chosen = selectors.length === 0 ? () => true : anyOf(selectors);
const inUnit = unit ? anyOf(UNIT_SUITES) : () => true;
const excluded = unit ? anyOf(UNIT_EXCLUDED) : () => false;

const root = fromSource ? 'test' : 'dist/test';
const files = walk(root, fromSource ? '.test.ts' : '.test.js')
  .filter((f) => inUnit(f) && !excluded(f) && chosen(f))
  .sort();
if (files.length === 0) {
  console.error(
    fromSource ? `no test files under test/ match ${selectors.join(' ')}` : 'no test files found under dist/test (did the build run?)',
  );
  process.exit(1);
}

const env = { ...process.env };
// The unit loop is SQLite-only: suites over both store backends skip PostgreSQL (test/store/helpers.ts).
if (unit) env.TANDEM_TEST_BACKENDS ??= 'sqlite';
// ...and checks the corpus (test/pipeline/corpus.test.ts) with the compiler only, without `tandem exec` runs.
if (unit) env.TANDEM_CORPUS_EXEC ??= '0';
const concurrency = process.env.TANDEM_TEST_CONCURRENCY ?? '2';
const result = spawnSync(
  process.execPath,
  [...(fromSource ? ['--import', 'tsx'] : []), '--test', `--test-concurrency=${concurrency}`, '--test-reporter=spec', ...files],
  { stdio: 'inherit', env },
);
process.exit(result.status ?? 1);
