// A job's log as the runner writes it: masked, cut into chunks, sent in order, with GitLab's
// colours for the runner's own lines.
import { createMasker, LogChunker, type LogChunk } from '../executor/index.js';

const GREEN = '\x1b[32;1m';
const YELLOW = '\x1b[0;33m';
const RED = '\x1b[31;1m';
const RESET = '\x1b[0;m';

export interface JobLog {
  /** The job's output and the runner's plain lines, as they are. */
  write(text: string): void;
  /** A line in green: a section of the job's work starts, or the job succeeded. */
  section(text: string): void;
  /** A line in yellow. */
  notice(text: string): void;
  /** A line in red. */
  error(text: string): void;
  /** Sends what the masker and the chunker still hold and waits until every chunk is out. */
  close(): Promise<void>;
}

export function openJobLog(secrets: string[], sendLog: (chunks: LogChunk[], last: boolean) => Promise<void>): JobLog {
  const masker = createMasker(secrets);
  let sending: Promise<void> = Promise.resolve();
  let logError: unknown = null;
  /** The chunks the chunker emits from now on end the log. */
  let closing = false;
  const chunker = new LogChunker({
    onChunk: (chunk) => {
      const last = closing;
      // Chunks go out in order; after a failure (the outbox could not write) the rest of the log is
      // dropped, and the job and its result go on.
      sending = sending
        .then(() => (logError === null ? sendLog([chunk], last) : undefined))
        .catch((err: unknown) => {
          logError ??= err;
        });
    },
  });
  const write = (text: string) => chunker.push(masker.push(text));
  return {
    write,
    section: (text) => write(`${GREEN}${text}${RESET}\n`),
    notice: (text) => write(`${YELLOW}${text}${RESET}\n`),
    error: (text) => write(`${RED}${text}${RESET}\n`),
    async close() {
      chunker.push(masker.flush());
      closing = true;
      chunker.close();
      await sending;
    },
  };
}
