// Shared by the deployment suites: a DeploymentInput that records what the deployment reported, and
// plain HTTP requests on fresh connections (the answer comes from whoever listens now).
import { request } from 'node:http';
import type { DeploymentInput, DeploySpec, Phase, PreviousRelease, ReleaseInput } from '../../src/deploy/index.js';

export interface Recorder {
  input: DeploymentInput;
  lines: string[];
  phases: [Phase, string | undefined][];
  /** Questions asked through awaitDecision, with the signal that withdraws each. */
  questions: { reason: string; signal: AbortSignal }[];
  /** How often previous.files() was called. */
  fetches: () => number;
}

export interface InputOptions {
  spec: DeploySpec;
  release: ReleaseInput;
  /** The previous release: its id, env and files on the agent. */
  previous?: ReleaseInput | null;
  mode?: 'deploy' | 'rollback';
  workDir: string;
  cwd?: string;
  signal?: AbortSignal;
  decide?: (reason: string, signal: AbortSignal) => Promise<'promote' | 'abort'>;
  onPhase?: (phase: Phase, detail?: string) => Promise<void>;
}

export function recorder(options: InputOptions): Recorder {
  const lines: string[] = [];
  const phases: [Phase, string | undefined][] = [];
  const questions: Recorder['questions'] = [];
  let fetches = 0;
  const prev = options.previous ?? null;
  const previous: PreviousRelease | null = prev && {
    id: prev.id,
    image: prev.image,
    env: prev.env,
    files: async () => {
      fetches++;
      return prev.sourceDir;
    },
  };
  const input: DeploymentInput = {
    spec: options.spec,
    mode: options.mode ?? 'deploy',
    release: options.release,
    previous,
    workDir: options.workDir,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
    cwd: options.cwd ?? options.workDir,
    log: (line) => {
      lines.push(line);
      if (process.env.TANDEM_TEST_VERBOSE) console.log(`${new Date().toISOString().slice(17, 23)} ${line}`);
    },
    signal: options.signal ?? new AbortController().signal,
    onPhase: async (phase, detail) => {
      phases.push([phase, detail]);
      await options.onPhase?.(phase, detail);
    },
    awaitDecision: (reason, signal) => {
      questions.push({ reason, signal });
      if (!options.decide) throw new Error(`unexpected question: ${reason}`);
      return options.decide(reason, signal);
    },
  };
  return { input, lines, phases, questions, fetches: () => fetches };
}

export interface Answer {
  status: number;
  body: string;
}

/** A GET on a fresh connection; rejects when nothing answers. */
export function get(url: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent: false, timeout: 2_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url} timed out`)));
    req.on('error', reject);
    req.end();
  });
}

/** The version the service at `url` reports, or its error. */
export async function version(url: string): Promise<string> {
  const answer = await get(`${url}/version`).catch((err: Error) => ({ status: 0, body: err.message }));
  return answer.status === 200 ? answer.body.trim() : `status ${answer.status}: ${answer.body.trim()}`;
}
