// `tandem completion bash|zsh|fish`: shell completion scripts written from the commander program
// itself, so a new command or option is completed the day it is added and the scripts never go stale.
import type { Command } from 'commander';
import { CliError } from './api-client.js';

export const completionShells = ['bash', 'zsh', 'fish'] as const;
export type CompletionShell = (typeof completionShells)[number];

/** One command of the tree: its path of subcommand names ('' for the program), subcommands and long options. */
interface Node {
  path: string;
  commands: string[];
  options: string[];
}

/** Every command of the tree, the program first, depth first. */
export function commandTree(program: Command): Node[] {
  const nodes: Node[] = [];
  const walk = (cmd: Command, path: string) => {
    const visible = cmd.commands.filter((c) => !(c as Command & { _hidden?: boolean })._hidden);
    const options = cmd.options.filter((o) => !o.hidden && o.long).map((o) => o.long as string);
    nodes.push({ path, commands: visible.map((c) => c.name()), options: [...options, '--help'] });
    for (const c of visible) walk(c, path ? `${path} ${c.name()}` : c.name());
  };
  walk(program, '');
  return nodes;
}

/** A shell `case` body mapping each command path to a space-separated word list. */
function caseArms(nodes: Node[], words: (n: Node) => string[], arm: (path: string, list: string) => string): string {
  return nodes
    .filter((n) => words(n).length > 0)
    .map((n) => arm(n.path, words(n).join(' ')))
    .join('\n');
}

/** `_tandem_commands PATH` and `_tandem_options PATH`: the words after a command path (bash and zsh). */
function lookupFunctions(nodes: Node[], arm: (path: string, list: string) => string): string {
  return `_tandem_commands() {
  case "$1" in
${caseArms(nodes, (n) => n.commands, arm)}
  esac
}
_tandem_options() {
  case "$1" in
${caseArms(nodes, (n) => n.options, arm)}
  esac
}`;
}

function bashScript(nodes: Node[]): string {
  return `# tandem completion for bash: source it, e.g. from ~/.bashrc: source <(tandem completion bash)
${lookupFunctions(nodes, (path, list) => `    "${path}") echo "${list}" ;;`)}
_tandem() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" path="" w i subs
  # The command path is every earlier word naming a subcommand of the path so far.
  for ((i = 1; i < COMP_CWORD; i++)); do
    w="\${COMP_WORDS[i]}"
    subs=" $(_tandem_commands "$path") "
    if [[ "$w" != -* && "$subs" == *" $w "* ]]; then path="\${path:+$path }$w"; fi
  done
  subs="$(_tandem_commands "$path")"
  if [[ "$cur" == -* || -z "$subs" ]]; then
    COMPREPLY=($(compgen -W "$(_tandem_options "$path")" -- "$cur"))
  else
    COMPREPLY=($(compgen -W "$subs" -- "$cur"))
  fi
}
complete -o default -F _tandem tandem
`;
}

function zshScript(nodes: Node[]): string {
  // `path` is tied to $PATH in zsh, hence `cmdpath`.
  return `#compdef tandem
# tandem completion for zsh: put it on $fpath as _tandem, or: source <(tandem completion zsh)
${lookupFunctions(nodes, (path, list) => `    "${path}") print -r -- "${list}" ;;`)}
_tandem() {
  local cmdpath="" w i subs
  for ((i = 2; i < CURRENT; i++)); do
    w="\${words[i]}"
    subs=" $(_tandem_commands "$cmdpath") "
    if [[ "$w" != -* && "$subs" == *" $w "* ]]; then cmdpath="\${cmdpath:+$cmdpath }$w"; fi
  done
  subs="$(_tandem_commands "$cmdpath")"
  if [[ "$PREFIX" == -* || -z "$subs" ]]; then
    compadd -- \${=$(_tandem_options "$cmdpath")}
    [[ -z "$subs" ]] && _files
  else
    compadd -- \${=subs}
  fi
}
if (( $+functions[compdef] )); then compdef _tandem tandem; fi
`;
}

function fishScript(nodes: Node[]): string {
  const arm = (path: string, list: string) => `    case '${path}'\n        echo ${list}`;
  const lines = [
    '# tandem completion for fish: tandem completion fish > ~/.config/fish/completions/tandem.fish',
    'function __tandem_commands',
    '    switch "$argv[1]"',
    caseArms(nodes, (n) => n.commands, arm),
    '    end',
    'end',
    '# The command path is every earlier word naming a subcommand of the path so far.',
    'function __tandem_path',
    "    set -l p ''",
    '    for w in (commandline -opc)[2..-1]',
    "        string match -q -- '-*' $w; and continue",
    '        if contains -- $w (string split " " -- (__tandem_commands "$p"))',
    '            set p (string trim -- "$p $w")',
    '        end',
    '    end',
    '    echo $p',
    'end',
    'function __tandem_at',
    '    set -l p (__tandem_path)',
    '    test "$p" = "$argv[1]"',
    'end',
    'complete -c tandem -e',
  ];
  for (const n of nodes) {
    const at = `-n "__tandem_at '${n.path}'"`;
    if (n.commands.length > 0) lines.push(`complete -c tandem -f ${at} -a '${n.commands.join(' ')}'`);
    for (const o of n.options) lines.push(`complete -c tandem ${at} -l ${o.slice(2)}`);
  }
  return `${lines.join('\n')}\n`;
}

export function completionScript(shell: string, program: Command): string {
  const nodes = commandTree(program);
  switch (shell) {
    case 'bash':
      return bashScript(nodes);
    case 'zsh':
      return zshScript(nodes);
    case 'fish':
      return fishScript(nodes);
    default:
      throw new CliError(`shell: "${shell}" is not one of ${completionShells.join(', ')}`);
  }
}
