// A long-lived `git cat-file --batch` for one repository: reading the pipeline file, the commit and
// a local include at a pushed commit costs a line on a pipe instead of a git process each (a
// process costs milliseconds on the webhook → first step path). git answers the object names it is
// sent in order, so the requests form a FIFO, bounded; a process that dies, hangs or answers
// something unexpected is killed and its requests fail, and the next request starts a new one.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { gitEnv } from './git-env.js';

export interface CatFileObject {
  oid: string;
  type: string;
  content: Buffer;
}

/**
 * Why a read failed: `died` (the process exited; the read may be retried on a new one), `spawn`
 * (git cannot run here), `timeout`, `busy` (too many reads waiting), `too_large`, `protocol`
 * (output that is not cat-file's), `invalid` (an object name with a newline).
 */
export class CatFileError extends Error {
  override name = 'CatFileError';
  constructor(
    message: string,
    readonly kind: 'died' | 'spawn' | 'timeout' | 'busy' | 'too_large' | 'protocol' | 'invalid',
    readonly stderr = '',
  ) {
    super(message);
  }
}

export interface CatFileOptions {
  /** An idle process exits after this long, so a server with many repositories keeps only the busy ones' (default 30 s). */
  idleMs?: number;
  /** Limit for the oldest waiting read; past it the process is killed (default 60 s). */
  timeoutMs?: number;
  /** Reads sent and not yet answered; more are refused as `busy` (default 256). */
  maxPending?: number;
  /** Largest object returned (default 64 MiB); a larger one is skipped and its read fails as `too_large`. */
  maxObjectBytes?: number;
}

interface Pending {
  name: string;
  resolve: (object: CatFileObject | null) => void;
  reject: (err: Error) => void;
}

/** An object being received: its header was read, `got` of its size + 1 bytes (content and newline) so far. */
interface Body {
  oid: string;
  type: string;
  size: number;
  chunks: Buffer[];
  got: number;
  skip: boolean;
}

const HEADER_RE = /^([0-9a-f]{40}|[0-9a-f]{64}) ([a-z]+) (\d+)$/;
const MAX_HEADER = 64 * 1024;
const MAX_STDERR = 16 * 1024;

export class CatFileBatch {
  private child: ChildProcessWithoutNullStreams | null = null;
  private pending: Pending[] = [];
  private buf: Buffer = Buffer.alloc(0);
  private body: Body | null = null;
  private stderr = '';
  private idleTimer: NodeJS.Timeout | undefined;
  private readTimer: NodeJS.Timeout | undefined;
  private readonly idleMs: number;
  private readonly timeoutMs: number;
  private readonly maxPending: number;
  private readonly maxObjectBytes: number;
  /** Processes started so far (the first and each restart). */
  starts = 0;

  constructor(
    readonly gitDir: string,
    opts: CatFileOptions = {},
  ) {
    this.idleMs = opts.idleMs ?? 30_000;
    this.timeoutMs = opts.timeoutMs ?? 60_000;
    this.maxPending = opts.maxPending ?? 256;
    this.maxObjectBytes = opts.maxObjectBytes ?? 64 * 1024 * 1024;
  }

  /** The pid of the running process, if any (tests kill it). */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  /**
   * The object an extended sha-1 expression names (`<sha>:<path>`, `<sha>^{commit}`); null when
   * it does not exist (or an abbreviation is ambiguous).
   */
  read(name: string): Promise<CatFileObject | null> {
    if (name === '' || /[\n\0]/.test(name))
      return Promise.reject(new CatFileError(`invalid object name ${JSON.stringify(name)}`, 'invalid'));
    if (this.pending.length >= this.maxPending)
      return Promise.reject(new CatFileError(`${this.pending.length} reads already waiting on git cat-file`, 'busy'));
    const child = this.child ?? this.start();
    return new Promise((resolve, reject) => {
      this.pending.push({ name, resolve, reject });
      this.busy(child);
      child.stdin.write(`${name}\n`);
    });
  }

  /** Ends the process; reads still waiting fail as `died` (a retry starts a new process). */
  close(): Promise<void> {
    const child = this.detach(new CatFileError(`git cat-file --batch in ${this.gitDir} was closed`, 'died'));
    if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
    // Waited for, so kept alive even when idle made it not (see `idle`).
    setAlive(child, true);
    return new Promise((resolve) => {
      child.once('close', () => resolve());
      // cat-file exits at the end of its input; a hung one is not waited for.
      setTimeout(() => killGroup(child), 2_000).unref();
      child.stdin.end();
    });
  }

