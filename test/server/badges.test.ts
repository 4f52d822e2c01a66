// The pipeline and coverage badges and the repository visibility behind them (issue 18, item 4): each SVG
// is well-formed XML saying it in GitLab's colours, the ref is escaped, caches get an ETag and 304,
// and a private repository's badge answers an anonymous caller as an unknown repository would.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createRequire } from 'node:module';
import { BADGE_COLOURS, badgeStatusOf, coverageBadge, pipelineBadge, textWidth, type BadgeStatus } from '../../src/server/badge.js';
import type { RepoJson } from '../../src/api/index.js';
import { AuthServer, call } from '../auth/helpers.js';
import { tandem as cli } from '../cli/helpers.js';

/** The parts of an XML DOM the checks read. */
interface XmlElement {
  tagName: string;
  textContent: string | null;
  getAttribute(name: string): string | null;
  getElementsByTagName(name: string): ArrayLike<XmlElement>;
}
type XmlHandler = (message: string) => void;
interface XmlDom {
  DOMParser: new (options: { errorHandler: Record<'warning' | 'error' | 'fatalError', XmlHandler> }) => {
    parseFromString(text: string, type: string): { documentElement: XmlElement | null };
  };
}
// @xmldom/xmldom (node-saml's XML parser) through require: its types pull the browser's DOM
// library into the whole program, clashing with Node's fetch and stream types.
const { DOMParser } = createRequire(import.meta.url)('@xmldom/xmldom') as XmlDom;

/** Parses the SVG, failing on any XML error (xmldom only warns on some by default). */
function parseSvg(svg: string) {
  const fail = (message: string) => {
    throw new Error(`not well-formed: ${message}\n${svg}`);
  };
  const doc = new DOMParser({ errorHandler: { warning: fail, error: fail, fatalError: fail } }).parseFromString(svg, 'image/svg+xml');
  const root = doc.documentElement!;
  assert.equal(root.tagName, 'svg');
  const texts = Array.from(root.getElementsByTagName('text')).map((t) => t.textContent);
  const title = root.getElementsByTagName('title')[0]!.textContent;
  const fills = Array.from(root.getElementsByTagName('rect')).map((r) => r.getAttribute('fill'));
  return { root, texts, title, fills, width: Number(root.getAttribute('width')) };
}

const STATUSES: BadgeStatus[] = ['passed', 'failed', 'running', 'pending', 'canceled', 'skipped', 'manual', 'unknown'];

describe('pipeline badge SVG', () => {
  test('each status: well-formed, "pipeline | <status>", its colour, wider for longer words', () => {
    for (const status of STATUSES) {
      const svg = parseSvg(pipelineBadge('main', status));
      assert.deepEqual(svg.texts, ['pipeline', 'pipeline', status, status], status);
      assert.ok(svg.fills.includes(BADGE_COLOURS[status]), `${status} in ${BADGE_COLOURS[status]}`);
      assert.equal(svg.title, `pipeline of main: ${status}`);
      assert.equal(svg.width, textWidth('pipeline') + textWidth(status) + 20, status);
    }
    assert.equal(BADGE_COLOURS.passed, '#4c1');
    assert.equal(BADGE_COLOURS.failed, '#e05d44');
    assert.ok(parseSvg(pipelineBadge('main', 'canceled')).width > parseSvg(pipelineBadge('main', 'failed')).width);
  });

  test("pipeline statuses in GitLab's words", () => {
    assert.equal(badgeStatusOf('success'), 'passed');
    assert.equal(badgeStatusOf('created'), 'pending');
    assert.equal(badgeStatusOf('scheduled'), 'pending');
    assert.equal(badgeStatusOf(null), 'unknown');
  });

  test('a ref with XML markup is escaped, never markup', () => {
    const ref = `x<y&z"'</title><script>`;
    const svg = pipelineBadge(ref, 'failed');
    assert.ok(!svg.includes('<script>'));
    const parsed = parseSvg(svg);
    assert.equal(parsed.title, `pipeline of ${ref}: failed`);
    assert.equal(parsed.root.getAttribute('aria-label'), `pipeline of ${ref}: failed`);
  });
});

