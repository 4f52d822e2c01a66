// Property-based fuzzing of the four webhook parsers (issue 14, "keep it found"): correctly signed
// deliveries with random and mutated bodies and headers either parse or fail with a WebhookError
// (400/401/422 naming the field), within a time budget; a deeply nested body fails fast, with no
// stack overflow. TANDEM_FUZZ_RUNS sets the number of cases (npm run fuzz: 20,000).
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { test } from 'node:test';
import fc from 'fast-check';
import type { WebhookProvider } from '../../src/api/index.js';
import { MAX_PAYLOAD_DEPTH, parseWebhook, WebhookError } from '../../src/source/webhooks.js';
import { fixture } from '../support/git.js';

const SECRET = 'fuzz-secret-0123456789';
const RUNS = Number(process.env.TANDEM_FUZZ_RUNS ?? 300);
const SEED = 20261206;
const BUDGET_MS = 250;

const EVENTS: Record<WebhookProvider, string[]> = {
  github: ['push', 'pull_request', 'ping', 'issues'],
  gitlab: ['Push Hook', 'Tag Push Hook', 'Merge Request Hook', 'Note Hook'],
  gitea: ['push', 'pull_request', 'delete', 'create'],
  bitbucket: ['repo:refs_changed', 'repo:push', 'pr:opened', 'pr:from_ref_updated', 'diagnostics:ping'],
};

const FIXTURES: Record<WebhookProvider, string[]> = {
  github: ['github-push.json', 'github-pull-request.json', 'github-push-tag.json', 'github-push-delete.json', 'github-ping.json'],
  gitlab: ['gitlab-push.json', 'gitlab-tag-push.json', 'gitlab-merge-request.json'],
  gitea: ['gitea-push.json', 'gitea-pull-request.json', 'gitea-delete.json'],
  bitbucket: ['bitbucket-refs-changed.json', 'bitbucket-cloud-push.json', 'bitbucket-pr-from-ref-updated.json'],
};

/** The headers a provider signs a body with, as it sends them. */
function signedHeaders(provider: WebhookProvider, event: string, body: Buffer, extra: Record<string, string>): Record<string, string> {
  const hex = createHmac('sha256', SECRET).update(body).digest('hex');
  const base = { ...extra, 'content-type': 'application/json' };
  switch (provider) {
    case 'github':
      return { ...base, 'x-github-event': event, 'x-github-delivery': 'd-1', 'x-hub-signature-256': `sha256=${hex}` };
    case 'gitlab':
      return { ...base, 'x-gitlab-event': event, 'x-gitlab-event-uuid': 'd-1', 'x-gitlab-token': SECRET };
    case 'gitea':
      return { ...base, 'x-gitea-event': event, 'x-gitea-delivery': 'd-1', 'x-gitea-signature': hex };
    case 'bitbucket':
      return { ...base, 'x-event-key': event, 'x-request-id': 'd-1', 'x-hub-signature': `sha256=${hex}` };
  }
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** Every path (list of keys) into a JSON value, so a mutation can hit any field of a real payload. */
function paths(value: Json, prefix: string[] = []): string[][] {
  const out = [prefix];
  if (value !== null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) out.push(...paths(v as Json, [...prefix, k]));
  }
  return out;
}

function setPath(root: Json, path: string[], value: Json): Json {
  if (path.length === 0) return value;
  const copy: Json = Array.isArray(root) ? [...root] : root !== null && typeof root === 'object' ? { ...root } : {};
  const [head, ...rest] = path;
  (copy as Record<string, Json>)[head] = setPath((copy as Record<string, Json>)[head] ?? null, rest, value);
  return copy;
}

/** A value that strains a field's reader: wrong types, odd shas, long and odd strings, nesting. */
const hostileValue: fc.Arbitrary<Json> = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }) as fc.Arbitrary<Json>,
  fc.constantFrom<Json>(
    '0'.repeat(40),
    'refs/heads/main',
    'refs/tags/v1',
    'refs/heads/',
    '',
    '__proto__',
    'constructor',
    -1,
    1e308,
    2 ** 53,
    'a'.repeat(10_000),
    [],
    {},
  ),
  fc.stringMatching(/^[0-9a-fA-F]{0,70}$/),
  fc.string({ unit: 'binary', maxLength: 50 }),
);

