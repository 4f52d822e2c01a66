// Tandem's layers: which top-level folder of src/ may import which. The table is the architecture,
// drawn once: docs/architecture.md shows it, the lint rule (./boundaries.mjs) enforces it on every
// import, and test/architecture/layers.test.ts checks that it has no cycle and that the code's
// real import graph has none either. `root` is the files directly in src/ (errors.ts, version.ts).
//
// Adding an edge is an architectural decision: add it here, in one place, and the cycle check
// tells you at once whether it would tie two parts into one.
// One row per folder, bottom to top: a folder may import only folders in rows above its own.
// prettier-ignore
export const LAYERS = {
  root:      [],
  pipeline:  ['root'],
  artifacts: ['root', 'pipeline'],
  executor:  ['root', 'pipeline'],
  deploy:    ['root', 'pipeline'],
  api:       ['root', 'pipeline', 'artifacts'],
  source:    ['root', 'pipeline', 'api', 'executor'],
  agent:     ['root', 'api', 'artifacts', 'deploy', 'executor', 'pipeline', 'source'],
  store:     ['root', 'api'],
  monitor:   ['root', 'api', 'store'],
  reports:   ['root', 'api', 'artifacts', 'store'],
  auth:      ['root', 'api', 'pipeline', 'store'],
  config:    ['root', 'auth', 'monitor'],
  repos:     ['root', 'auth', 'source', 'store'],
  outbox:    ['root', 'api', 'auth', 'config', 'monitor', 'pipeline', 'repos', 'source', 'store'],
  scheduler: ['root', 'api', 'artifacts', 'auth', 'executor', 'monitor', 'outbox', 'pipeline', 'reports', 'repos', 'source', 'store'],
  releases:  ['root', 'api', 'artifacts', 'pipeline', 'scheduler', 'store'],
  schedules: ['root', 'auth', 'repos', 'scheduler', 'store'],
  exec:      ['root', 'agent', 'api', 'artifacts', 'deploy', 'executor', 'pipeline', 'reports', 'scheduler', 'store'],
  dr:        ['root', 'artifacts', 'auth', 'config', 'store'],
  server:    ['root', 'api', 'artifacts', 'auth', 'config', 'deploy', 'dr', 'executor', 'monitor', 'outbox', 'pipeline', 'releases', 'reports', 'repos', 'scheduler', 'schedules', 'source', 'store'],
  ops:       ['root', 'agent', 'auth', 'config', 'dr', 'server', 'store'],
  cli:       ['root', 'agent', 'api', 'artifacts', 'auth', 'config', 'deploy', 'dr', 'exec', 'executor', 'monitor', 'ops', 'outbox', 'pipeline', 'reports', 'repos', 'scheduler', 'server', 'source', 'store'],
};

/** Folders whose code runs on agents or in the compiler: they hold no database and no HTTP server. */
export const PURE = ['pipeline', 'executor', 'source', 'artifacts', 'deploy', 'agent', 'api'];

/** The web UI (web/src) is bundled for browsers: it may import the API's contracts and nothing else of src/. */
export const WEB_MAY_IMPORT = ['api'];
