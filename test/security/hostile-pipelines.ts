// Pipeline files that attacked the compiler (issue 14, items 5-7), shared by the tests that prove
// each is refused and by the test that measures the server's responsiveness while they arrive.

/** 351 bytes: 9 levels of 9 aliases, 9^9 scalars once expanded. */
export function aliasBomb(): string {
  const lines = ['.0: &0 [l,l,l,l,l,l,l,l,l]'];
  for (let i = 1; i < 9; i++)
    lines.push(
      `.${i}: &${i} [${Array(9)
        .fill(`*${i - 1}`)
        .join(',')}]`,
    );
  return `${lines.join('\n')}\nj:\n  script: *8\n`;
}

/** 1.1 KB: 9 levels of `!reference`, each naming the one below 5 times (2 million script lines). */
export function referenceBlowUp(): string {
  const name = (i: number): string => `.${'abcdefghij'[i]}`;
  const lines = [`${name(0)}: {s: [x,x,x,x,x]}`];
  for (let i = 1; i < 10; i++)
    lines.push(
      `${name(i)}: {s: [${Array(5)
        .fill(`!reference [${name(i - 1)},s]`)
        .join(',')}]}`,
    );
  return `${lines.join('\n')}\nj:\n  script: !reference [${name(9)},s]\n`;
}

/** 500 jobs of `parallel: 200`: 100,000 jobs from a 20 KB file. */
export const HUNDRED_THOUSAND_JOBS = Array.from({ length: 500 }, (_, i) => `j${i}:\n  script: [echo]\n  parallel: 200\n`).join('');

/** One job whose matrix makes 125,000 jobs. */
export const MATRIX_50_CUBED = `m:\n  script: [echo]\n  parallel:\n    matrix:\n      - A: [${Array.from({ length: 50 }, (_, i) => `a${i}`).join(', ')}]\n        B: [${Array.from({ length: 50 }, (_, i) => `b${i}`).join(', ')}]\n        C: [${Array.from({ length: 50 }, (_, i) => `c${i}`).join(', ')}]\n`;

/** `=~ /^(a+)+$/` against 50,000 a and a b: exponential in a backtracking engine. */
export const CATASTROPHIC_REGEX = `variables:\n  X: ${'a'.repeat(50_000)}b\nevil:\n  script: [echo]\n  rules:\n    - if: $X =~ /^(a+)+$/\nok:\n  script: [echo]\n`;

/** About 260,000 values from aliases: a second or so of compiling, under every limit but time. */
export const HEAVY = `.a: &a [${Array(8).fill('xxxxxxxx').join(',')}]\n${[1, 2, 3, 4, 5]
  .map(
    (i) =>
      `.${'abcdef'[i]}: &${'abcdef'[i]} [${Array(8)
        .fill(`*${'abcdef'[i - 1]}`)
        .join(',')}]`,
  )
  .join('\n')}\nj:\n  script: *f\n`;
