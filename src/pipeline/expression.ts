// The `rules:if` / `workflow:rules:if` expression language, as GitLab defines it: variables,
// string literals, null, ==, !=, =~, !~ (a /regex/flags, or a string: see `matches`), &&, || and parentheses, where &&
// binds tighter than ||. A bare operand is true when it is present (defined and non-empty).
// Regular expressions are RE2's, as in GitLab (./untrusted-regex.ts): linear time, whatever the pattern.
import { compileUntrustedRegex, REGEX_FLAGS, RegexSyntaxError, slashedRegex, type UntrustedRegex } from './untrusted-regex.js';

export class ExpressionError extends Error {
  /** 1-based column inside the expression text. */
  readonly column: number;
  constructor(message: string, column: number) {
    super(message);
    this.name = 'ExpressionError';
    this.column = column;
  }
}

type Operand =
  { type: 'var'; name: string } | { type: 'string'; value: string } | { type: 'null' } | { type: 'regex'; regex: UntrustedRegex };

// `a && b && c` is one node with three operands, not a chain of two-operand nodes: a chain of
// thousands would be evaluated (and parsed) by recursion as deep, and overflow the stack.
export type Expression =
  | { type: 'or' | 'and'; operands: Expression[] }
  | { type: 'compare'; op: '==' | '!='; left: Operand; right: Operand }
  | { type: 'match'; op: '=~' | '!~'; left: Operand; right: Operand }
  | { type: 'value'; operand: Operand };

type Token =
  | { kind: 'operand'; operand: Operand; col: number }
  | { kind: 'op'; op: '==' | '!=' | '=~' | '!~' | '&&' | '||'; col: number }
  | { kind: '(' | ')'; col: number };

const VAR = /^\$([A-Za-z_][A-Za-z0-9_]*)/;
const OPS = ['==', '!=', '=~', '!~', '&&', '||'] as const;

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const ch = text[i];
    const col = i + 1;
    if (/\s/.test(ch)) {
      i++;
      continue;
    }
    if (ch === '(' || ch === ')') {
      tokens.push({ kind: ch, col });
      i++;
      continue;
    }
    const op = OPS.find((o) => text.startsWith(o, i));
    if (op) {
      tokens.push({ kind: 'op', op, col });
      i += 2;
      continue;
    }
    if (ch === '$') {
      const m = VAR.exec(text.slice(i));
      if (!m) {
        const hint = text[i + 1] === '{' ? ' (rules:if takes $NAME, not ${NAME})' : '';
        throw new ExpressionError(`expected a variable name after $${hint}`, col);
      }
      tokens.push({ kind: 'operand', operand: { type: 'var', name: m[1] }, col });
      i += m[0].length;
      continue;
    }
    if (ch === '"' || ch === "'") {
      const end = text.indexOf(ch, i + 1);
      if (end < 0) throw new ExpressionError('unterminated string', col);
      tokens.push({ kind: 'operand', operand: { type: 'string', value: text.slice(i + 1, end) }, col });
      i = end + 1;
      continue;
    }
    if (ch === '/') {
      const { regex, length } = readRegex(text, i);
      tokens.push({ kind: 'operand', operand: { type: 'regex', regex }, col });
      i += length;
      continue;
    }
    if (text.startsWith('null', i) && !/[A-Za-z0-9_]/.test(text[i + 4] ?? '')) {
      tokens.push({ kind: 'operand', operand: { type: 'null' }, col });
      i += 4;
      continue;
    }
    const word = /^[^\s()]{1,20}/.exec(text.slice(i))?.[0] ?? ch;
    throw new ExpressionError(`unexpected ${JSON.stringify(word)} (values are $VARIABLES, "strings", /regex/ or null)`, col);
  }
  return tokens;
}

function readRegex(text: string, start: number): { regex: UntrustedRegex; length: number } {
  let i = start + 1;
  let source = '';
  while (i < text.length && text[i] !== '/') {
    if (text[i] === '\\' && i + 1 < text.length) {
      // `\/` is how a slash is written inside /.../; the pattern itself needs no escape for it.
      source += text[i + 1] === '/' ? '/' : text.slice(i, i + 2);
      i += 2;
    } else {
      source += text[i++];
    }
  }
  if (i >= text.length) throw new ExpressionError('unterminated regular expression', start + 1);
  i++;
  const flagsStart = i;
  while (i < text.length && /[A-Za-z]/.test(text[i])) i++;
  const flags = text.slice(flagsStart, i);
  const bad = [...flags].findIndex((f) => !REGEX_FLAGS.includes(f));
  if (bad >= 0) throw new ExpressionError(`unsupported regex flag "${flags[bad]}" (use i, m, s or U)`, flagsStart + bad + 1);
  return { regex: compileRegex(source, flags, start + 1), length: i - start };
}

function compileRegex(source: string, flags: string, column: number): UntrustedRegex {
  try {
    return compileUntrustedRegex(source, flags);
  } catch (e) {
    if (!(e instanceof RegexSyntaxError)) throw e;
    throw new ExpressionError(`invalid regular expression (RE2 syntax): ${e.message}`, column);
  }
}

/** Parentheses are parsed and evaluated by recursion; no real condition nests this deep. */
const MAX_NESTING = 100;

class Parser {
  private i = 0;
  private depth = 0;
  constructor(
    private readonly tokens: Token[],
    private readonly length: number,
  ) {}

