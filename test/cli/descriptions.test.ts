// Every command of `tandem` says in one line what it does: `tandem help` and `tandem <cmd> --help`
// list subcommands by that line, and an empty one leaves a user guessing.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Command } from 'commander';
import { program } from '../../src/cli/main.js';

function walk(cmd: Command, path: string[], out: { path: string; description: string }[]): void {
  for (const sub of cmd.commands) {
    const subPath = [...path, sub.name()];
    out.push({ path: subPath.join(' '), description: sub.description() });
    walk(sub, subPath, out);
  }
}

test('every subcommand has a one-line description', () => {
  const commands: { path: string; description: string }[] = [];
  walk(program, [], commands);
  assert.ok(commands.length > 50, `only ${commands.length} commands found: the walk is broken`);
  const missing = commands.filter((c) => c.description.trim() === '').map((c) => c.path);
  assert.deepEqual(missing, [], `commands without .description(): ${missing.join(', ')}`);
  const multiLine = commands.filter((c) => c.description.includes('\n')).map((c) => c.path);
  assert.deepEqual(multiLine, []);
});
