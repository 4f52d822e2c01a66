// The real promtool (Debian package `prometheus`) for rule tests: `check rules` and `test rules`.
// Missing, its suites skip loudly, or fail when TANDEM_REQUIRE_ALL=1 (CI must not pass by skipping).
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';

const BANNER_LINE = '!'.repeat(78);

function promtoolPath(): string | null {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (dir !== '' && existsSync(path.join(dir, 'promtool'))) return path.join(dir, 'promtool');
  }
  return null;
}

let skipReason: string | false | null = null;

export function promtoolSkipReason(): string | false {
  if (skipReason !== null) return skipReason;
  skipReason = false;
  if (promtoolPath() === null && process.env.TANDEM_REQUIRE_ALL !== '1') {
    skipReason = 'promtool is not installed (Debian package prometheus): run scripts/services.sh install';
    process.stderr.write(`\n${BANNER_LINE}\n!! SKIPPING the promtool tests: ${skipReason}\n${BANNER_LINE}\n\n`);
  }
  return skipReason;
}

/** Runs promtool with these arguments in `cwd`; its exit code and everything it printed. */
export function promtool(args: string[], cwd: string): Promise<{ code: number; output: string }> {
  const bin = promtoolPath();
  if (bin === null) throw new Error('promtool is not installed (Debian package prometheus): run scripts/services.sh install');
  return new Promise((resolve) => {
    execFile(bin, args, { cwd, timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
      resolve({ code, output: `${stdout}${stderr}` });
    });
  });
}
