// One letter, one meaning: a short flag means the same long option in every command, and no command
// that changes something takes `-f` (read as "force" as often as "follow").
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Command } from 'commander';
import { program } from '../../src/cli/main.js';

function walk(cmd: Command, path: string[], out: { path: string; short: string; long: string }[]): void {
  for (const sub of cmd.commands) {
    const subPath = [...path, sub.name()];
    for (const o of sub.options) if (o.short) out.push({ path: subPath.join(' '), short: o.short, long: o.long ?? '' });
    walk(sub, subPath, out);
  }
}

test('each short flag means one long option across the CLI', () => {
  const flags: { path: string; short: string; long: string }[] = [];
  walk(program, [], flags);
  const meanings = new Map<string, Set<string>>();
  for (const f of flags) meanings.set(f.short, (meanings.get(f.short) ?? new Set()).add(f.long));
  const clashes = [...meanings].filter(([, longs]) => longs.size > 1).map(([short, longs]) => `${short}: ${[...longs].join(', ')}`);
  assert.deepEqual(clashes, []);
});

test('-f is follow only where nothing changes (run logs); rollback and trigger take --follow and rollback -y', () => {
  const flags: { path: string; short: string; long: string }[] = [];
  walk(program, [], flags);
  assert.deepEqual(
    flags.filter((f) => f.short === '-f').map((f) => f.path),
    ['run logs'],
  );
  const rollback = program.commands.find((c) => c.name() === 'rollback')!;
  assert.deepEqual(
    rollback.options.filter((o) => ['--follow', '--yes'].includes(o.long ?? '')).map((o) => [o.long, o.short ?? null]),
    [
      ['--yes', '-y'],
      ['--follow', null],
    ],
  );
});