describe('coverage badge SVG', () => {
  test("GitLab's thresholds and colours, two decimals, unknown without a value", () => {
    const cases: [number | null, string, string][] = [
      [100, '100.00%', '#4c1'],
      [95, '95.00%', '#4c1'],
      [94.999, '95.00%', '#a3c51c'],
      [90, '90.00%', '#a3c51c'],
      [75, '75.00%', '#dfb317'],
      [74.99, '74.99%', '#e05d44'],
      [0, '0.00%', '#e05d44'],
      [null, 'unknown', '#9f9f9f'],
    ];
    for (const [value, text, colour] of cases) {
      const svg = parseSvg(coverageBadge('main', value));
      assert.deepEqual(svg.texts, ['coverage', 'coverage', text, text], String(value));
      assert.ok(svg.fills.includes(colour), `${value} in ${colour}: ${svg.fills.join(' ')}`);
      assert.equal(svg.title, `coverage of main: ${text}`);
      assert.equal(svg.width, textWidth('coverage') + textWidth(text) + 20);
    }
  });

  test('a job and a ref with markup are named in the title, escaped', () => {
    const parsed = parseSvg(coverageBadge('a<b', 87.5, 'unit&"x'));
    assert.equal(parsed.title, 'coverage of unit&"x on a<b: 87.50%');
  });
});

