// A `tandem server` process of a multi-replica test: started from the build, ready once it says it
// listens, killed with SIGKILL (a replica that dies, not one that drains).
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { CLI, cleanEnv } from '../cli/helpers.js';

export class Replica {
  child: ChildProcess | null = null;
  readonly tail: string[] = [];
  constructor(
    readonly url: string,
    private readonly env: Record<string, string>,
    private readonly args: string[],
  ) {}

  async start(): Promise<void> {
    const child = spawn(process.execPath, [CLI, 'server', ...this.args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: cleanEnv(this.env),
    });
    this.child = child;
    createInterface({ input: child.stderr! }).on('line', (l) => this.tail.push(l));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`replica not ready in 30 s:\n${this.tail.join('\n')}`)), 30_000);
      createInterface({ input: child.stdout! }).on('line', (line) => {
        this.tail.push(line);
        if (/^Tandem listening on http:/.test(line)) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`replica exited (${code}) before it was ready:\n${this.tail.join('\n')}`));
      });
    });
  }

  async leads(): Promise<boolean> {
    const metrics = await (await fetch(`${this.url}/metrics`)).text();
    return /^tandem_leader 1$/m.test(metrics);
  }

  async kill(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  }
}
