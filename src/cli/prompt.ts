// Reading secrets without their value on the command line: from a file an option names, from
// stdin, or typed on the terminal without echo, so they never land in the shell history or `ps`;
// and questions asked on the terminal before a change that cannot be taken back.
import { readFile } from 'node:fs/promises';
import { createInterface } from 'node:readline/promises';
import { CliError } from './api-client.js';

/** The text of a file an option names (`--token-file`...); a clear error naming the option when it cannot be read. */
export async function readSecretFile(file: string, option: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    throw new CliError(`${option}: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

/** All of stdin, as text. */
export async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** Asks on the terminal without echoing what is typed (Ctrl-C cancels, exit 130). */
export function promptHidden(prompt: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const stdin = process.stdin;
    // Echo goes off before the prompt shows, so nothing typed on seeing it can be echoed.
    stdin.setRawMode(true);
    process.stderr.write(prompt);
    stdin.resume();
    let typed = '';
    const done = (err: Error | null) => {
      stdin.setRawMode(false);
      stdin.pause();
      stdin.off('data', onData);
      process.stderr.write('\n');
      if (err) reject(err);
      else resolve(typed);
    };
    const onData = (data: Buffer) => {
      for (const ch of data.toString('utf8')) {
        if (ch === '\r' || ch === '\n') return done(null);
        if (ch === '\u0003') return done(new CliError('canceled', 130));
        if (ch === '\u007f' || ch === '\b') typed = typed.slice(0, -1);
        else typed += ch;
      }
    };
    stdin.on('data', onData);
  });
}

/** A yes/no question on the terminal (stderr), answered with a line; only y or yes agrees. */
export async function confirm(question: string): Promise<boolean> {
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return /^\s*y(es)?\s*$/i.test(await rl.question(question));
  } finally {
    rl.close();
  }
}
