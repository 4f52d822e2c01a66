// A progress bar per phase of a long command (backup, restore, verify) on stderr, when it is a
// terminal; nothing otherwise, so scripts and --json output stay clean.
import cliProgress from 'cli-progress';
import { formatBytes } from './output.js';

export interface PhaseProgress {
  phase: string;
  bytes: number;
  totalBytes: number | null;
  items?: { done: number; total: number };
}

export interface ProgressDisplay {
  update(p: PhaseProgress): void;
  stop(): void;
}

export function progressDisplay(enabled: boolean): ProgressDisplay {
  if (!enabled || !process.stderr.isTTY) return { update: () => undefined, stop: () => undefined };
  let bar: cliProgress.SingleBar | null = null;
  let phase: string | null = null;
  const stop = () => {
    bar?.stop();
    bar = null;
  };
  return {
    update(p) {
      const known = p.totalBytes !== null && p.totalBytes > 0;
      const payload = {
        phase: p.phase.padEnd(10),
        amount: `${formatBytes(p.bytes)}${known ? ` of ${formatBytes(p.totalBytes!)}` : ''}`,
        items: p.items ? `${p.items.done}/${p.items.total}` : '',
      };
      if (p.phase !== phase) {
        stop();
        phase = p.phase;
        bar = new cliProgress.SingleBar(
          {
            format: known ? '{phase} [{bar}] {percentage}% {amount} {items} ETA {eta_formatted}' : '{phase} {amount} {items}',
            stream: process.stderr,
            hideCursor: true,
          },
          cliProgress.Presets.shades_classic,
        );
        bar.start(known ? p.totalBytes! : 1, 0, payload);
      }
      bar!.update(known ? p.bytes : 0, payload);
    },
    stop,
  };
}
