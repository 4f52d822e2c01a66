// Issue 14: the server stays responsive (/healthz p99 at most 100 ms) during each resource attack
// of items 5-7 and 11-13, measured by probes on new connections from 127.0.0.1 while the attacker
// works from 127.0.0.2 in its own thread (or, for pipeline files, pushes them one after another).
// The server runs with its default limits.
import assert from 'node:assert/strict';
import { after, before, describe, test, type TestContext } from 'node:test';
import { startAttack, type AttackSpec } from '../support/attacks.js';
import { measureHealthLatency, type LatencyReport } from '../support/responsiveness.js';
import { TestTandem } from '../support/tandem.js';
import { aliasBomb, CATASTROPHIC_REGEX, HEAVY, HUNDRED_THOUSAND_JOBS, MATRIX_50_CUBED, referenceBlowUp } from './hostile-pipelines.js';

const P99_MS = 100;
const ATTACKER = '127.0.0.2';

describe('responsiveness under attack', { timeout: 120_000 }, () => {
  let tandem: TestTandem;
  let streamPath: string;
  before(async () => {
    tandem = await TestTandem.start({ agents: 0 });
    const { name } = await tandem.repo({ '.gitlab-ci.yml': 'job:\n  script: [echo waits for an agent]\n' });
    streamPath = `/api/v1/pipelines/${await tandem.trigger(name)}/events`;
  });
  after(() => tandem.close());

  async function underAttack(spec: Omit<AttackSpec, 'url'>): Promise<LatencyReport> {
    const attack = await startAttack({ ...spec, url: tandem.url });
    try {
      return await measureHealthLatency(tandem.url, { probes: 300, intervalMs: 10 });
    } finally {
      await attack.stop();
    }
  }

  function assertResponsive(t: TestContext, what: string, latency: LatencyReport): void {
    t.diagnostic(`${what}: /healthz ${JSON.stringify(latency)}`);
    assert.equal(latency.failures, 0, `${what}: ${JSON.stringify(latency)}`);
    assert.ok(latency.p99 <= P99_MS, `${what}: /healthz p99 ${latency.p99} ms (${JSON.stringify(latency)})`);
  }

  test('1,000 slowloris connections trickling bodies: /healthz p99 stays under 100 ms', async (t) => {
    assertResponsive(t, 'slowloris', await underAttack({ kind: 'slow-body', connections: 1000, sourceAddress: ATTACKER, trickleMs: 500 }));
  });

  test('20 connections sending 15 MB bodies without credentials, each again 100 ms after its answer: /healthz p99 stays under 100 ms', async (t) => {
    // Up to 200 bodies a second, 3 GB announced: read and parsed before the caller was known, they took the p99 to 0.9-1.5 s.
    assertResponsive(
      t,
      'large bodies',
      await underAttack({ kind: 'large-body', connections: 20, sourceAddress: ATTACKER, repeatAfterMs: 100, path: '/api/v1/repos' }),
    );
  });

  test('1,000 event streams from one token: /healthz p99 stays under 100 ms', async (t) => {
    assertResponsive(
      t,
      'SSE flood',
      await underAttack({ kind: 'event-streams', connections: 1000, sourceAddress: ATTACKER, path: streamPath, token: tandem.token }),
    );
  });

  test('hostile pipeline files pushed one after another (alias bomb, !reference blow-up, 100,000 jobs, a 50×50×50 matrix, a catastrophic regex, a heavy valid file): /healthz p99 stays under 100 ms', async (t) => {
    const files = [aliasBomb(), referenceBlowUp(), HUNDRED_THOUSAND_JOBS, MATRIX_50_CUBED, CATASTROPHIC_REGEX, HEAVY];
    const repos: string[] = [];
    for (const [i, file] of files.entries()) repos.push((await tandem.repo({ '.gitlab-ci.yml': file }, { name: `hostile-${i}` })).name);
    // Bounded: each file twice, one pipeline at a time; the probes go on until the last is stored.
    const attack = (async () => {
      for (const repo of [...repos, ...repos]) {
        const res = await tandem.api('POST', `/api/v1/repos/${repo}/pipelines`, {});
        assert.equal(res.status, 201, res.text);
      }
    })();
    assertResponsive(t, 'hostile pipeline files', await measureHealthLatency(tandem.url, { probes: 300, intervalMs: 10, during: attack }));
    await attack;
  });
});
