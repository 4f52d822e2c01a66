import { spawn } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { HOST_SCRIPT, STALE_TOKEN_EXIT } from './host-script.js';
import { StaleFencingTokenError, TargetError, type ReleaseInput, type TargetHost, type TargetLog } from './types.js';

/** A command line to start on the agent. */
export interface Launch {
  command: string;
  args: string[];
}

/** How the host script reaches one host: `sh -c` on the agent's host, or through `ssh` to another. */
export interface HostTransport extends TargetHost {
  /** The deploy dir on that host. */
  readonly dir: string;
  /** The agent-side command that runs `argv` (`sh -c HOST_SCRIPT ...`) on the host. */
  launch(argv: string[]): Promise<Launch>;
  /** A clearer message for a failure of the transport itself (no message from the script). */
  explain(exitCode: number | null, stderr: string[]): string | undefined;
  readonly env: NodeJS.ProcessEnv;
}

/** What the script reads on stdin. */
export type OpInput = { text: string } | { file: string };

const TAIL_LINES = 20;
const RESULT = 'tandem-result: ';
const FAILURE = 'tandem-target: ';

export function shellQuote(value: string): string {
  return `'${value.replaceAll("'", `'\\''`)}'`;
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Shell text exporting `env`, evaluated by the script in the subshell of each user command. */
export function exportBlock(env: Record<string, string>): string {
  return Object.entries(env)
    .map(([name, value]) => {
      if (!ENV_NAME.test(name)) throw new Error(`release environment: invalid variable name "${name}"`);
      return `export ${name}=${shellQuote(value)}\n`;
    })
    .join('');
}

/** The script's stdin for activate and run: assignments of its tt_* variables. */
export function declarations(vars: Record<string, string | undefined>): { text: string } {
  return {
    text: Object.entries(vars)
      .filter((entry): entry is [string, string] => entry[1] !== undefined)
      .map(([name, value]) => `tt_${name}=${shellQuote(value)}\n`)
      .join(''),
  };
}

/**
 * Runs one operation of the host script on the host; resolves to its `tandem-result` values.
 * Progress and command output go to `log` prefixed with the host's name.
 */
export async function runHostOp(
  transport: HostTransport,
  op: string,
  args: readonly (string | number)[],
  input: OpInput | null,
  log?: TargetLog,
): Promise<string[]> {
  const { command, args: argv } = await transport.launch([
    'sh',
    '-c',
    HOST_SCRIPT,
    'tandem-target',
    op,
    transport.dir,
    ...args.map(String),
  ]);
  const prefix = `[${transport.name}] `;
  const results: string[] = [];
  const stderrTail: string[] = [];
  let failure: string | undefined;

  const child = spawn(command, argv, { env: transport.env, stdio: ['pipe', 'pipe', 'pipe'] });
  createInterface({ input: child.stdout }).on('line', (line) => {
    if (line.startsWith(RESULT)) results.push(line.slice(RESULT.length));
    else log?.(prefix + line);
  });
  createInterface({ input: child.stderr }).on('line', (line) => {
    if (line.startsWith(FAILURE)) {
      failure = line.slice(FAILURE.length);
      return;
    }
    stderrTail.push(line);
    if (stderrTail.length > TAIL_LINES) stderrTail.shift();
    log?.(prefix + line);
  });
  // The script may exit without reading its stdin (a release already uploaded): EPIPE is expected.
  child.stdin.on('error', () => {});
  let inputError: string | undefined;
  if (input === null) child.stdin.end();
  else if ('text' in input) child.stdin.end(input.text);
  else {
    const file = createReadStream(input.file);
    file.on('error', (err) => {
      inputError = `cannot read ${input.file}: ${err.message}`;
      child.kill('SIGTERM');
    });
    file.pipe(child.stdin);
  }

  const exit = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
    child.once('error', (err) => reject(new TargetError(transport.name, `${transport.name}: cannot start ${command}: ${err.message}`)));
    child.once('close', (code, signal) => resolve({ code, signal }));
  });
  if (inputError) throw new TargetError(transport.name, `${transport.name}: ${op}: ${inputError}`);
  if (exit.code === 0) return results;

  const stale = failure?.match(/^stale fencing token (\d+) refused: .* has already seen token (\d+)$/);
  if (exit.code === STALE_TOKEN_EXIT && stale) {
    throw new StaleFencingTokenError(transport.name, Number(stale[1]), Number(stale[2]), `${transport.name}: ${failure}`);
  }
  const how = exit.code === null ? `was killed by ${exit.signal}` : `failed with exit code ${exit.code}`;
  const reason = failure ?? transport.explain(exit.code, stderrTail) ?? `${op} ${how}`;
  const tail = stderrTail.length > 0 ? `\n${stderrTail.join('\n')}` : '';
  throw new TargetError(transport.name, `${transport.name}: ${reason}${tail}`);
}

/** The agent's own host: the script runs under `sh` here. */
export function localTransport(name: string, dir: string, env: NodeJS.ProcessEnv): HostTransport {
  return {
    name,
    dir,
    env,
    launch: async ([command, ...args]) => ({ command, args }),
    explain: () => undefined,
  };
}

/** The script checks these too; checking here first gives the error without a round trip. */
export function checkNumber(what: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 0) throw new Error(`${what} must be a non-negative integer, got ${value}`);
}

export function checkRelease(release: ReleaseInput): void {
  checkNumber('release id', release.id);
  checkNumber(`release ${release.id}: fencing token`, release.fencingToken);
}

export function checkLink(link: string): void {
  if (!/^[A-Za-z0-9_][A-Za-z0-9._-]*$/.test(link) || link === 'releases') {
    throw new Error(`invalid link name "${link}": letters, digits, '.', '_' and '-', not starting with '.' or '-', not "releases"`);
  }
}

/** The transport behind a host the caller got from `target.hosts`. */
export function findHost(kind: string, hosts: readonly HostTransport[], host: TargetHost): HostTransport {
  const transport = hosts.find((h) => h === host) ?? hosts.find((h) => h.name === host.name);
  if (!transport) throw new Error(`the ${kind} target has no host "${host.name}"`);
  return transport;
}

/** The release id a link points at on the host, or null. */
export async function readLink(transport: HostTransport, link: string): Promise<number | null> {
  checkLink(link);
  const [id] = await runHostOp(transport, 'current', [link], null);
  return id === undefined ? null : Number(id);
}
