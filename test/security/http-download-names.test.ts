// Issue 14, item 20: an artifact whose name was not Latin-1 (日本.txt) or held a CR could not be
// downloaded: its name went raw into Content-Disposition, which Node refuses (a 500). The header
// now carries RFC 5987's filename* in UTF-8 beside an ASCII fallback.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { attachmentDisposition } from '../../src/server/download.js';
import { jobNamed, TestTandem } from '../support/tandem.js';

describe('downloading artifacts with any name', { timeout: 60_000 }, () => {
  let tandem: TestTandem;
  before(async () => {
    tandem = await TestTandem.start({ agents: 1 });
  });
  after(() => tandem.close());

  test('names beyond Latin-1, with a CR or quotes download under their own name', async () => {
    const names = ['résumé 日本.txt', 'cr\rname.txt', 'say "hi".txt', '💾.bin'];
    // Each name as octal escapes for printf, each line as a JSON string (valid YAML): no quoting rules of the shell or YAML in the way.
    const octal = (text: string) => [...Buffer.from(text, 'utf8')].map((b) => `\\${b.toString(8).padStart(3, '0')}`).join('');
    const script = names.map((n, i) => `    - ${JSON.stringify(`printf 'file ${i}' > "$(printf '${octal(n)}')"`)}`).join('\n');
    const { name } = await tandem.repo({ '.gitlab-ci.yml': `make:\n  script:\n${script}\n  artifacts:\n    paths: ['*.txt', '*.bin']\n` });
    const pipeline = await tandem.waitForPipeline(await tandem.trigger(name));
    assert.equal(pipeline.status, 'success', await tandem.log(jobNamed(pipeline, 'make').id));
    const job = jobNamed(pipeline, 'make').id;
    for (const [i, file] of names.entries()) {
      const res = await fetch(`${tandem.url}/api/v1/jobs/${job}/artifacts/${encodeURIComponent(file)}`, {
        headers: { authorization: `Bearer ${tandem.token}` },
      });
      assert.equal(res.status, 200, `${JSON.stringify(file)}: ${res.status} ${await res.clone().text()}`);
      assert.equal(await res.text(), `file ${i}`);
      const disposition = res.headers.get('content-disposition')!;
      const encoded = /filename\*=UTF-8''([^;]+)/.exec(disposition)?.[1];
      assert.equal(decodeURIComponent(encoded!), file, disposition);
      assert.match(disposition, /^attachment; filename="[\x20-\x7e]+"; /);
    }
  });

  test('the header is ASCII only, whatever the name: the fallback replaces what is unsafe', () => {
    assert.equal(attachmentDisposition('a b.txt'), 'attachment; filename="a b.txt"', 'a plain name needs no filename*');
    assert.equal(attachmentDisposition('x\r\ny"z\\.txt'), `attachment; filename="x__y_z_.txt"; filename*=UTF-8''x%0D%0Ay%22z%5C.txt`);
    assert.equal(
      attachmentDisposition("it's (1)*.tär"),
      `attachment; filename="it's (1)*.t_r"; filename*=UTF-8''it%27s%20%281%29%2A.t%C3%A4r`,
    );
    assert.match(attachmentDisposition('\ud800.txt'), /filename\*=UTF-8''%EF%BF%BD\.txt$/, 'a lone surrogate becomes U+FFFD');
  });
});
