// A tiny web service to deploy with Tandem and verify: plain Node.js, no dependencies, no build, so a
// release is just this directory (server.mjs + a VERSION file).
//
//   PORT         port to listen on (default 8080); HOST (default 127.0.0.1)
//   VERSION      file next to server.mjs (or env VERSION): the version it reports (default "dev")
//   UNHEALTHY    file next to server.mjs (or env HEALTHY=0): /health answers 500
//   ERROR_RATE   file next to server.mjs (or env ERROR_RATE), 0..1: that fraction of `/` requests
//                answer 500 and count in app_errors_total (the files are read on every request, so
//                a test or a human can flip them while it runs)
//   PIDFILE      env: where to write the process id
//
//   GET /          the version (or a 500, per ERROR_RATE)
//   GET /version   the version
//   GET /health    "ok" or 500 "unhealthy"
//   GET /metrics   Prometheus text format: app_requests_total, app_errors_total, app_info{version}
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

// The real directory of the release, also when started through a `current` symlink.
const here = dirname(fileURLToPath(import.meta.url));
const env = process.env;

function readText(name) {
  try {
    return readFileSync(join(here, name), 'utf8').trim();
  } catch {
    return null;
  }
}

const version = readText('VERSION') || env.VERSION || 'dev';
const port = Number(env.PORT || 8080);
const host = env.HOST || '127.0.0.1';

function errorRate() {
  const text = readText('ERROR_RATE') ?? env.ERROR_RATE ?? '0';
  const rate = Number(text);
  return Number.isFinite(rate) ? Math.min(1, Math.max(0, rate)) : 0;
}

function healthy() {
  return !existsSync(join(here, 'UNHEALTHY')) && env.HEALTHY !== '0';
}

let requests = 0;
let errors = 0;
// Errors are spread evenly rather than drawn at random, so a rate of 0.5 is exactly every other request.
let errorDebt = 0;

const label = `version="${version.replace(/["\\]/g, '\\$&')}"`;

function metrics() {
  return [
    '# HELP app_requests_total Application requests answered (all paths but /health and /metrics).',
    '# TYPE app_requests_total counter',
    `app_requests_total{${label}} ${requests}`,
    '# HELP app_errors_total Application requests answered with an error.',
    '# TYPE app_errors_total counter',
    `app_errors_total{${label}} ${errors}`,
    '# HELP app_info The running version.',
    '# TYPE app_info gauge',
    `app_info{${label}} 1`,
    '',
  ].join('\n');
}

const server = createServer((req, res) => {
  const path = (req.url || '/').split('?')[0];
  const reply = (status, body, type = 'text/plain; charset=utf-8') => {
    res.writeHead(status, { 'content-type': type });
    res.end(body);
  };
  if (path === '/metrics') return reply(200, metrics(), 'text/plain; version=0.0.4; charset=utf-8');
  if (path === '/health') return healthy() ? reply(200, 'ok\n') : reply(500, 'unhealthy\n');
  requests++;
  if (path === '/') {
    errorDebt += errorRate();
    if (errorDebt >= 1) {
      errorDebt -= 1;
      errors++;
      return reply(500, `error (version ${version})\n`);
    }
    return reply(200, `${version}\n`);
  }
  if (path === '/version') return reply(200, `${version}\n`);
  reply(404, 'not found\n');
});

server.listen(port, host, () => {
  if (env.PIDFILE) writeFileSync(env.PIDFILE, `${process.pid}\n`);
  const { port: bound } = server.address();
  console.log(`demo service version ${version} listening on http://${host}:${bound} (pid ${process.pid})`);
});

server.on('error', (err) => {
  console.error(`demo service: ${err.message}`);
  process.exit(1);
});

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => {
    server.close(() => process.exit(0));
    // Keep-alive clients must not hold the exit up.
    server.closeAllConnections();
  });
}
