// Cobertura summaries of the reports common tools write, and the refusals of what is not one.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { MAX_COVERAGE_FILES, MAX_COVERAGE_PACKAGES } from '../../src/api/coverage.js';
import { combineCoverage, summarizeCobertura } from '../../src/reports/cobertura.js';
import { XmlReportError, type XmlLimits } from '../../src/reports/xml.js';
import { COBERTURA_1_9, COVERAGE_PY, GOCOVER, ISTANBUL, JACOCO_COVER2COVER, manyFiles } from './cobertura-fixtures.js';

const summarize = (xml: string, limits?: XmlLimits) => summarizeCobertura('coverage.xml', [Buffer.from(xml)], limits);

async function refusal(xml: string, limits?: XmlLimits): Promise<XmlReportError> {
  const err = await summarize(xml, limits).then(
    () => assert.fail('expected a refusal'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof XmlReportError, String(err));
  return err;
}

describe('Cobertura summaries', () => {
  test('coverage.py: totals, branch counts and packages as written, files by uncovered lines', async () => {
    const s = await summarize(COVERAGE_PY);
    assert.deepEqual(
      [s.version, s.lineRate, s.branchRate, s.linesCovered, s.linesValid, s.branchesCovered, s.branchesValid],
      ['7.4.0', 0.7778, 0.5, 7, 9, 2, 4],
    );
    assert.deepEqual(
      s.packages.map((p) => [p.name, p.lineRate, p.linesCovered, p.linesValid, p.branchesCovered, p.branchesValid]),
      [
        ['.', 1, 2, 2, 0, 0],
        ['calc', 0.7143, 5, 7, 2, 4],
      ],
    );
    assert.deepEqual(
      s.files.map((f) => [f.name, f.linesCovered, f.linesValid]),
      [
        ['calc/ops.py', 5, 7],
        ['main.py', 2, 2],
      ],
    );
    assert.equal(s.filesOmitted, 0);
  });

  test('Istanbul (nyc, c8, jest): the DOCTYPE is fine and lines under <methods> are not counted twice', async () => {
    const s = await summarize(ISTANBUL);
    assert.deepEqual([s.lineRate, s.linesCovered, s.linesValid, s.branchesCovered, s.branchesValid], [0.75, 6, 8, 1, 2]);
    assert.deepEqual(
      s.packages.map((p) => [p.name, p.linesCovered, p.linesValid]),
      [
        ['src', 4, 6],
        ['src.util', 2, 2],
      ],
    );
    assert.equal(s.files[0].name, 'src/sum.js');
    assert.equal(s.files[0].lineRate, 4 / 6);
  });

  test('gocover-cobertura: an empty version is none; per-file counts from the class lines', async () => {
    const s = await summarize(GOCOVER);
    assert.equal(s.version, null);
    assert.deepEqual([s.lineRate, s.branchRate, s.linesCovered, s.linesValid], [0.75, 0, 3, 4]);
    assert.deepEqual(
      s.files.map((f) => [f.name, f.linesCovered, f.linesValid, f.branchRate]),
      [['example.com/app/mathx/abs.go', 3, 4, null]],
    );
  });

  test('JaCoCo through cover2cover: an inner class adds to its file; multi-branch conditions count', async () => {
    const s = await summarize(JACOCO_COVER2COVER);
    assert.deepEqual([s.lineRate, s.linesCovered, s.linesValid, s.branchesCovered, s.branchesValid], [0.8, 4, 5, 2, 4]);
    assert.deepEqual(
      s.files.map((f) => [f.name, f.linesCovered, f.linesValid, f.branchesCovered, f.branchesValid]),
      [['com/example/shop/Cart.java', 4, 5, 2, 4]],
    );
  });

  test('Cobertura 1.9 (rates only): the counts come from the lines, the rates from the report', async () => {
    const s = await summarize(COBERTURA_1_9);
    assert.deepEqual([s.version, s.lineRate, s.branchRate, s.linesCovered, s.linesValid], ['1.9', 0.5, 0, 1, 2]);
  });

  test('a report without rates computes them, and "NaN" rates are none', async () => {
    const s = await summarize(
      '<coverage line-rate="NaN"><packages><package name="p"><classes><class filename="a.c"><lines><line number="1" hits="0"/><line number="2" hits="4"/></lines></class></classes></package></packages></coverage>',
    );
    assert.deepEqual([s.lineRate, s.branchRate, s.linesCovered, s.linesValid], [0.5, null, 1, 2]);
  });

  test('packages and files are capped; the totals count everything', async () => {
    const files = MAX_COVERAGE_FILES + 700;
    const s = await summarize(manyFiles(files, 400));
    assert.equal(s.linesValid, files);
    assert.equal(s.linesCovered, 400);
    assert.equal(s.files.length, MAX_COVERAGE_FILES);
    assert.equal(s.filesOmitted, 700);
    assert.equal(s.files[0].linesCovered, 0, 'the least covered files come first');
    assert.equal(s.packages.length, Math.min(300, MAX_COVERAGE_PACKAGES));
    assert.equal(s.packagesOmitted, 300 - s.packages.length);
  });

  test('several reports of one job combine by their counts', () => {
    const a = { linesCovered: 1, linesValid: 4, branchesCovered: 0, branchesValid: 0, lineRate: 0.25, branchRate: null };
    const b = { linesCovered: 5, linesValid: 6, branchesCovered: 1, branchesValid: 2, lineRate: 5 / 6, branchRate: 0.5 };
    assert.deepEqual(combineCoverage([a, b]), {
      linesCovered: 6,
      linesValid: 10,
      branchesCovered: 1,
      branchesValid: 2,
      lineRate: 0.6,
      branchRate: 0.5,
    });
    assert.equal(combineCoverage([]), null);
  });
});

describe('Cobertura refusals name the file, line and column', () => {
  test('a truncated report', async () => {
    const cut = COVERAGE_PY.slice(0, COVERAGE_PY.indexOf('<package name="calc"') + 30);
    const err = await refusal(cut);
    assert.equal(err.file, 'coverage.xml');
    assert.equal(err.line, 20, 'the end of the cut, inside <package name="calc">');
    assert.match(err.message, /^coverage\.xml:20:\d+: /);
  });

  test('a JUnit file given as the coverage report', async () => {
    const err = await refusal('<?xml version="1.0"?>\n<testsuites name="jest">\n<testsuite/></testsuites>');
    assert.match(err.message, /^coverage\.xml:2:\d+: the root element is <testsuites>, not <coverage>: not a Cobertura report$/);
  });

  test('a hit count that is no number', async () => {
    const err = await refusal(
      '<coverage>\n<packages><package name="p"><classes><class filename="a.c"><lines>\n  <line number="7" hits="many"/></lines></class></classes></package></packages></coverage>',
    );
    assert.match(err.message, /^coverage\.xml:3:\d+: <line number="7">: hits="many" is not a count$/);
  });

  test('a report past the size limit', async () => {
    const err = await refusal(manyFiles(2000, 10), { maxBytes: 64 * 1024, maxDepth: 64, maxParseMs: 5000 });
    assert.match(err.message, /larger than 65536 bytes/);
  });

  test('an entity it declares is not expanded', async () => {
    const err = await refusal('<!DOCTYPE coverage [<!ENTITY a "aaaa">]><coverage version="&a;"/>');
    assert.match(err.message, /^coverage\.xml:1:\d+: .*entity/i);
  });
});
