// A button that copies a text to the clipboard and says whether it worked.
import { useState } from 'react';

export function CopyButton({ text, label }: { text: string; label: string }) {
  const [outcome, setOutcome] = useState<'copied' | 'failed' | null>(null);
  const copy = () => {
    navigator.clipboard.writeText(text).then(
      () => setOutcome('copied'),
      () => setOutcome('failed'),
    );
  };
  return (
    <>
      <button type="button" aria-label={label} title={label} onClick={copy}>
        Copy
      </button>{' '}
      <span role="status" className="muted">
        {outcome === 'copied' ? 'Copied' : outcome === 'failed' ? 'Copy failed: select the text instead' : ''}
      </span>
    </>
  );
}