  parse(): Expression {
    if (this.tokens.length === 0) throw new ExpressionError('empty expression', 1);
    const expr = this.or();
    const extra = this.tokens[this.i];
    if (extra) throw new ExpressionError(`unexpected ${describe(extra)}`, extra.col);
    return expr;
  }

  private peek(): Token | undefined {
    return this.tokens[this.i];
  }

  private or(): Expression {
    const operands = [this.and()];
    for (let t = this.peek(); t?.kind === 'op' && t.op === '||'; t = this.peek()) {
      this.i++;
      operands.push(this.and());
    }
    return operands.length === 1 ? operands[0] : { type: 'or', operands };
  }

  private and(): Expression {
    const operands = [this.primary()];
    for (let t = this.peek(); t?.kind === 'op' && t.op === '&&'; t = this.peek()) {
      this.i++;
      operands.push(this.primary());
    }
    return operands.length === 1 ? operands[0] : { type: 'and', operands };
  }

  private primary(): Expression {
    const t = this.peek();
    if (!t) throw new ExpressionError('expression ends too early', this.length + 1);
    if (t.kind === '(') {
      if (++this.depth > MAX_NESTING) throw new ExpressionError(`parentheses nested more than ${MAX_NESTING} deep`, t.col);
      this.i++;
      const inner = this.or();
      this.depth--;
      const close = this.peek();
      if (close?.kind !== ')') {
        throw new ExpressionError(`missing ) for the ( at column ${t.col}`, close ? close.col : this.length + 1);
      }
      this.i++;
      return inner;
    }
    if (t.kind !== 'operand') throw new ExpressionError(`unexpected ${describe(t)}`, t.col);
    this.i++;
    const left = t.operand;
    const op = this.peek();
    if (op?.kind !== 'op' || op.op === '&&' || op.op === '||') {
      if (left.type === 'regex') throw new ExpressionError('a regular expression must follow =~ or !~', t.col);
      return { type: 'value', operand: left };
    }
    this.i++;
    const rightToken = this.peek();
    if (rightToken?.kind !== 'operand') {
      throw new ExpressionError(`expected a value after ${op.op}`, rightToken ? rightToken.col : this.length + 1);
    }
    this.i++;
    const right = rightToken.operand;
    if (left.type === 'regex') throw new ExpressionError('a regular expression must be on the right of =~ or !~', t.col);
    if (op.op === '=~' || op.op === '!~') return { type: 'match', op: op.op, left, right };
    if (right.type === 'regex') throw new ExpressionError(`use =~ to match a regular expression, not ${op.op}`, op.col);
    return { type: 'compare', op: op.op, left, right };
  }
}

function describe(t: Token): string {
  if (t.kind === 'op') return `operator ${t.op}`;
  if (t.kind === 'operand') return t.operand.type === 'var' ? `variable $${t.operand.name}` : t.operand.type;
  return `"${t.kind}"`;
}

const cache = new Map<string, Expression>();

/** Parses an expression; throws ExpressionError with the 1-based column of the problem. */
export function parseExpression(text: string): Expression {
  const hit = cache.get(text);
  if (hit) return hit;
  const expr = new Parser(tokenize(text), text.length).parse();
  if (cache.size > 1000) cache.clear();
  cache.set(text, expr);
  return expr;
}

function valueOf(operand: Operand, vars: Record<string, string>): string | null {
  switch (operand.type) {
    case 'var':
      return Object.hasOwn(vars, operand.name) ? vars[operand.name] : null;
    case 'string':
      return operand.value;
    case 'null':
      return null;
    case 'regex':
      return operand.regex.source;
  }
}

/**
 * GitLab's `=~` (lib/gitlab/ci/pipeline/expression/lexeme/matches.rb): a right side written or held
 * as `/pattern/flags` is a regular expression matched against the left; any other string matches
 * when the left is a substring of it (Ruby's `right.scan(left).present?`, so an empty left always
 * does); an undefined right side never matches.
 */
function matches(text: string, right: Operand, vars: Record<string, string>): boolean {
  if (right.type === 'regex') return right.regex.test(text);
  const value = valueOf(right, vars);
  if (value === null) return false;
  const regex = slashedRegex(value);
  return regex ? regex.test(text) : value.includes(text);
}

export function evaluate(expr: Expression, vars: Record<string, string>): boolean {
  switch (expr.type) {
    case 'or':
      return expr.operands.some((e) => evaluate(e, vars));
    case 'and':
      return expr.operands.every((e) => evaluate(e, vars));
    case 'value': {
      const v = valueOf(expr.operand, vars);
      return v !== null && v !== '';
    }
    case 'compare': {
      const equal = valueOf(expr.left, vars) === valueOf(expr.right, vars);
      return expr.op === '==' ? equal : !equal;
    }
    case 'match': {
      // GitLab matches an undefined variable as the empty string (`nil.to_s`).
      const matched = matches(valueOf(expr.left, vars) ?? '', expr.right, vars);
      return expr.op === '=~' ? matched : !matched;
    }
  }
}

/** Parses and evaluates `text` against `variables`; throws ExpressionError for bad syntax. */
export function evaluateExpression(text: string, variables: Record<string, string>): boolean {
  return evaluate(parseExpression(text), variables);
}
