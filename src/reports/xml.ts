// Streaming XML for the reports jobs upload (JUnit, Cobertura). Reports come from pipeline files and
// the tools they run, so they are outside input: a report is read in chunks and never held whole,
// and it is cut off by size, element depth and parse time, with an error that names the file, the
// line and the column. saxes expands no entity a document declares, so "billion laughs" fails as an
// undefined entity instead of growing memory.
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import type { SaxesTagPlain } from 'saxes';
import { lazyRequire } from '../lazy-require.js';

// Loaded by the first report read: most jobs upload none.
const saxes = lazyRequire<typeof import('saxes')>('saxes');

export interface XmlLimits {
  /** Bytes of the document; GitLab caps a JUnit report file at 30 MB by default. */
  maxBytes: number;
  /** Elements open at once. */
  maxDepth: number;
  /** Wall time spent parsing, not counting waits for the next chunk. */
  maxParseMs: number;
}

export const DEFAULT_XML_LIMITS: XmlLimits = { maxBytes: 64 * 1024 * 1024, maxDepth: 64, maxParseMs: 10_000 };

/** What a report reader does with the document's elements and text, in document order. */
export interface XmlHandlers {
  open(tag: SaxesTagPlain, depth: number): void;
  close(tag: SaxesTagPlain, depth: number): void;
  /** Text and CDATA inside the innermost open element. */
  text?(text: string): void;
}

export class XmlReportError extends Error {
  constructor(
    readonly file: string,
    readonly line: number,
    readonly column: number,
    readonly reason: string,
  ) {
    super(`${file}:${line}:${column}: ${reason}`);
  }
}

/**
 * Thrown by a handler for well-formed XML that is not the report it reads (a JUnit file given as a
 * Cobertura report): readXml turns it into an XmlReportError at the parser's position.
 */
export class XmlContentError extends Error {}

/** Large reads are fed to the parser in slices of this size, so that one parse never holds the event loop long. */
const SLICE_CHARS = 256 * 1024;

/**
 * Parses `source` (a stream, or any iterable of chunks) as XML, calling `handlers` as it goes. Throws
 * XmlReportError, naming `file` and the position, for malformed XML and for documents past `limits`.
 */
export async function readXml(
  file: string,
  source: AsyncIterable<Uint8Array | string> | Iterable<Uint8Array | string>,
  handlers: XmlHandlers,
  limits: XmlLimits = DEFAULT_XML_LIMITS,
): Promise<void> {
  const parser = new (saxes().SaxesParser)<{ xmlns: false; position: true }>({ xmlns: false, position: true });
  let depth = 0;
  let failure: XmlReportError | undefined;
  const fail = (reason: string) => {
    failure ??= new XmlReportError(file, parser.line, parser.column, reason);
  };
  parser.on('error', (err) => fail(err.message.replace(/^(?:[^:]*:)?\d+:\d+: /, '')));
  // A handler refuses what is well-formed XML but no report of its kind (a wrong root element) by
  // throwing XmlContentError: the parse stops there, and the error names the position like any other.
  // Anything else a handler throws is a fault of Tandem's, not of the report, and goes up as it is.
  const handle = (call: () => void) => {
    try {
      call();
    } catch (err) {
      if (!(err instanceof XmlContentError)) throw err;
      fail(err.message);
    }
  };
  parser.on('opentag', (tag) => {
    depth += 1;
    if (depth > limits.maxDepth) return fail(`elements nested deeper than ${limits.maxDepth}`);
    handle(() => handlers.open(tag, depth));
  });
  parser.on('closetag', (tag) => {
    handle(() => handlers.close(tag, depth));
    depth -= 1;
  });
  if (handlers.text) {
    const onText = handlers.text.bind(handlers);
    parser.on('text', onText);
    parser.on('cdata', onText);
  }

  const decoder = new TextDecoder('utf-8', { fatal: false });
  let bytes = 0;
  let parseMs = 0;
  const feed = async (text: string) => {
    for (let at = 0; at < text.length && !failure; at += SLICE_CHARS) {
      const started = performance.now();
      parser.write(text.slice(at, at + SLICE_CHARS));
      parseMs += performance.now() - started;
      if (parseMs > limits.maxParseMs) fail(`took longer than ${limits.maxParseMs} ms to parse`);
      if (text.length > SLICE_CHARS) await yieldToEventLoop();
    }
  };
  for await (const chunk of source) {
    bytes += typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.byteLength;
    if (bytes > limits.maxBytes) fail(`larger than ${limits.maxBytes} bytes`);
    if (failure) break;
    await feed(typeof chunk === 'string' ? chunk : decoder.decode(chunk, { stream: true }));
    if (failure) break;
  }
  if (!failure) {
    await feed(decoder.decode());
    if (!failure) parser.close();
  }
  if (failure) throw failure;
}