function check(provider: WebhookProvider, headers: Record<string, string>, body: Buffer): void {
  const started = performance.now();
  try {
    const result = parseWebhook(provider, headers, body, SECRET);
    assert.equal(result.ok, true);
    for (const event of result.events) {
      assert.match(event.sha, /^[0-9a-f]{7,64}$/);
      assert.ok(event.ref.startsWith('refs/'), event.ref);
      if (event.mergeRequest) assert.equal(typeof event.mergeRequest.fromFork, 'boolean');
    }
  } catch (err) {
    if (!(err instanceof WebhookError)) throw err;
    assert.ok(['malformed', 'unauthenticated', 'invalid'].includes(err.kind));
    assert.ok(!err.message.includes(SECRET), 'errors never repeat the secret');
  } finally {
    const elapsed = performance.now() - started;
    assert.ok(elapsed < BUDGET_MS, `${provider} took ${elapsed.toFixed(0)} ms (budget ${BUDGET_MS} ms)`);
  }
}

for (const provider of Object.keys(EVENTS) as WebhookProvider[]) {
  test(`${provider}: signed, mutated real payloads parse or fail with a WebhookError within ${BUDGET_MS} ms`, async () => {
    const samples = await Promise.all(FIXTURES[provider].map(async (f) => JSON.parse((await fixture(f)).toString('utf8')) as Json));
    const mutated = fc
      .record({
        sample: fc.constantFrom(...samples),
        picks: fc.array(fc.tuple(fc.nat(), hostileValue), { maxLength: 6 }),
      })
      .map(({ sample, picks }) => {
        const all = paths(sample);
        return picks.reduce((acc, [i, v]) => setPath(acc, all[i % all.length], v), sample);
      });
    const body = fc.oneof(
      { weight: 6, arbitrary: mutated.map((v) => Buffer.from(JSON.stringify(v))) },
      { weight: 1, arbitrary: (fc.jsonValue({ maxDepth: 4 }) as fc.Arbitrary<Json>).map((v) => Buffer.from(JSON.stringify(v) ?? 'null')) },
      { weight: 1, arbitrary: fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b)) },
    );
    const extraHeaders = fc.dictionary(
      fc.constantFrom('content-type', 'x-extra', 'user-agent'),
      fc.constantFrom('application/x-www-form-urlencoded', 'text/plain', 'payload=%7B%7D', ''),
      { maxKeys: 2 },
    );
    fc.assert(
      fc.property(fc.constantFrom(...EVENTS[provider], 'random-event'), body, extraHeaders, (event, raw, extra) => {
        const headers = signedHeaders(provider, event, raw, extra);
        // The extra content-type sometimes wins: the form-encoded path is fuzzed too.
        if (extra['content-type']) headers['content-type'] = extra['content-type'];
        check(provider, headers, raw);
      }),
      { seed: SEED, numRuns: RUNS },
    );
  });

  test(`${provider}: a deeply nested body fails with 422 at once, without a stack overflow`, () => {
    for (const depth of [MAX_PAYLOAD_DEPTH + 1, 100_000, 4_000_000]) {
      const open = '{"a":'.repeat(depth);
      const body = Buffer.from(
        `{"ref":"refs/heads/main","after":"${'a'.repeat(40)}","x":${open}1${'}'.repeat(depth)},"push":{"changes":[]}}`,
      );
      const started = performance.now();
      assert.throws(
        () => parseWebhook(provider, signedHeaders(provider, EVENTS[provider][0], body, {}), body, SECRET),
        (err: unknown) => err instanceof WebhookError && err.kind === 'invalid' && /nested deeper than/.test(err.message),
      );
      assert.ok(performance.now() - started < BUDGET_MS * 4, `depth ${depth}`);
    }
  });
}