describe('badge route and repository visibility', () => {
  let tandem: AuthServer;
  let outsider: string;
  let guest: string;

  before(async () => {
    tandem = await AuthServer.start();
    await tandem.repo('shop', undefined, ['feature']);
    await tandem.repo('vault');
    outsider = (await tandem.user('olga')).token;
    guest = (await tandem.user('gus')).token;
    await tandem.member('vault', 'gus', 'guest');
    await tandem.user('mia');
    await tandem.member('shop', 'mia', 'maintainer');
  });
  after(() => tandem.close());

  const badge = (repo: string, query = '', headers: Record<string, string> = {}, token?: string) =>
    call<string>(tandem.url, 'GET', `/api/v1/repos/${repo}/badges/pipeline.svg${query}`, {
      as: token ? { token } : null,
      headers,
    });

  test('repositories are private by default; a maintainer makes one public, and the audit log says so', async () => {
    const shown = await tandem.api<{ visibility: string }>('GET', '/api/v1/repos/shop');
    assert.equal(shown.body.visibility, 'private');
    const mia = await tandem.tokenFor('mia');
    const bad = await tandem.api('PATCH', '/api/v1/repos/shop', { as: { token: mia }, body: { visibility: 'open' } });
    assert.equal(bad.status, 422);
    assert.match(bad.text, /visibility/);
    const changed = await tandem.api<{ visibility: string }>('PATCH', '/api/v1/repos/shop', {
      as: { token: mia },
      body: { visibility: 'public' },
    });
    assert.equal(changed.status, 200, changed.text);
    assert.equal(changed.body.visibility, 'public');
    const [entry] = (
      await tandem.api<{ actor: string; details: Record<string, unknown> | null }[]>('GET', '/api/v1/audit?action=repo.update&limit=1')
    ).body;
    assert.equal(entry.actor, 'mia');
    assert.deepEqual(entry.details, { visibility: { from: 'private', to: 'public' } });
    const created = await tandem.api<{ visibility: string }>('POST', '/api/v1/repos', {
      body: { name: 'docs', url: (await tandem.repo('docs-src')).bare, visibility: 'public' },
    });
    assert.equal(created.status, 201, created.text);
    assert.equal(created.body.visibility, 'public');
  });

  test('the CLI sets the visibility and shows it', async () => {
    const auth = ['--server', tandem.url, '--token', tandem.adminToken];
    const refused = await cli(['repo', 'edit', 'vault', ...auth, '--visibility', 'open']);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /Allowed choices are private, public/);
    const opened = await cli(['repo', 'edit', 'vault', ...auth, '--visibility', 'public', '--json']);
    assert.equal(opened.code, 0, opened.stderr);
    assert.equal((JSON.parse(opened.stdout) as RepoJson).visibility, 'public');
    assert.equal((await badge('vault')).status, 200, 'public now: readable without a token');
    const closed = await cli(['repo', 'edit', 'vault', ...auth, '--visibility', 'private']);
    assert.equal(closed.code, 0, closed.stderr);
    assert.match(closed.stdout, /Changed vault \(private\)/);
    const listed = await cli(['repo', 'list', ...auth]);
    assert.match(listed.stdout, /vault.*private/);
  });

  test('a public badge: anonymous, the default branch, cacheable with an ETag and 304', async () => {
    const first = await badge('shop');
    assert.equal(first.status, 200, first.text);
    assert.match(first.headers.get('content-type') ?? '', /^image\/svg\+xml/);
    assert.equal(first.headers.get('cache-control'), 'public, max-age=30');
    assert.equal(parseSvg(first.text).title, 'pipeline of main: unknown', 'no pipeline yet');
    const etag = first.headers.get('etag')!;
    assert.match(etag, /^"[^"]+"$/);
    const again = await badge('shop', '', { 'if-none-match': etag });
    assert.equal(again.status, 304);
    assert.equal(again.text, '');

    // A real pipeline on feature, waiting for an agent, then canceled: the badge follows it.
    const run = await tandem.api<{ id: number }>('POST', '/api/v1/repos/shop/pipelines', { body: { ref: 'feature' } });
    assert.equal(run.status, 201, run.text);
    const pending = await badge('shop', '?ref=feature', { 'if-none-match': etag });
    assert.equal(pending.status, 200, 'another ref, another ETag');
    assert.deepEqual(parseSvg(pending.text).texts.slice(2), ['pending', 'pending']);
    assert.equal((await tandem.api('POST', `/api/v1/pipelines/${run.body.id}/cancel`)).status, 200);
    const canceled = await badge('shop', '?ref=feature', { 'if-none-match': pending.headers.get('etag')! });
    assert.equal(canceled.status, 200, 'a new status is a new ETag');
    assert.equal(parseSvg(canceled.text).title, 'pipeline of feature: canceled');
    assert.equal((await badge('shop')).headers.get('etag'), etag, 'main still has no pipeline: the same badge');
  });

  test('a ref with <&" is escaped in the badge', async () => {
    const res = await badge('shop', `?ref=${encodeURIComponent('a<&"b')}`);
    assert.equal(res.status, 200);
    assert.ok(res.text.includes('a&lt;&amp;&quot;b'));
    assert.equal(parseSvg(res.text).title, 'pipeline of a<&"b: unknown');
    const twice = await badge('shop', '?ref=a&ref=b');
    assert.equal(parseSvg(twice.text).title, 'pipeline of main: unknown', 'a repeated ref: the default branch');
  });

  test("a private repository's badge: 404 like an unknown one to strangers, private and uncached to readers", async () => {
    const unknown = await badge('no-such-repo');
    assert.equal(unknown.status, 404);
    for (const token of [undefined, outsider, 'tdm_not-a-token']) {
      const res = await badge('vault', '', {}, token);
      assert.equal(res.status, 404, `${token ?? 'anonymous'}: ${res.text}`);
      assert.equal(res.text.replace('vault', 'no-such-repo'), unknown.text, 'the same answer as an unknown repository');
    }
    for (const token of [guest, tandem.adminToken]) {
      const res = await badge('vault', '', {}, token);
      assert.equal(res.status, 200, res.text);
      assert.equal(res.headers.get('cache-control'), 'private, no-store');
      assert.equal(parseSvg(res.text).title, 'pipeline of main: unknown');
    }
  });
});
