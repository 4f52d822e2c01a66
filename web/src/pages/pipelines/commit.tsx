// A pipeline's commit as lists show it: short sha, the first line of its message and who wrote it.
import type { Pipeline } from '../../types.js';
import { shortSha } from './status.js';

/** "Ada Lovelace" from git's "Ada Lovelace <ada@example.com>". */
export const authorName = (author: string) => author.replace(/\s*<[^>]*>\s*$/, '') || author;

export function CommitSummary({ pipeline }: { pipeline: Pick<Pipeline, 'sha' | 'commit'> }) {
  return (
    <span className="commit-summary">
      <code title={pipeline.sha}>{shortSha(pipeline.sha)}</code>
      {pipeline.commit ? (
        <>
          {' '}
          <span className="commit-title" title={pipeline.commit.message}>
            {pipeline.commit.title}
          </span>
          <span className="muted commit-author" title={pipeline.commit.author}>
            {authorName(pipeline.commit.author)}
          </span>
        </>
      ) : null}
    </span>
  );
}
