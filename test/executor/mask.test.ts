import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createMasker, maskText } from '../../src/executor/index.js';

const SECRET = 'hunter2-p@ss/w0rd';

/** Feeds the text in the given piece sizes and returns everything the masker let out. */
function streamed(text: string, secrets: string[], sizes: number[]): string {
  const masker = createMasker(secrets);
  let out = '';
  let at = 0;
  for (let i = 0; at < text.length; i++) {
    const size = sizes[i % sizes.length];
    out += masker.push(text.slice(at, at + size));
    at += size;
  }
  return out + masker.flush();
}

describe('maskText', () => {
  it('masks the plain, base64 and URL-encoded forms', () => {
    const base64 = Buffer.from(SECRET).toString('base64');
    const text = `plain ${SECRET} b64 ${base64} url ${encodeURIComponent(SECRET)} end`;
    assert.equal(maskText(text, [SECRET]), 'plain [MASKED] b64 [MASKED] url [MASKED] end');
  });

  it('masks base64 without padding and every occurrence', () => {
    const secret = 'abcde';
    const unpadded = Buffer.from(secret).toString('base64').replace(/=+$/, '');
    assert.equal(maskText(`${unpadded}|${secret}${secret}`, [secret]), '[MASKED]|[MASKED][MASKED]');
  });

  it('masks base64 inside longer data (a Basic auth header) at every byte offset, and base64url', () => {
    for (const user of ['', 'u', 'us', 'usr:', 'user:']) {
      const header = Buffer.from(`${user}${SECRET}`).toString('base64');
      const masked = maskText(header, [SECRET]);
      const at = masked.indexOf('[MASKED]');
      assert.ok(at >= 0, `after ${user.length} bytes: ${masked}`);
      // Visible: the user's own characters and one that also holds bits of the secret, at each end.
      assert.ok(at <= Math.ceil((user.length * 4) / 3) + 1, masked);
      assert.ok(masked.slice(at + '[MASKED]'.length).replace(/=+$/, '').length <= 1, masked);
    }
    assert.equal(maskText(Buffer.from(SECRET).toString('base64url'), [SECRET]), '[MASKED]');
  });

  it("masks the URL encodings in use: lower-case hex, RFC 3986 (!'()* encoded), slashes kept", () => {
    const secret = "p@ss/w0rd!(x)*'";
    const rfc3986 = encodeURIComponent(secret).replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());
    const lowerHex = (text: string) => text.replace(/%[0-9A-F]{2}/g, (hex) => hex.toLowerCase());
    const forms = [rfc3986, lowerHex(rfc3986), lowerHex(encodeURIComponent(secret)), encodeURIComponent(secret).replace(/%2F/g, '/')];
    for (const form of forms) assert.equal(maskText(`q=${form}&`, [secret]), 'q=[MASKED]&', form);
  });

  it('leaves secrets shorter than 4 characters and other text alone', () => {
    assert.equal(maskText('abc is fine, so is everything else', ['abc', '']), 'abc is fine, so is everything else');
    assert.equal(maskText('abcd', ['abcd']), '[MASKED]');
  });

  it('treats regular-expression characters in secrets literally', () => {
    assert.equal(maskText('a.b*c+d and aXbbc+d', ['a.b*c+d']), '[MASKED] and aXbbc+d');
  });

  it('prefers the longer of two overlapping secrets', () => {
    assert.equal(maskText('token=abcd1234', ['abcd', 'abcd1234']), 'token=[MASKED]');
  });
});

describe('createMasker', () => {
  it('masks a secret split across pushes, for every split point', () => {
    const text = `before ${SECRET} middle ${Buffer.from(SECRET).toString('base64')} after`;
    const expected = 'before [MASKED] middle [MASKED] after';
    for (let size = 1; size <= text.length; size++) {
      assert.equal(streamed(text, [SECRET], [size]), expected, `pieces of ${size}`);
    }
    assert.equal(streamed(text, [SECRET], [3, 11, 1, 7]), expected);
  });

  it('masks every encoded form split across pushes', () => {
    const header = Buffer.from(`user:${SECRET}`).toString('base64');
    const text = `a ${header} b ${Buffer.from(SECRET).toString('base64url')} c ${encodeURIComponent(SECRET).toLowerCase()} d`;
    const expected = maskText(text, [SECRET]);
    assert.equal(expected.match(/\[MASKED\]/g)?.length, 3, expected);
    for (let size = 1; size <= 12; size++) assert.equal(streamed(text, [SECRET], [size]), expected, `pieces of ${size}`);
  });

  it('holds back only a tail that could start a secret, and flush releases it', () => {
    const masker = createMasker(['supersecret']);
    assert.equal(masker.push('output line\n'), 'output line\n');
    assert.equal(masker.push('partial sup'), 'partial ');
    assert.equal(masker.push('ers'), '');
    assert.equal(masker.push('ede'), 'supersede');
    assert.equal(masker.push('x supers'), 'x ');
    assert.equal(masker.flush(), 'supers');
    assert.equal(masker.flush(), '');
  });

  it('holds a complete short secret that may be the start of a longer one', () => {
    const masker = createMasker(['abcd', 'abcdefgh']);
    assert.equal(masker.push('x abcd'), 'x ');
    assert.equal(masker.push('efgh y'), '[MASKED] y');
    assert.equal(masker.push(' abcd'), ' ');
    assert.equal(masker.push('!'), '[MASKED]!');
  });

  it('passes text through unchanged when there are no secrets', () => {
    const masker = createMasker([]);
    assert.equal(masker.push('anything'), 'anything');
    assert.equal(masker.flush(), '');
  });
});
