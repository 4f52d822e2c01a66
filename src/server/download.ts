// The Content-Disposition of a download, for any file name: RFC 6266 with the name in UTF-8 as
// RFC 5987 `filename*`, and an ASCII `filename` for clients that know only that. A name's bytes
// never reach the header raw: Node refuses a header with characters beyond Latin-1 or a CR/LF,
// which made such artifacts impossible to download.

/** RFC 5987 attr-char: what may stand unescaped in `filename*`. */
const ATTR_CHAR = /^[A-Za-z0-9!#$&+\-.^_`|~]$/;

/**
 * `attachment` with the name: plain printable ASCII as `filename` alone, anything else also as
 * `filename*` (a lone surrogate becomes U+FFFD, as in UTF-8).
 */
export function attachmentDisposition(filename: string): string {
  // Printable ASCII only, and neither the quote nor the backslash that would end or escape the string.
  const fallback = filename.replace(/[^\x20-\x7e]|["\\]/gu, '_');
  if (fallback === filename) return `attachment; filename="${filename}"`;
  const bytes = Buffer.from(filename, 'utf8');
  let encoded = '';
  for (const byte of bytes) {
    const char = String.fromCharCode(byte);
    encoded += byte < 0x80 && ATTR_CHAR.test(char) ? char : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return `attachment; filename="${fallback}"; filename*=UTF-8''${encoded}`;
}
