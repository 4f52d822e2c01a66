// JUnit XML, as the common tools write it: JUnit 5 and Maven Surefire, pytest's --junitxml,
// jest-junit, go-junit-report, rspec_junit_formatter. All share one shape (a `<testsuites>` or a bare
// `<testsuite>` root, suites nested or not, `<testcase name classname file time>` holding at most one
// `<failure>`, `<error>` or `<skipped>`); they differ in which attributes they fill. A report is read
// streaming (readXml) and its cases are handed out one by one, so a report of any size costs the
// memory of one case. Counts come from the cases themselves, never from a suite's `tests=` or
// `failures=` attributes, which a tool (or whoever wrote the file) may get wrong.
import type { SaxesTagPlain } from 'saxes';
import type { TestCaseStatus } from '../api/index.js';
import { DEFAULT_XML_LIMITS, readXml, XmlContentError, type XmlLimits } from './xml.js';

export interface JunitCase {
  /** The innermost enclosing `<testsuite name>`; '' when none has a name. */
  suite: string;
  name: string;
  /** '' when the tool writes none (go-junit-report writes the package, Jest the describe blocks). */
  classname: string;
  file: string | null;
  timeSeconds: number | null;
  status: TestCaseStatus;
  /** The failure's, error's or skip's `message`, else the first line of its text. */
  message: string | null;
  /** The text of `<failure>` or `<error>`: usually the assertion and stack trace. */
  trace: string | null;
}

export interface JunitLimits {
  xml: XmlLimits;
  /** Characters kept of a suite, class, case or file name. */
  maxNameChars: number;
  maxMessageChars: number;
  /** GitLab documents 64 KB of a failure's trace as kept. */
  maxTraceChars: number;
}

export const DEFAULT_JUNIT_LIMITS: JunitLimits = {
  xml: DEFAULT_XML_LIMITS,
  maxNameChars: 1000,
  maxMessageChars: 4096,
  maxTraceChars: 64 * 1024,
};

const TRUNCATED = '\n… (truncated)';

/** Status an element inside `<testcase>` gives it; the first one wins (Surefire's `<flakyFailure>` and `<rerunFailure>` give none). */
const STATUS_OF: Record<string, TestCaseStatus> = { failure: 'failed', error: 'error', skipped: 'skipped' };

function cap(text: string, max: number): string {
  return text.length <= max ? text : text.slice(0, max) + TRUNCATED;
}

function attr(tag: SaxesTagPlain, name: string): string | undefined {
  const value = tag.attributes[name];
  return typeof value === 'string' ? value : undefined;
}

/** Surefire writes times past a thousand seconds with a grouping comma ("1,234.5"). */
function seconds(value: string | undefined): number | null {
  if (value === undefined) return null;
  const n = Number(value.replace(/,/g, ''));
  return Number.isFinite(n) && n >= 0 ? n : null;
}

function firstLine(text: string): string | null {
  const line = text
    .split('\n')
    .map((l) => l.trim())
    .find((l) => l !== '');
  return line ?? null;
}

/**
 * Reads one JUnit report, calling `onCase` for each test case in document order. Throws
 * XmlReportError (file, line, column) for malformed XML, a document past the limits, or a root
 * element that is not `<testsuites>` or `<testsuite>`.
 */
export async function readJunit(
  file: string,
  source: AsyncIterable<Uint8Array | string> | Iterable<Uint8Array | string>,
  onCase: (testCase: JunitCase) => void,
  limits: JunitLimits = DEFAULT_JUNIT_LIMITS,
): Promise<void> {
  const suites: string[] = [];
  let current: (JunitCase & { depth: number }) | null = null;
  // The `<failure>` or `<error>` whose text is the case's trace, while it is open.
  let capture: { depth: number; parts: string[]; chars: number } | null = null;
  const name = (value: string | undefined) => cap(value ?? '', limits.maxNameChars);

  await readXml(
    file,
    source,
    {
      open(tag, depth) {
        if (depth === 1 && tag.name !== 'testsuites' && tag.name !== 'testsuite') {
          throw new XmlContentError(`<${tag.name}> is no JUnit report: expected <testsuites> or <testsuite> as the root element`);
        }
        if (tag.name === 'testsuite') {
          suites.push(attr(tag, 'name') ?? '');
        } else if (tag.name === 'testcase' && current === null) {
          const suite = suites.findLast((s) => s !== '') ?? '';
          const file = attr(tag, 'file');
          current = {
            depth,
            suite: name(suite),
            name: name(attr(tag, 'name')),
            classname: name(attr(tag, 'classname')),
            file: file === undefined || file === '' ? null : name(file),
            timeSeconds: seconds(attr(tag, 'time')),
            status: 'passed',
            message: null,
            trace: null,
          };
        } else if (current !== null && depth === current.depth + 1 && tag.name in STATUS_OF && current.status === 'passed') {
          current.status = STATUS_OF[tag.name]!;
          const message = attr(tag, 'message');
          if (message !== undefined && message !== '') current.message = cap(message, limits.maxMessageChars);
          capture = { depth, parts: [], chars: 0 };
        }
      },
      text(text) {
        if (capture === null || capture.chars > limits.maxTraceChars) return;
        capture.parts.push(text);
        capture.chars += text.length;
      },
      close(tag, depth) {
        if (capture !== null && depth === capture.depth) {
          const text = capture.parts.join('');
          capture = null;
          if (current !== null && text.trim() !== '') {
            if (current.status !== 'skipped') current.trace = cap(text, limits.maxTraceChars);
            if (current.message === null) {
              const line = firstLine(text);
              current.message = line === null ? null : cap(line, limits.maxMessageChars);
            }
          }
        } else if (current !== null && depth === current.depth && tag.name === 'testcase') {
          const { depth: _depth, ...testCase } = current;
          current = null;
          onCase(testCase);
        } else if (tag.name === 'testsuite') {
          suites.pop();
        }
      },
    },
    limits.xml,
  );
}
