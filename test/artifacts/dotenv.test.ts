// The dotenv report format as GitLab's ParseDotenvArtifactService reads it.
// https://docs.gitlab.com/ee/ci/yaml/artifacts_reports.html#artifactsreportsdotenv
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DotenvError, MAX_DOTENV_VARIABLES, parseDotenv } from '../../src/artifacts/index.js';

const parse = (...texts: string[]) => parseDotenv(texts.map((t, i) => ({ name: `f${i}.env`, content: Buffer.from(t) })));

describe('parseDotenv', () => {
  it('reads KEY=VALUE lines: split at the first =, trimmed, quotes kept, later lines and files win', () => {
    assert.deepEqual(parse('\uFEFFA=1\r\n B = two words \nURL=https://x/?a=b\nQ="quoted"\nA=3', 'A=4\nEMPTY=\n'), {
      A: '4',
      B: 'two words',
      URL: 'https://x/?a=b',
      Q: '"quoted"',
      EMPTY: '',
    });
  });

  it('refuses what GitLab refuses: empty lines, lines without =, bad keys, too many variables, 5 KB', () => {
    assert.throws(
      () => parse('A=1\n\nB=2\n'),
      (e: Error) => e instanceof DotenvError && /f0\.env:2: .*empty lines/.test(e.message),
    );
    assert.throws(() => parse('# a comment\n'), /f0\.env:1: not KEY=VALUE/);
    assert.throws(() => parse('export A=1\n'), /key "export A" may contain only letters, digits and _/);
    assert.throws(() => parse('A-B=1\n'), /key "A-B"/);
    const many = Array.from({ length: MAX_DOTENV_VARIABLES + 1 }, (_, i) => `V${i}=x`).join('\n');
    assert.throws(() => parse(many), /sets 21 variables; at most 20/);
    assert.doesNotThrow(() => parse(Array.from({ length: MAX_DOTENV_VARIABLES }, (_, i) => `V${i}=x`).join('\n')));
    assert.throws(() => parse(`A=${'x'.repeat(5 * 1024)}`), /must be smaller than 5120 bytes/);
  });
});
