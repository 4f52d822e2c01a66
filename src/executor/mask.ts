export const MASK = '[MASKED]';
/** Shorter values would mask ordinary words and numbers all over the log. */
export const MIN_SECRET_LENGTH = 4;

export interface Masker {
  /** Masked text that is safe to emit now; a tail that could begin a secret is held back. */
  push(text: string): string;
  /** Releases (masked) whatever was held back; call at the end of the stream. */
  flush(): string;
}

/** The forms a secret shows up in logs: as is, base64 (with and without padding), URL-encoded. */
function secretForms(secrets: string[]): string[] {
  const forms = new Set<string>();
  for (const secret of secrets) {
    if (secret.length < MIN_SECRET_LENGTH) continue;
    const base64 = Buffer.from(secret, 'utf8').toString('base64');
    forms.add(secret);
    forms.add(base64);
    forms.add(base64.replace(/=+$/, ''));
    forms.add(encodeURIComponent(secret));
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
  let held = '';

  /** The first index from `from` on whose suffix could still grow into a longer match. */
  function holdFrom(text: string, from: number): number {
    for (let i = Math.max(from, text.length - longest + 1); i < text.length; i++) {
      const tail = text.slice(i);
      if (forms.some((form) => form.length > tail.length && form.startsWith(tail))) return i;
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
