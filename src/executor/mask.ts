export const MASK = '[MASKED]';
/** Shorter values would mask ordinary words and numbers all over the log. */
export const MIN_SECRET_LENGTH = 4;

export interface Masker {
  /** Masked text that is safe to emit now; a tail that could begin a secret is held back. */
  push(text: string): string;
  /** Releases (masked) whatever was held back; call at the end of the stream. */
  flush(): string;
}

/**
 * Base64 (and base64url) of the secret as it appears inside longer encoded data (`user:secret` in a
 * Basic auth header): at each of the three byte offsets it can start at, without the characters
 * at either end that also carry bits of its neighbours.
 */
function embeddedBase64(secret: Buffer): string[] {
  const forms: string[] = [];
  for (const offset of [0, 1, 2]) {
    const encoded = Buffer.concat([Buffer.alloc(offset), secret])
      .toString('base64')
      .replace(/=+$/, '');
    const lead = [0, 2, 3][offset];
    const trail = (offset + secret.length) % 3 === 0 ? 0 : 1;
    const core = encoded.slice(lead, encoded.length - trail);
    if (core.length < MIN_SECRET_LENGTH) continue;
    forms.push(core, core.replace(/\+/g, '-').replace(/\//g, '_'));
  }
  return forms;
}

/** URL encodings in use: upper or lower case hex, `!'()*` kept or encoded (RFC 3986), `/` kept or encoded. */
function urlEncodings(secret: string): string[] {
  const forms: string[] = [];
  for (const strict of [false, true]) {
    let encoded = encodeURIComponent(secret);
    if (strict) encoded = encoded.replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());
    for (const slash of [encoded, encoded.replace(/%2F/g, '/')])
      forms.push(
        slash,
        slash.replace(/%[0-9A-F]{2}/g, (hex) => hex.toLowerCase()),
      );
  }
  return forms;
}

/** The forms a secret shows up in logs: as is, base64 (whole, padded or not, or inside longer data), base64url, URL-encoded. */
function secretForms(secrets: string[]): string[] {
  const forms = new Set<string>();
  for (const secret of secrets) {
    if (secret.length < MIN_SECRET_LENGTH) continue;
    const bytes = Buffer.from(secret, 'utf8');
    const base64 = bytes.toString('base64');
    forms.add(secret);
    forms.add(base64);
    forms.add(base64.replace(/=+$/, ''));
    forms.add(bytes.toString('base64url'));
    for (const form of [...embeddedBase64(bytes), ...urlEncodings(secret)]) forms.add(form);
  }
  // Longest first: alternation takes the first alternative that matches at a position.
  return [...forms].sort((a, b) => b.length - a.length);
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

export function createMasker(secrets: string[]): Masker {
  const forms = secretForms(secrets);
  if (forms.length === 0) return { push: (text) => text, flush: () => '' };
  const pattern = new RegExp(forms.map(escapeRegExp).join('|'), 'g');
  const longest = forms[0].length;
  // By first character: a position whose character starts no form is passed over at once (a
  // deploy key brings thousands of forms up to kilobytes long, and each pushed chunk is scanned).
  const byFirst = new Map<string, string[]>();
  for (const form of forms) byFirst.set(form[0], [...(byFirst.get(form[0]) ?? []), form]);
  let held = '';

  /** The first index from `from` on whose suffix could still grow into a longer match. */
  function holdFrom(text: string, from: number): number {
    for (let i = Math.max(from, text.length - longest + 1); i < text.length; i++) {
      const candidates = byFirst.get(text[i]);
      if (candidates === undefined) continue;
      const tail = text.slice(i);
      if (candidates.some((form) => form.length > tail.length && form.startsWith(tail))) return i;
    }
    return text.length;
  }

  return {
    push(text) {
      const buffer = held + text;
      // A match starting before `cut` cannot change with more input: had a longer form been
      // possible there, the cut would lie at or before its start.
      let cut = holdFrom(buffer, 0);
      let out = '';
      let last = 0;
      pattern.lastIndex = 0;
      for (let match = pattern.exec(buffer); match && match.index < cut; match = pattern.exec(buffer)) {
        out += buffer.slice(last, match.index) + MASK;
        last = match.index + match[0].length;
      }
      if (last > cut) cut = holdFrom(buffer, last);
      held = buffer.slice(cut);
      return out + buffer.slice(last, cut);
    },
    flush() {
      const rest = held.replace(pattern, MASK);
      held = '';
      return rest;
    },
  };
}

/** Masks a whole text at once (stored logs, error messages). */
export function maskText(text: string, secrets: string[]): string {
  const masker = createMasker(secrets);
  return masker.push(text) + masker.flush();
}
