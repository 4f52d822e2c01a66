// The streaming XML reader under report parsers: every limit cuts a document off with its position.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { readXml, XmlReportError, type XmlLimits } from '../../src/reports/xml.js';

const limits: XmlLimits = { maxBytes: 1024 * 1024, maxDepth: 8, maxParseMs: 5_000 };

async function names(xml: string | Buffer[], l = limits): Promise<string[]> {
  const seen: string[] = [];
  await readXml(
    'report.xml',
    typeof xml === 'string' ? [xml] : xml,
    { open: (tag, depth) => seen.push(`${depth}:${tag.name}`), close: () => {} },
    l,
  );
  return seen;
}

async function refusal(xml: string, l = limits): Promise<XmlReportError> {
  const err = await names(xml, l).then(
    () => assert.fail('expected a refusal'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof XmlReportError, String(err));
  return err;
}

describe('readXml', () => {
  test('reads elements in order with their depth, across chunks that split a multi-byte character', async () => {
    const bytes = Buffer.from('<a><b name="é"/><c>ü</c></a>');
    const at = bytes.indexOf(0xc3) + 1; // inside "é"
    const texts: string[] = [];
    const attrs: string[] = [];
    await readXml('r.xml', [bytes.subarray(0, at), bytes.subarray(at)], {
      open: (tag) => attrs.push(String(tag.attributes.name ?? '')),
      close: () => {},
      text: (t) => texts.push(t),
    });
    assert.deepEqual(attrs, ['', 'é', '']);
    assert.deepEqual(texts, ['ü']);
    assert.deepEqual(await names('<a><b/><c><d/></c></a>'), ['1:a', '2:b', '2:c', '3:d']);
  });

  test('malformed XML names the file, line and column', async () => {
    const err = await refusal('<a>\n  <b></a>');
    assert.equal(err.file, 'report.xml');
    assert.equal(err.line, 2);
    assert.match(err.message, /^report\.xml:2:\d+: /);
  });

  test('size, depth and entity expansion are refused', async () => {
    assert.match((await refusal(`<a>${'x'.repeat(2000)}</a>`, { ...limits, maxBytes: 1000 })).reason, /larger than 1000 bytes/);
    assert.match((await refusal('<a>'.repeat(9) + '</a>'.repeat(9))).reason, /nested deeper than 8/);
    const laughs = '<!DOCTYPE l [<!ENTITY a "lol"><!ENTITY b "&a;&a;&a;&a;">]><l>&b;</l>';
    assert.match((await refusal(laughs)).reason, /undefined entity|entity/i);
  });
});