  private start(): ChildProcessWithoutNullStreams {
    this.starts++;
    // detached: a session of its own, like every git Tandem runs (no terminal, killed as a group).
    const child = spawn('git', ['--git-dir', this.gitDir, 'cat-file', '--batch'], {
      env: gitEnv(),
      stdio: ['pipe', 'pipe', 'pipe'],
      detached: true,
    });
    this.child = child;
    this.buf = Buffer.alloc(0);
    this.body = null;
    this.stderr = '';
    const mine = () => this.child === child;
    child.stdout.on('data', (chunk: Buffer) => {
      if (mine()) this.receive(chunk);
    });
    child.stderr.on('data', (chunk: Buffer) => {
      if (mine() && this.stderr.length < MAX_STDERR) this.stderr += chunk.toString('utf8');
    });
    child.stdin.on('error', () => {
      // The process died before reading its input: its exit fails the reads.
    });
    child.on('error', (err) => {
      if (mine()) this.fail(new CatFileError(`cannot run git cat-file: ${err.message}`, 'spawn'));
    });
    child.on('close', (code, signal) => {
      if (!mine()) return;
      const detail = this.stderr.trim() || (signal ? `killed by ${signal}` : `exit code ${code}`);
      this.fail(new CatFileError(`git cat-file --batch in ${this.gitDir} exited: ${detail}`, 'died', this.stderr));
    });
    return child;
  }

  /** A read is waiting: the process keeps node alive and the oldest read has a deadline. */
  private busy(child: ChildProcessWithoutNullStreams): void {
    clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    setAlive(child, true);
    this.readTimer ??= setTimeout(() => this.timedOut(), this.timeoutMs);
  }

  /** Nothing waits: the process no longer keeps node alive (a CLI exits) and ends after idleMs. */
  private idle(): void {
    clearTimeout(this.readTimer);
    this.readTimer = undefined;
    const child = this.child;
    if (!child) return;
    setAlive(child, false);
    this.idleTimer = setTimeout(() => void this.close(), this.idleMs);
    this.idleTimer.unref();
  }

  private timedOut(): void {
    this.readTimer = undefined;
    if (this.pending.length === 0) return;
    this.fail(new CatFileError(`git cat-file --batch in ${this.gitDir} did not answer within ${this.timeoutMs} ms`, 'timeout'));
  }

  /** Kills the process (if any) and fails every waiting read with err. */
  private fail(err: CatFileError): void {
    const child = this.detach(err);
    if (child) killGroup(child);
  }

  /** Forgets the process (its events are ignored from now on) and fails every waiting read with err. */
  private detach(err: CatFileError): ChildProcessWithoutNullStreams | null {
    const child = this.child;
    this.child = null;
    clearTimeout(this.readTimer);
    clearTimeout(this.idleTimer);
    this.readTimer = this.idleTimer = undefined;
    const pending = this.pending;
    this.pending = [];
    this.buf = Buffer.alloc(0);
    this.body = null;
    for (const p of pending) p.reject(err);
    return child;
  }

  private answer(value: CatFileObject | null | CatFileError): void {
    const head = this.pending.shift();
    if (!head) return;
    if (value instanceof CatFileError) head.reject(value);
    else head.resolve(value);
    if (this.readTimer) this.readTimer.refresh();
    if (this.pending.length === 0) this.idle();
  }

  private receive(chunk: Buffer): void {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    while (this.child) {
      const body = this.body;
      if (body) {
        const take = Math.min(body.size + 1 - body.got, this.buf.length);
        if (take === 0) return;
        if (!body.skip) body.chunks.push(this.buf.subarray(0, take));
        body.got += take;
        this.buf = this.buf.subarray(take);
        if (body.got < body.size + 1) return;
        this.body = null;
        const name = this.pending[0]?.name ?? '';
        this.answer(
          body.skip
            ? new CatFileError(`${name} is larger than ${this.maxObjectBytes} bytes (${body.size})`, 'too_large')
            : { oid: body.oid, type: body.type, content: Buffer.concat(body.chunks).subarray(0, body.size) },
        );
        continue;
      }
      const nl = this.buf.indexOf(0x0a);
      if (nl < 0) {
        if (this.buf.length > MAX_HEADER) this.fail(new CatFileError('git cat-file wrote an overlong header', 'protocol'));
        return;
      }
      const line = this.buf.subarray(0, nl).toString('utf8');
      this.buf = this.buf.subarray(nl + 1);
      const head = this.pending[0];
      const found = HEADER_RE.exec(line);
      if (head && found) {
        const size = Number(found[3]);
        this.body = { oid: found[1], type: found[2], size, chunks: [], got: 0, skip: size > this.maxObjectBytes };
      } else if (head && (line === `${head.name} missing` || line === `${head.name} ambiguous`)) {
        this.answer(null);
      } else {
        this.fail(new CatFileError(`unexpected output from git cat-file: ${JSON.stringify(line.slice(0, 200))}`, 'protocol'));
      }
    }
  }
}

/** Whether the process and its pipes keep node's event loop alive. */
function setAlive(child: ChildProcessWithoutNullStreams, alive: boolean): void {
  // The pipes are sockets at run time, though typed as plain streams.
  for (const handle of [child, child.stdin, child.stdout, child.stderr] as unknown as { ref(): void; unref(): void }[])
    if (alive) handle.ref();
    else handle.unref();
}

function killGroup(child: ChildProcessWithoutNullStreams): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    // The group is already gone.
  }
}
